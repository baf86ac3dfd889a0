"""Custom layers shared by model families (serializable, keras.ops only)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def output_dtype() -> str:
    """The dtype of output layers: float32, so that softmax and sigmoid stay stable under a
    mixed-precision policy, unless the whole model is float64 (``zoo check``'s gradient
    check rebuilds it so, and a float32 head would round its finite differences)."""
    return "float64" if keras.config.dtype_policy().compute_dtype == "float64" else "float32"


_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR ImageNet means
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="zoo")
class ImagePreprocess(keras.layers.Layer):
    """keras.applications' ``preprocess_input`` as a layer, so models take raw 0-255 pixels.

    Modes follow ``keras.applications.imagenet_utils``: ``caffe`` (RGB to BGR,
    minus the ImageNet means), ``tf`` (scale to [-1, 1]), ``torch`` (scale to
    [0, 1], then ImageNet mean and std), ``none`` (the backbone rescales itself).
    """

    MODES = ("caffe", "tf", "torch", "none")

    def __init__(self, mode: str = "tf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD, self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class KeywordConfig:
    """A model rebuilt from the keywords it was built with (``self.config``)."""

    def get_config(self) -> dict[str, Any]:
        return {**self.config, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)
