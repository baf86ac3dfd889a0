"""Small pieces every family shares: activations, regularizers, value checks.

Only ``keras`` and ``keras.ops`` are used here, so builders stay
backend-agnostic.
"""

from __future__ import annotations

from typing import Any, Literal

import keras

from zoo.errors import InvalidArgumentError
from zoo.models._layers import BatchNormalization, output_dtype

Activation = Literal["relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "selu", "swish"]


def regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    """An L1/L2 weight penalty, or None when both are zero."""
    check_range("l1", l1, 0.0, None)
    check_range("l2", l2, 0.0, None)
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
    """Raise a readable error when ``value`` is outside ``[lo, hi)``."""
    if (lo is not None and value < lo) or (hi is not None and value >= hi):
        upper = f"below {hi}" if hi is not None else "or more"
        raise InvalidArgumentError(f"{name} must be {lo} {upper}, got {value}.")


def check_positive(name: str, values: Any) -> None:
    """Every entry of an int or tuple of ints must be >= 1."""
    seq = values if isinstance(values, (tuple, list)) else (values,)
    if not seq or any(int(v) < 1 for v in seq):
        raise InvalidArgumentError(f"{name} must be positive integers, got {values!r}.")


def check_heads(width: int, num_heads: int) -> None:
    """Multi-head attention splits ``width`` evenly across its heads."""
    check_positive("num_heads", num_heads)
    if width % num_heads:
        raise InvalidArgumentError(
            f"embedding_dim ({width}) must be a multiple of num_heads ({num_heads})"
        )


def dense_block(
    x: Any,
    units: int,
    *,
    activation: str,
    dropout: float,
    batch_norm: bool,
    reg: keras.regularizers.Regularizer | None,
    name: str,
) -> Any:
    """Dense -> (BatchNorm) -> activation -> (Dropout): the MLP's unit of depth."""
    x = keras.layers.Dense(
        units,
        activation=None if batch_norm else activation,
        kernel_regularizer=reg,
        name=f"{name}_dense",
    )(x)
    if batch_norm:
        x = BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def classifier_head(x: Any, num_classes: int, *, name: str = "predictions") -> Any:
    """Softmax over ``num_classes``, kept in float32 under mixed precision."""
    check_positive("num_classes", num_classes)
    if num_classes < 2:
        raise InvalidArgumentError(
            f"num_classes must be at least 2 for a softmax classifier, got {num_classes}."
        )
    return keras.layers.Dense(num_classes, activation="softmax", dtype=output_dtype(), name=name)(x)
