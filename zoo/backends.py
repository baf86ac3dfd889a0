"""Which Keras backend runs, which others are installed, and the features that need one.

Keras picks its backend once, when it is imported (``KERAS_BACKEND``, default
``tensorflow``). Every entry builds, predicts, saves and loads on all three; a few
features are written against TensorFlow's own APIs and say so elsewhere.
"""

from __future__ import annotations

import importlib.util

from zoo.registry import BACKENDS


def active() -> str:
    """The backend this process runs."""
    import keras

    return keras.backend.backend()


def installed() -> list[str]:
    """The backends whose framework is importable here."""
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def require_tensorflow(feature: str, instead: str = "") -> None:
    """Raise a clear error when ``feature`` (written with TensorFlow's APIs) is asked for
    under another backend; ``instead`` names what to use there, when something exists."""
    backend = active()
    if backend == "tensorflow":
        return
    from zoo.errors import InvalidArgumentError

    hint = f" {instead}" if instead else ""
    raise InvalidArgumentError(
        f"{feature} needs the TensorFlow backend; this process runs {backend}. Run it with "
        f"KERAS_BACKEND=tensorflow (a .keras file saved under {backend} loads there).{hint}"
    )
