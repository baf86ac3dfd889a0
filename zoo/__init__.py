"""zoo: compiled, trainable Keras 3 models for the deep-learning curriculum.

>>> import zoo
>>> model = zoo.build("mnist_mlp")          # compiled, ready to fit
>>> zoo.list_models("*cnn*")
>>> zoo.info("mnist_mlp")["defaults"]
"""

from zoo.runtime import configure as _configure

_configure()  # before anything imports TensorFlow: oneDNN kernels, a quiet log

from zoo import data, distribute, tasks  # noqa: E402
from zoo.errors import (  # noqa: E402
    DataFormatError,
    DatasetUnavailableError,
    InvalidArgumentError,
    ShapeMismatchError,
    UnknownDatasetError,
    UnknownModelError,
    WeightsUnavailableError,
    ZooError,
)
from zoo.exporting import ExportError, ParityError, export  # noqa: E402
from zoo.registry import (  # noqa: E402
    build,
    compile_model,
    get_entry,
    info,
    list_models,
    register,
)
from zoo.tuning import hypermodel, tune  # noqa: E402

__version__ = "0.1.0"


def serve(models: str | list[str], **options) -> None:
    """Serve exported models as ``zoo serve`` does, until SIGTERM or Ctrl-C.

    ``models``: names (``saved_models/NAME/``) or export folders; ``options``: the
    fields of :class:`zoo.serving.ServeOptions` (``rest_port=8501``, ``grpc_port``,
    ``host``, ``max_batch_size``, ``batch_timeout_ms``, ``poll_seconds``, ...).
    """
    import dataclasses

    from zoo.serving import ServeOptions
    from zoo.serving import serve as _serve

    known = {f.name for f in dataclasses.fields(ServeOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidArgumentError(
            f"unknown serve option(s) {unknown}; choose from {sorted(known)}"
        )
    _serve([models] if isinstance(models, str) else list(models), ServeOptions(**options))


__all__ = [
    "DataFormatError",
    "DatasetUnavailableError",
    "InvalidArgumentError",
    "ShapeMismatchError",
    "UnknownDatasetError",
    "UnknownModelError",
    "WeightsUnavailableError",
    "ExportError",
    "ParityError",
    "ZooError",
    "build",
    "compile_model",
    "data",
    "distribute",
    "export",
    "get_entry",
    "hypermodel",
    "info",
    "list_models",
    "register",
    "serve",
    "tasks",
    "tune",
]
