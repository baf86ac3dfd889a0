"""zoo: compiled, trainable Keras 3 models for the deep-learning curriculum.

>>> import zoo
>>> model = zoo.build("mnist_mlp")          # compiled, ready to fit
>>> zoo.list_models("*cnn*")
>>> zoo.info("mnist_mlp")["defaults"]
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ banner out of user output

from zoo import data, distribute  # noqa: E402
from zoo.errors import (
    DataFormatError,
    DatasetUnavailableError,
    InvalidArgumentError,
    ShapeMismatchError,
    UnknownDatasetError,
    UnknownModelError,
    WeightsUnavailableError,
    ZooError,
)
from zoo.exporting import ExportError, ParityError, export
from zoo.registry import build, compile_model, get_entry, info, list_models, register
from zoo.tuning import hypermodel, tune

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
    "tune",
]
