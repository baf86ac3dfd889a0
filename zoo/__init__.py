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
    "tasks",
    "tune",
]
