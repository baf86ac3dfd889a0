"""Datasets as ``tf.data`` pipelines: embedded, downloadable, or the user's own files.

>>> train, val, test = zoo.data.load("mnist_5k", batch_size=64, input_shape=(784,))
"""

from zoo.data.core import (
    DatasetInfo,
    RawSplits,
    Splits,
    list_datasets,
    load,
    load_raw,
    pipeline,
    register_dataset,
)

__all__ = [
    "DatasetInfo",
    "RawSplits",
    "Splits",
    "list_datasets",
    "load",
    "load_raw",
    "pipeline",
    "register_dataset",
]
