"""Writing artifacts: atomic files and JSON-ready values, shared by every writer."""

from __future__ import annotations

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
