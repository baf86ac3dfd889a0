"""zoo check: the float64 gradient check (registry-wide, and failing on a planted wrong
gradient), overfit-one-batch and the data checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import build_small, sample_inputs

import zoo
from recipes.check import data_checks, float64_copy, gradient_check, overfit_one_batch
from zoo.cli import main

NAMES = zoo.list_models()


@keras.saving.register_keras_serializable(package="zoo_tests")
class PlantedWrongGradient(keras.layers.Dense):
    """A Dense layer whose backward pass flips the sign of its kernel's gradient."""

    def call(self, x):
        @tf.custom_gradient
        def matmul(x, kernel):
            def grad(dy):
                return tf.matmul(dy, kernel, transpose_b=True), -tf.matmul(x, dy, transpose_a=True)

            return tf.matmul(x, kernel), grad

        return matmul(x, tf.convert_to_tensor(self.kernel)) + self.bias


def test_gradient_check_names_the_layer_with_a_wrong_gradient():
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(4, activation="tanh", name="fine")(inputs)
    model = keras.Model(inputs, PlantedWrongGradient(3, name="broken")(hidden))
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    result = gradient_check(model, x)
    assert not result.passed and "'broken" in result.detail
    assert result.data["relative_error"]["broken"] > 0.1  # a sign flip errs by order 1
    assert result.data["relative_error"]["fine"] < 1e-4  # the layers before it are right
    healthy = keras.Model(inputs, keras.layers.Dense(3, name="ok")(hidden))
    assert gradient_check(healthy, x).passed


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n.endswith("_transfer") else n for n in NAMES],
)
def test_every_entry_passes_the_gradient_check(name):
    model = build_small(name)
    x = sample_inputs(model, n=2)
    result = gradient_check(model, x)
    assert result.passed, result.detail
    assert {w.dtype for w in float64_copy(model).weights} <= {"float64", "int64", "int32"}


def test_overfit_one_batch_passes_and_fails():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8)).astype("float32")
    y = rng.integers(0, 3, 16)
    model = zoo.build("mnist_mlp", input_shape=(8,), num_classes=3, units=(64,), dropout=0.0,
                      learning_rate=1e-2)  # fmt: skip
    assert overfit_one_batch(model, x, y).passed
    frozen = zoo.build("mnist_mlp", input_shape=(8,), num_classes=3, units=(64,), dropout=0.0,
                       learning_rate=1e-9)  # fmt: skip
    result = overfit_one_batch(frozen, x, y, steps=20)
    assert not result.passed and "not below" in result.detail


def test_data_checks_catch_range_balance_and_nans():
    pixels = np.random.default_rng(0).random((8, 4, 4, 3)).astype("float32")
    wrong_range = data_checks(pixels, None, raw_pixels=True, image=True, classifier=False)
    assert not wrong_range[1].passed and "0-255" in wrong_range[1].detail
    bad = pixels.copy()
    bad[0, 0, 0, 0] = np.nan
    assert not data_checks(bad, None, raw_pixels=False, image=True, classifier=False)[0].passed
    labels = np.array([0] * 95 + [1] * 5)
    balance = data_checks(pixels, labels, raw_pixels=False, image=True, classifier=True)[-1]
    assert not balance.passed and "class-weight" in balance.detail


def test_cli_check_reports_each_check(capsys):
    code = main(["check", "mnist_mlp", "--set", "units=[32]"])
    out = capsys.readouterr().out
    for name in ("gradient check", "overfit one batch", "label balance", "input range"):
        assert name in out
    assert code == 0 and "FAIL" not in out
