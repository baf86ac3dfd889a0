"""Values for the JSON reports the zoo writes (metrics.json, export.json, best.json)."""

from __future__ import annotations

from typing import Any


def jsonable(v: Any) -> Any:
    """Tuples (builder keywords such as ``input_shape``) as lists, recursively."""
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


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
