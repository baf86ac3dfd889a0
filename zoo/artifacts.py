"""Writing artifacts: atomic files and JSON-ready values, shared by every writer."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file in the same folder, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(v: Any) -> Any:
    """Tuples (builder keywords such as ``input_shape``) as lists, recursively."""
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def trained_model_path(name_or_path: str | os.PathLike) -> Path:
    """``saved_models/NAME/model.keras`` for a registered name, else the ``.keras`` path given."""
    from zoo.errors import InvalidArgumentError

    path = Path(name_or_path)
    if path.suffix == ".keras":
        if not path.is_file():
            raise InvalidArgumentError(f"No model file at {str(path)!r}.")
        return path
    from zoo.registry import get_entry

    get_entry(str(name_or_path))  # an unknown name fails here with suggestions
    path = Path("saved_models") / str(name_or_path) / "model.keras"
    if not path.is_file():
        raise InvalidArgumentError(
            f"No trained model at {path}: run `zoo train {name_or_path}` first, "
            "or pass the path of a .keras file."
        )
    return path


def load_trained(name_or_path: str | os.PathLike) -> tuple[Any, dict[str, Any], Path]:
    """A trained model (registered name or ``.keras`` file), the training report beside it
    (``metrics.json``, or ``{}``) and the file it came from."""
    import keras

    import zoo.models  # noqa: F401  - registers the zoo's custom layers for loading

    path = trained_model_path(name_or_path)
    model = keras.saving.load_model(path, safe_mode=True)
    report_path = path.with_name("metrics.json")
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return model, report, path


def library_versions(*packages: str) -> dict[str, str]:
    """zoo, keras, TensorFlow and the backend, plus any installed ``packages``, for reports."""
    from importlib.metadata import PackageNotFoundError, version

    import keras
    import tensorflow as tf

    import zoo

    out = {
        "zoo": zoo.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
    }
    for package in packages:
        try:
            out[package] = version(package.replace("_", "-"))
        except PackageNotFoundError:
            pass
    return out
