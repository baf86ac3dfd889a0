"""Interpretation written by zoo train for image classifiers: top losses and Grad-CAM."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import recipes
import zoo
from recipes.interpret import gradcam, top_losses


def test_top_losses_are_the_most_wrong_samples():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Softmax()(inputs))  # logits are the inputs
    x = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5], [1, 1, 1]], "float32")
    y = np.array([0, 0, 2, 1])
    found = top_losses(model, x, y, k=2)
    assert [f["index"] for f in found] == [1, 3]  # confidently wrong, then unsure
    assert found[0]["predicted"] == 1 and found[0]["true"] == 0
    probs = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    assert found[0]["loss"] == pytest.approx(-np.log(probs[1, 0]), rel=1e-5)


def test_models_without_feature_maps_get_no_gradcam():
    assert gradcam(zoo.build("mnist_mlp"), np.zeros((2, 784), "float32")) is None


def test_mnist_cnn_writes_interpretation_and_gradcam_looks_at_the_digit(tmp_path):
    res = recipes.train("mnist_cnn", epochs=3, verbose=0, out_dir=tmp_path)
    for name in ("top_losses.png", "gradcam.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["baselines"]["logistic_regression"]["accuracy"] > 0.5
    assert report["evaluation"]["most_confused"]
    splits = zoo.data.load("mnist_5k", batch_size=500, input_shape=(28, 28, 1))
    x = np.concatenate([np.asarray(b) for b, _ in splits.test])[:100]
    heat = gradcam(res.model, x)
    ink = x[..., 0] > 0.1
    on_ink = (heat * ink).sum((1, 2)) / heat.sum((1, 2))
    # Measured: 29% of the heat on the 17% of pixels that are ink (the last conv maps are
    # 14x14, so the heat sits on and just beside the strokes); chance would be 17%.
    assert on_ink.mean() > 1.4 * ink.mean()


def test_flat_image_models_show_their_top_losses_as_images(tmp_path):
    """mnist_mlp takes 784 values: top_losses.png still shows 28x28 digits; no Grad-CAM."""
    recipes.train("mnist_mlp", epochs=1, verbose=0, out_dir=tmp_path)
    assert (tmp_path / "top_losses.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "gradcam.png").exists()
