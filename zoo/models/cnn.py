"""Convolutional networks of the tutorial: MNIST and the CIFAR-10 three-block CNN."""

from __future__ import annotations

import keras

from zoo.models._blocks import (
    Activation,
    check_positive,
    check_range,
    classifier_head,
    dense_block,
    regularizer,
)
from zoo.models._layers import BatchNormalization
from zoo.registry import register

_CNN_SPACE = {
    "filters": {"choice": [[32, 64], [32, 64, 128], [16, 32, 64]]},
    "dense_units": {"choice": [64, 128, 256]},
    "dropout": {"float": [0.1, 0.5], "step": 0.1},
    "learning_rate": {"float": [1e-4, 3e-3], "sampling": "log"},
}


def conv_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    convs: int,
    activation: str,
    batch_norm: bool,
    dropout: float,
    reg: keras.regularizers.Regularizer | None,
    name: str,
) -> keras.KerasTensor:
    """``convs`` x (Conv 3x3 -> (BN) -> activation), then 2x2 max-pool and dropout."""
    for i in range(1, convs + 1):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=not batch_norm,
            kernel_regularizer=reg,
            name=f"{name}_conv{i}",
        )(x)
        if batch_norm:
            x = BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.Activation(activation, name=f"{name}_act{i}")(x)
    x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _cnn(
    name: str,
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    filters: tuple[int, ...],
    convs_per_block: int,
    dense_units: int,
    activation: str,
    batch_norm: bool,
    block_dropout: float,
    dropout: float,
    l1: float,
    l2: float,
) -> keras.Model:
    check_positive("input_shape", input_shape)
    check_positive("filters", filters)
    check_positive("convs_per_block", convs_per_block)
    check_range("dropout", dropout, 0.0, 1.0)
    check_range("block_dropout", block_dropout, 0.0, 1.0)
    if len(input_shape) != 3:
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"{name} takes images: input_shape must be (height, width, channels), "
            f"got {input_shape}."
        )
    smallest = min(input_shape[:2])
    if smallest < 2 ** len(filters):
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"{name}: {len(filters)} pooling blocks need images of at least "
            f"{2 ** len(filters)} pixels per side, got {input_shape}. Use fewer filters "
            "entries or larger images."
        )
    reg = regularizer(l1, l2)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = conv_block(
            x,
            f,
            convs=convs_per_block,
            activation=activation,
            batch_norm=batch_norm,
            dropout=block_dropout,
            reg=reg,
            name=f"block{i}",
        )
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_block(
        x,
        dense_units,
        activation=activation,
        dropout=dropout,
        batch_norm=batch_norm,
        reg=reg,
        name="fc",
    )
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)


@register(
    "mnist_cnn",
    task="classification",
    summary="A small CNN for 28x28 digits: two conv blocks, a dense layer, softmax.",
    section="Convolutional networks: CNN on MNIST",
    preprocessing="grayscale pixels scaled to [0, 1] (0-255 values divided by 255)",
    dataset="mnist_5k",
    epochs=15,
    batch_size=64,
    tags=("cnn", "mnist"),
    exports=("saved_model", "tflite", "onnx"),
    search_space=_CNN_SPACE,
)
def mnist_cnn(
    *,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (28, 28, 1),
    filters: tuple[int, ...] = (32, 64),
    convs_per_block: int = 1,
    dense_units: int = 128,
    activation: Activation = "relu",
    batch_norm: bool = False,
    block_dropout: float = 0.0,
    dropout: float = 0.5,
    l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """Conv 3x3 + max-pool per entry of ``filters``, then Dense and softmax."""
    return _cnn("mnist_cnn", **locals())


@register(
    "cifar10_cnn",
    task="classification",
    summary="The tutorial's CIFAR-10 CNN: three conv blocks (32/64/128) with batch norm.",
    section="Convolutional networks: CNN with batch normalization on CIFAR-10",
    preprocessing="RGB pixels scaled to [0, 1] (0-255 values divided by 255)",
    dataset="cifar10",
    epochs=30,
    batch_size=64,
    tags=("cnn", "cifar10", "batch_norm"),
    exports=("saved_model", "tflite", "onnx"),
    search_space=_CNN_SPACE,
)
def cifar10_cnn(
    *,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (32, 32, 3),
    filters: tuple[int, ...] = (32, 64, 128),
    convs_per_block: int = 2,
    dense_units: int = 128,
    activation: Activation = "relu",
    batch_norm: bool = True,
    block_dropout: float = 0.25,
    dropout: float = 0.5,
    l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """Blocks of two Conv-BN-ReLU, max-pool and dropout; then Dense-BN-ReLU-dropout."""
    return _cnn("cifar10_cnn", **locals())
