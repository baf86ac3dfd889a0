"""Gradient and activation health while training (zoo train --monitor)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import recipes
import zoo
from recipes.monitor import VANISHING, health_callback


def test_monitor_writes_gradients_png_and_the_report(tmp_path, capsys):
    from zoo.cli import main

    assert main(["train", "mnist_cnn", "--epochs", "2", "--monitor", "--out", str(tmp_path),
                 "--verbose", "0"]) == 0  # fmt: skip
    assert (tmp_path / "gradients.png").read_bytes()[:4] == b"\x89PNG"
    health = json.loads((tmp_path / "metrics.json").read_text())["gradient_health"]
    layers = health["layers"]
    assert len(layers["block1_conv1"]["gradient_norm"]) == 2  # one per epoch
    assert all(n > VANISHING for n in layers["predictions"]["gradient_norm"])
    assert 0.0 <= layers["block1_act1"]["dead_relu_fraction"][0] < 1.0
    assert health["warnings"] == [] and "warning:" not in capsys.readouterr().err


def test_vanishing_gradients_are_named_by_layer_and_epoch(tmp_path, capsys):
    """A sigmoid layer pushed deep into saturation passes (almost) no gradient back."""
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, activation="sigmoid", name="saturated")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(h))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    kernel = model.get_layer("saturated").kernel
    kernel.assign(np.full(kernel.shape, 1e4, "float32"))  # sigmoid(huge) == 1: slope 0
    x = np.ones((16, 4), "float32")
    y = np.zeros((16, 1), "float32")
    monitor = health_callback(tmp_path, (x, y))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    report = monitor.report()
    assert any("'saturated'" in w and "epoch 1" in w and "vanish" in w for w in report["warnings"])
    assert report["layers"]["saturated"]["saturated_fraction"] == [1.0]
    assert "gradients vanish in layer 'saturated'" in capsys.readouterr().err


def test_monitor_needs_a_compiled_loss(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="--monitor"):
        recipes.train("gan", epochs=1, monitor=True, out_dir=tmp_path, verbose=0,
                      overrides={"image_shape": (8, 8, 1), "noise_dim": 8})  # fmt: skip
