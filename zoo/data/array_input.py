"""Keras' input pipeline for arrays, run without tf.data's autotuning for the zoo's models.

``model.fit(x, y)`` on NumPy arrays (the tutorials' way) builds Keras' own ``tf.data``
pipeline, autotuned. On TensorFlow's CPU that made many epochs run at half speed, both
cores taking turns instead of working together (``cifar10_cnn``, 2 cores, batch 64: 12 of
30 epochs took 2.49-2.55 s instead of 1.40-1.43 s; none of 30 with autotuning off).
The zoo's own pipelines leave autotuning off for the same reason
(:func:`zoo.data.core.steady_options`, where ``ZOO_DATA_AUTOTUNE=1`` turns it back on).

:func:`steady_array_input` gives a model's ``fit``, ``evaluate`` and ``predict`` those
options for the arrays they get, on the instance: the data and its order are Keras'
own, only the threads that feed it change. Other models, and input that is already a
``tf.data.Dataset`` or a generator, are left as they are.
"""

from __future__ import annotations

import contextvars
import functools
import types
from typing import Any

import keras

#: The model methods that turn array input into Keras' pipeline.
METHODS = ("fit", "evaluate", "predict")
#: Set on a model whose methods :func:`steady_array_input` wrapped.
_MARK = "_zoo_steady_array_input"
#: Set on the Keras method this module wraps, so it is wrapped once.
_HOOK = "_zoo_steady_options"
#: True while a wrapped method runs: Keras' array pipelines made then get the options.
_STEADY = contextvars.ContextVar("zoo_steady_array_input", default=False)


def steady_array_input(model: Any) -> Any:
    """``model`` whose ``fit``, ``evaluate`` and ``predict`` feed arrays through Keras'
    pipeline with :func:`zoo.data.core.steady_options` (TensorFlow only)."""
    if keras.backend.backend() != "tensorflow" or has_steady_array_input(model):
        return model
    if not _hook_array_pipeline():
        return model
    for name in METHODS:
        setattr(model, name, _steadily(getattr(model, name)))
    setattr(model, _MARK, True)
    return model


def has_steady_array_input(model: Any) -> bool:
    """Whether :func:`steady_array_input` wrapped ``model``'s methods."""
    return bool(getattr(model, _MARK, False))


def _steadily(method: Any) -> Any:
    """``method`` (bound to a model) with the zoo's options for the array pipelines it
    makes; bound again as a method, so a deep copy of the model calls its own."""
    keras_method = method.__func__

    @functools.wraps(keras_method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _STEADY.set(True)
        try:
            return keras_method(self, *args, **kwargs)
        finally:
            _STEADY.reset(token)

    return types.MethodType(run, method.__self__)


def _hook_array_pipeline() -> bool:
    """Wrap Keras' array pipeline once, so that inside a wrapped method it gets the zoo's
    options; False when this Keras version has no such pipeline to wrap."""
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return False
    keras_pipeline = getattr(ArrayDataAdapter, "get_tf_dataset", None)
    if keras_pipeline is None:
        return False
    if getattr(keras_pipeline, _HOOK, False):
        return True

    @functools.wraps(keras_pipeline)
    def get_tf_dataset(self: Any) -> Any:
        dataset = keras_pipeline(self)
        if not _STEADY.get():
            return dataset
        from zoo.data.core import steady_options

        return dataset.with_options(steady_options())

    setattr(get_tf_dataset, _HOOK, True)
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset
    return True
