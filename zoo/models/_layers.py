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


#: Input dtypes TensorFlow's fused batch norm takes; Keras computes batch norm in float32 for
#: all three, and so does the fused kernel. float64 (the gradient check's rebuild) is Keras'.
_FUSABLE_DTYPES = ("float32", "float16", "bfloat16")


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' batch norm, trained through TensorFlow's fused kernel where it can be.

    Keras 3 normalizes with separate moment and element-wise ops on every backend; on
    TensorFlow one ``FusedBatchNormV3`` (oneDNN on the CPU) does the forward pass and one
    more op its gradient, which trains ``cifar10_cnn`` markedly faster (benchmarks/README.md).
    Weights, moving statistics (Keras' biased batch variance) and inference are Keras' own,
    so a saved model loads and exports the same on every backend. Anything the kernel does
    not cover (other backends, masks, renorm, synchronized, float64, a channels-first axis)
    takes Keras' path; ``ZOO_FUSED_BATCH_NORM=0`` sends everything there.
    """

    def call(self, inputs, training=None, mask=None):
        if self._fusable(inputs, training, mask):
            return self._fused_training_call(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _fusable(self, inputs: Any, training: Any, mask: Any) -> bool:
        from zoo.runtime import fused_batch_norm

        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and fused_batch_norm()
            and training is True
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and rank in (2, 4)
            and self.axis % rank == rank - 1
            and keras.backend.standardize_dtype(inputs.dtype) in _FUSABLE_DTYPES
        )

    def _fused_training_call(self, inputs: Any) -> Any:
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        flat = len(inputs.shape) == 2
        if flat:  # (batch, features) as (batch, 1, 1, features): the kernel takes NHWC
            x = x[:, None, None, :]
        ones = tf.ones_like(self.moving_mean)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=self.gamma if self.scale else ones,
            offset=self.beta if self.center else tf.zeros_like(ones),
            mean=tf.zeros([0]),
            variance=tf.zeros([0]),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        # the kernel returns the unbiased batch variance; Keras' moving variance averages
        # the biased one
        n = tf.cast(tf.size(x) // tf.shape(x)[-1], "float32")
        variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        if flat:
            y = y[:, 0, 0, :]
        return ops.cast(y, self.compute_dtype)


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
