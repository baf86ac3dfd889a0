"""The tutorial's first models: a perceptron and multi-layer perceptrons."""

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
from zoo.models._layers import output_dtype
from zoo.registry import register

_MLP_SPACE = {
    "units": {"choice": [[128, 64], [256, 128], [512, 256, 128], [64]]},
    "dropout": {"float": [0.0, 0.5], "step": 0.1},
    "activation": {"choice": ["relu", "tanh", "leaky_relu"]},
    "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"},
}


@register(
    "perceptron",
    task="binary",
    summary="A single neuron with a sigmoid: the perceptron, trained as logistic regression.",
    section="Neural network basics: the perceptron",
    preprocessing="raw numeric features (zoo train puts their normalization inside the model)",
    dataset="breast_cancer",
    epochs=30,
    batch_size=32,
    tags=("mlp", "basics"),
    exports=("saved_model", "tflite", "onnx"),
    search_space={
        "l2": {"float": [0.0, 0.01], "step": 0.001},
        "learning_rate": {"float": [1e-3, 1e-1], "sampling": "log"},
    },
)
def perceptron(
    *,
    input_shape: tuple[int, ...] = (30,),
    activation: Activation = "sigmoid",
    l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """One Dense unit: the smallest model that still learns a linear boundary."""
    check_positive("input_shape", input_shape)
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    outputs = keras.layers.Dense(
        1,
        activation=activation,
        kernel_regularizer=regularizer(l1, l2),
        dtype=output_dtype(),
        name="neuron",
    )(x)
    return keras.Model(inputs, outputs, name="perceptron")


def _checked(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    check_positive("input_shape", input_shape)
    return input_shape


def _mlp_body(
    inputs: keras.KerasTensor,
    *,
    units: tuple[int, ...],
    activation: str,
    dropout: float,
    batch_norm: bool,
    l1: float,
    l2: float,
) -> keras.KerasTensor:
    check_positive("units", units)
    check_range("dropout", dropout, 0.0, 1.0)
    reg = regularizer(l1, l2)
    x = keras.layers.Flatten()(inputs) if len(inputs.shape) > 2 else inputs
    for i, width in enumerate(units, start=1):
        x = dense_block(
            x,
            width,
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            reg=reg,
            name=f"hidden{i}",
        )
    return x


@register(
    "mnist_mlp",
    task="classification",
    summary="The tutorial's MNIST MLP: 784 -> Dense 128 -> Dropout -> Dense 64 -> Dropout -> 10.",
    section="Neural network basics: multi-layer perceptron on MNIST",
    preprocessing="grayscale pixels scaled to [0, 1] (0-255 values divided by 255), flattened",
    dataset="mnist_5k",
    epochs=30,
    batch_size=32,
    tags=("mlp", "basics", "mnist"),
    exports=("saved_model", "tflite", "onnx"),
    search_space=_MLP_SPACE,
)
def mnist_mlp(
    *,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (784,),
    units: tuple[int, ...] = (128, 64),
    activation: Activation = "relu",
    dropout: float = 0.2,
    batch_norm: bool = False,
    l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """Dense blocks then softmax; ``units`` sets depth and widths."""
    body = {k: v for k, v in locals().items() if k not in ("num_classes", "input_shape")}
    inputs = keras.Input(shape=_checked(input_shape), name="pixels")
    x = _mlp_body(inputs, **body)
    return keras.Model(inputs, classifier_head(x, num_classes), name="mnist_mlp")


@register(
    "mlp_regressor",
    task="regression",
    summary="An MLP for tabular regression, trained with mean squared error.",
    section="Neural network basics: regression with an MLP",
    preprocessing="raw numeric features (zoo train puts their normalization inside the model)",
    dataset="diabetes",
    epochs=100,
    batch_size=32,
    tags=("mlp", "basics", "tabular"),
    exports=("saved_model", "tflite", "onnx"),
    search_space={**_MLP_SPACE, "units": {"choice": [[64, 32], [128, 64], [32], [128, 64, 32]]}},
)
def mlp_regressor(
    *,
    input_shape: tuple[int, ...] = (10,),
    num_outputs: int = 1,
    units: tuple[int, ...] = (64, 32),
    activation: Activation = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """Dense blocks then a linear output of ``num_outputs`` values."""
    check_positive("num_outputs", num_outputs)
    body = {k: v for k, v in locals().items() if k not in ("num_outputs", "input_shape")}
    inputs = keras.Input(shape=_checked(input_shape), name="features")
    x = _mlp_body(inputs, **body)
    outputs = keras.layers.Dense(num_outputs, dtype=output_dtype(), name="prediction")(x)
    return keras.Model(inputs, outputs, name="mlp_regressor")
