"""bert_classifier from a Hugging Face-format checkpoint the test writes.

Why tests write one: docs/PLATFORM_NOTES.md."""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

import recipes
import zoo
from zoo.models.bert import write_tiny_checkpoint

SENTENCES = [
    "The movie was great!",
    "an awful, boring plot",
    "I loved the acting and hated the story.",
    "not very good",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("bert"))


def test_converted_embeddings_equal_the_checkpoint(ckpt):
    model = zoo.build("bert_classifier", checkpoint=str(ckpt), sequence_length=32)
    tensors = load_file(str(ckpt / "model.safetensors"))
    backbone = model.backbone
    np.testing.assert_array_equal(
        backbone.get_layer("token_embedding").embeddings.numpy(),
        tensors["bert.embeddings.word_embeddings.weight"],
    )
    np.testing.assert_array_equal(
        backbone.get_layer("position_embedding").position_embeddings.numpy(),
        tensors["bert.embeddings.position_embeddings.weight"],
    )
    q = backbone.get_layer("transformer_layer_1")._self_attention_layer.query_dense.kernel
    hf = tensors["bert.encoder.layer.1.attention.self.query.weight"]
    np.testing.assert_array_equal(q.numpy().reshape(hf.shape[1], -1), hf.T)


def test_tokenizer_ids_equal_autotokenizer(ckpt):
    from transformers import AutoTokenizer

    model = zoo.build("bert_classifier", checkpoint=str(ckpt), sequence_length=24)
    hf = AutoTokenizer.from_pretrained(str(ckpt))
    ours = np.asarray(model.tokenize(SENTENCES))
    for sentence, row in zip(SENTENCES, ours):
        want = hf(sentence)["input_ids"]
        assert row[: len(want)].tolist() == want, sentence
        assert not row[len(want) :].any()  # padded with [PAD] = 0


def test_fine_tuning_lowers_the_loss_on_raw_strings(ckpt):
    keras.utils.set_random_seed(0)
    model = zoo.build(
        "bert_classifier", checkpoint=str(ckpt), sequence_length=16, learning_rate=1e-3
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert zoo.info("bert_classifier")["compile"]["learning_rate"] == 3e-5
    texts = ["the movie was great", "awful boring plot", "loved the acting", "hated it"] * 8
    y = np.array([1, 0, 1, 0] * 8)
    before = model.evaluate(texts, y, verbose=0, return_dict=True)["loss"]
    model.fit(texts, y, epochs=8, batch_size=8, verbose=0)
    after = model.evaluate(texts, y, verbose=0, return_dict=True)["loss"]
    assert after < before * 0.9, (before, after)
    probs = model.predict(["great movie", "awful plot"], verbose=0)
    assert probs.shape == (2, 2) and probs[0, 1] > probs[1, 1]


def test_shorter_sequence_than_the_checkpoints_positions(ckpt):
    model = zoo.build("bert_classifier", checkpoint=str(ckpt), sequence_length=64)
    assert model.input_shape == (None, 64)
    assert model.predict(SENTENCES, verbose=0).shape == (4, 2)
    with pytest.raises(zoo.InvalidArgumentError, match="exceeds the checkpoint's 128"):
        zoo.build("bert_classifier", checkpoint=str(ckpt), sequence_length=256)


def test_pickle_checkpoints_are_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(zoo.InvalidArgumentError, match="safetensors only"):
        zoo.build("bert_classifier", checkpoint=str(tmp_path))
    with pytest.raises(zoo.InvalidArgumentError, match="no folder"):
        zoo.build("bert_classifier", checkpoint=str(tmp_path / "missing"))


def test_offline_hub_handle_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsUnavailableError, match="pass checkpoint=DIR"):
        zoo.build("bert_classifier", checkpoint="hf://google-bert/bert-base-uncased")
    assert time.perf_counter() - start < 10


def test_train_recipe_and_round_trip_on_raw_text(ckpt, tmp_path):
    res = recipes.train(
        "bert_classifier",
        epochs=1,
        batch_size=16,
        learning_rate=1e-3,
        out_dir=tmp_path,
        verbose=0,
        overrides={"checkpoint": str(ckpt), "sequence_length": 48},
    )
    assert "test_accuracy" in res.metrics
    assert not (tmp_path / "text_vectorization.json").exists()  # its tokenizer is inside
    loaded = keras.saving.load_model(res.files["model"])
    np.testing.assert_allclose(
        loaded.predict(SENTENCES, verbose=0), res.model.predict(SENTENCES, verbose=0), atol=1e-6
    )
    out = recipes.predict(res.files["model"], SENTENCES[:2])
    assert out["labels"] == ["negative", "positive"] and len(out["predicted"]) == 2


def test_exports_take_token_ids(ckpt, tmp_path):
    model = zoo.build("bert_classifier", checkpoint=str(ckpt), sequence_length=16)
    ids = np.asarray(model.tokenize(SENTENCES))
    report = zoo.export(model, tmp_path / "bert", formats=["saved_model", "tflite"],
                        validation_data=ids)  # fmt: skip
    assert report.manifest["inputs"] == [
        {"name": "token_ids", "shape": [None, 16], "dtype": "int32"}
    ]
    for art in report.manifest["artifacts"].values():
        assert art["parity"]["max_abs_diff"] <= 1e-4
