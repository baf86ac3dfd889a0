"""Interpretation written by zoo train for image classifiers: top losses and Grad-CAM."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import recipes
import zoo
from recipes.interpret import explain, gradcam, guided_gradcam, top_losses
from zoo.cli import main as cli


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
    ink = x[..., 0] > 0.1  # 17% of the pixels

    def on_ink(heat):
        # Grad-CAM is all zero for an image where no map argues for the predicted class
        # (1 in 100 here, after one training run): it has no share to average
        total = heat.sum((1, 2))
        lit = total > 0
        assert lit.mean() >= 0.95
        return ((heat * ink).sum((1, 2))[lit] / total[lit]).mean()

    # Grad-CAM's last conv maps are 14x14, so its heat covers the strokes and their
    # surroundings (measured: 29%, chance 17%); Guided Grad-CAM sharpens it to the pixels
    # (measured: 81%).
    assert on_ink(gradcam(res.model, x)) > 1.4 * ink.mean()
    assert on_ink(guided_gradcam(res.model, x)) > 0.5


def test_flat_image_models_show_their_top_losses_as_images(tmp_path):
    """mnist_mlp takes 784 values: top_losses.png still shows 28x28 digits; no Grad-CAM."""
    recipes.train("mnist_mlp", epochs=1, verbose=0, out_dir=tmp_path)
    assert (tmp_path / "top_losses.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "gradcam.png").exists()


# --------------------------------------------------------------------------- attention, explain


def _trained_transformer_text(tmp_path):
    over = dict(zoo.get_entry("transformer_text").test_overrides)
    over.pop("vocab_size", None)
    return recipes.train("transformer_text", epochs=2, out_dir=tmp_path, verbose=0,
                         overrides=over)  # fmt: skip


def test_transformer_text_writes_attention_and_explains_a_text(tmp_path, capsys):
    from recipes.interpret import attended_tokens

    res = _trained_transformer_text(tmp_path)
    assert res.files["attention"].stat().st_size > 5000
    assert cli(["explain", str(res.files["model"]), "--text", "a great movie, truly great"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted ") and "attends to: " in out
    assert (tmp_path / "explain.png").stat().st_size > 5000
    vocab = json.loads((tmp_path / "text_vectorization.json").read_text())["vocabulary"]
    ids = np.zeros((1, res.model.input_shape[1]), "int32")
    ids[0, :3] = [vocab.index("great"), 1, vocab.index("great")]
    (found,) = attended_tokens(res.model, ids, vocab)
    assert [t for t, _ in found] == ["great", "[UNK]", "great"]  # padding left out
    assert all(v > 0 for _, v in found)


def test_attention_is_the_layers_own_scores():
    from recipes.interpret import token_attention

    model = zoo.build("transformer_text", **zoo.get_entry("transformer_text").test_overrides)
    ids = np.random.default_rng(0).integers(1, 50, (2, 12)).astype("int32")
    weights = token_attention(model, ids)
    assert weights.shape == (2, 12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)  # softmax rows, averaged
    assert token_attention(zoo.build("mnist_mlp"), np.zeros((1, 784))) is None


def test_explain_an_image_shows_gradcam_and_first_layer(tmp_path, capsys):
    from PIL import Image

    res = recipes.train("mnist_cnn", epochs=1, out_dir=tmp_path, verbose=0)
    digit = np.zeros((40, 40), "uint8")
    digit[6:34, 18:22] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    found = explain(res.files["model"], input_file=tmp_path / "one.png")
    assert found["gradcam"] and len(found["top"]) == 3
    assert found["top"][0][1] >= found["top"][1][1]
    assert found["files"]["explain"].stat().st_size > 10000
    (tmp_path / "not.png").write_text("no image")
    assert cli(["explain", str(res.files["model"]), "--input", str(tmp_path / "not.png")]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_guided_gradcam_guides_relus_inside_layers_and_restores_them():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    images = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    guided = guided_gradcam(model, images)
    assert guided.shape == (2, 8, 8) and guided.min() >= 0 and guided.max() == pytest.approx(1)
    assert model.get_layer("conv").activation is keras.activations.relu  # put back
    assert guided_gradcam(zoo.build("mnist_mlp"), np.zeros((2, 784), "float32")) is None
