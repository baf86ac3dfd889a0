"""Datasets as ``tf.data`` pipelines: embedded, downloadable, or the user's own files.

>>> train, val, test = zoo.data.load("mnist_5k", batch_size=64, input_shape=(784,))
"""

from zoo.data.core import (
    DatasetInfo,
    RawSplits,
    Splits,
    dataset_kind,
    list_datasets,
    load,
    load_raw,
    pipeline,
    register_dataset,
)
from zoo.data.fit import build_for_data, loader_options, model_keywords, with_normalization

__all__ = [
    "build_for_data",
    "DatasetInfo",
    "RawSplits",
    "Splits",
    "dataset_kind",
    "list_datasets",
    "load",
    "load_raw",
    "loader_options",
    "model_keywords",
    "with_normalization",
    "pipeline",
    "register_dataset",
]
