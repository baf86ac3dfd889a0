"""The registry's contract: validation, compile defaults and overrides, lookup, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.errors import InvalidArgumentError, UnknownModelError, ZooError


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownModelError) as exc:
        zoo.build("mnist_mpl")
    assert "'mnist_mlp'" in str(exc.value)
    assert isinstance(exc.value, ZooError)


def test_unknown_name_without_close_match_points_to_list():
    with pytest.raises(UnknownModelError, match="zoo list"):
        zoo.info("qqqqqqqq")


def test_misspelled_keyword_names_the_right_one_and_lists_valid():
    with pytest.raises(InvalidArgumentError) as exc:
        zoo.build("mnist_mlp", dropuot=0.3)
    msg = str(exc.value)
    assert "Did you mean 'dropout'" in msg
    assert "dropout=0.2" in msg and "num_classes=10" in msg and "learning_rate" in msg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dropout": "high"},
        {"units": "128"},
        {"num_classes": 2.5},
        {"batch_norm": 1},
        {"activation": "softplusplus"},
        {"input_shape": 784},
    ],
)
def test_ill_typed_keyword_is_rejected_with_default(kwargs):
    (key,) = kwargs
    with pytest.raises(InvalidArgumentError) as exc:
        zoo.build("mnist_mlp", **kwargs)
    assert repr(key) in str(exc.value) and "Default:" in str(exc.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"dropout": 1.5}, "dropout"),
        ({"units": (128, 0)}, "units"),
        ({"num_classes": 1}, "num_classes"),
        ({"l2": -0.1}, "l2"),
    ],
)
def test_out_of_range_values_are_clear_errors(kwargs, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        zoo.build("mnist_mlp", **kwargs)


def test_lists_are_accepted_for_tuples_and_ints_for_floats():
    model = zoo.build("mnist_mlp", units=[32], input_shape=[64], dropout=0)
    assert model.input_shape == (None, 64)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [32, 10]


def test_mnist_mlp_is_the_tutorial_network():
    model = zoo.build("mnist_mlp")
    assert model.input_shape == (None, 784)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    summary = [
        (
            type(layer).__name__,
            getattr(layer, "units", None) or getattr(layer, "rate", None),
            getattr(getattr(layer, "activation", None), "__name__", None),
        )
        for layer in layers
    ]
    assert summary == [
        ("Dense", 128, "relu"),
        ("Dropout", 0.2, None),
        ("Dense", 64, "relu"),
        ("Dropout", 0.2, None),
        ("Dense", 10, "softmax"),
    ]


def test_cifar10_cnn_has_three_blocks_with_batch_norm():
    model = zoo.build("cifar10_cnn")
    assert model.input_shape == (None, 32, 32, 3)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(pools) == 3 and [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert len(bns) == 7  # two per block and one in the dense head
    no_bn = zoo.build("cifar10_cnn", batch_norm=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in no_bn.layers)


def test_cnn_rejects_images_too_small_for_its_blocks():
    with pytest.raises(InvalidArgumentError, match="at least 8 pixels"):
        zoo.build("cifar10_cnn", input_shape=(4, 4, 3))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_activations(activation):
    model = zoo.build("mnist_mlp", activation=activation)
    hidden = model.get_layer("hidden1_dense")
    assert hidden.activation.__name__ == activation


def test_l1_l2_and_batch_norm_switches():
    plain = zoo.build("mnist_mlp")
    reg = zoo.build("mnist_mlp", l1=1e-4, l2=1e-3, batch_norm=True)
    assert not plain.losses
    x = np.ones((2, 784), "float32")
    reg(x)
    assert len(reg.losses) == 2  # one penalty per hidden Dense kernel
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in reg.layers)


def test_task_compile_defaults():
    clf = zoo.build("mnist_mlp")
    assert isinstance(clf.optimizer, keras.optimizers.Adam)
    assert clf.loss == "sparse_categorical_crossentropy"
    binary = zoo.build("perceptron")
    assert binary.loss == "binary_crossentropy"
    reg = zoo.build("mlp_regressor")
    assert reg.loss == "mse"
    x = np.zeros((4, 10), "float32")
    logs = reg.evaluate(x, np.ones((4, 1), "float32"), verbose=0, return_dict=True)
    assert {"mae", "rmse"} <= set(logs)
    clf_logs = clf.evaluate(np.zeros((4, 784)), np.zeros(4), verbose=0, return_dict=True)
    assert "accuracy" in clf_logs


def test_compile_overrides():
    model = zoo.build(
        "mnist_mlp",
        optimizer="sgd",
        learning_rate=0.05,
        clipnorm=1.0,
        weight_decay=1e-4,
        loss="categorical_crossentropy",
        metrics=["mae"],
    )
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.optimizer.clipnorm == 1.0
    assert model.optimizer.weight_decay == pytest.approx(1e-4)
    assert model.loss == "categorical_crossentropy"
    opt = keras.optimizers.RMSprop(learning_rate=3e-4)
    assert zoo.build("mnist_mlp", optimizer=opt).optimizer is opt
    clip = zoo.build("mnist_mlp", clipvalue=0.5)
    assert clip.optimizer.clipvalue == 0.5


def test_conflicting_or_unknown_optimizer_options():
    with pytest.raises(InvalidArgumentError, match="instance"):
        zoo.build("mnist_mlp", optimizer=keras.optimizers.Adam(), learning_rate=0.1)
    with pytest.raises(InvalidArgumentError, match="Unknown optimizer"):
        zoo.build("mnist_mlp", optimizer="adamm")


def test_compile_false_returns_bare_model():
    model = zoo.build("mnist_mlp", compile=False)
    assert not model.compiled
    with pytest.raises(InvalidArgumentError, match="compile=False"):
        zoo.build("mnist_mlp", compile=False, learning_rate=0.1)


def test_builds_inside_strategy_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = zoo.build("mnist_mlp", strategy=strategy)
    assert model.distribute_strategy is strategy
    assert model.optimizer.iterations is not None
    with pytest.raises(InvalidArgumentError, match="strategy"):
        zoo.build("mnist_mlp", strategy=42)


def test_list_models_filters():
    assert zoo.list_models("*cnn*") == ["cifar10_cnn", "mnist_cnn"]
    assert zoo.list_models(task="regression") == ["lstm_forecaster", "mlp_regressor"]
    assert "perceptron" in zoo.list_models(tag="basics")
    assert zoo.list_models("nothing*") == []


def test_card_is_derived_from_signature():
    card = zoo.info("mnist_mlp")
    assert card["defaults"]["dropout"] == 0.2
    assert card["input"]["shape"] == [None, 784]
    assert card["output"]["shape"] == [None, 10]
    assert card["recipe"]["dataset"] == "mnist_5k"
    assert card["compile"]["loss"] == "sparse_categorical_crossentropy"


def test_register_rejects_bad_builders():
    with pytest.raises(InvalidArgumentError, match="already registered"):
        zoo.register(
            "mnist_mlp", task="classification", summary="x", section="x", dataset="mnist_5k"
        )(lambda **kw: None)

    def positional(units=3):
        return None

    with pytest.raises(InvalidArgumentError, match="keyword"):
        zoo.register(
            "test_positional", task="classification", summary="x", section="x", dataset="mnist_5k"
        )(positional)

    def clashing(*, learning_rate: float = 0.1):
        return None

    with pytest.raises(InvalidArgumentError, match="compile keyword"):
        zoo.register(
            "test_clash", task="classification", summary="x", section="x", dataset="mnist_5k"
        )(clashing)
    assert "test_positional" not in zoo.list_models()


def test_wrong_input_shape_is_a_clear_error():
    model = zoo.build("mnist_mlp")
    with pytest.raises(ValueError, match="784|shape"):
        model.predict(np.zeros((2, 100), "float32"), verbose=0)


def test_card_names_compile_metrics():
    assert zoo.info("mnist_mlp")["compile"]["metrics"] == ["accuracy"]
    assert zoo.info("mlp_regressor")["compile"]["metrics"] == ["mae", "rmse"]
