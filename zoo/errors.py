"""One error family, so callers can catch ``ZooError`` and show its message as-is.

Every message says what went wrong *and* what to do about it.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class UnknownModelError(ZooError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(ZooError, ValueError):
    """An unknown, ill-typed or out-of-range keyword."""


class UnknownDatasetError(ZooError, KeyError):
    """A dataset name that is neither registered nor an existing path."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetUnavailableError(ZooError, RuntimeError):
    """A dataset that needs a download, with no local copy and no network."""


class DataFormatError(ZooError, ValueError):
    """A user file that cannot be read: names the file, row and problem."""


class ShapeMismatchError(ZooError, ValueError):
    """Data whose shape does not fit the model's input."""


class WeightsUnavailableError(ZooError, RuntimeError):
    """Pretrained weights that are neither cached nor downloadable right now."""
