"""Sequence models learn (not just run); the text pipeline round-trips raw strings."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter

import numpy as np
import pytest

import recipes
import zoo
from zoo.data.sequences import python_docs_text, synthetic_reviews_arrays
from zoo.text import decode, encode

SMALL = {"sequence_length": 48, "vocab_size": 1000, "embedding_dim": 32}
TEXT_MODELS = {
    "simple_rnn_text": {**SMALL, "units": (32,), "dense_units": 16},
    "lstm_text": {**SMALL, "units": (32, 16), "dense_units": 16},
    "gru_text": {**SMALL, "units": (32, 16), "dense_units": 16},
    "bilstm_text": {**SMALL, "units": (16, 8), "dense_units": 16},
    "transformer_text": {**SMALL, "ff_dim": 32, "dense_units": 16},
}


def test_text_models_are_registered():
    assert set(TEXT_MODELS) <= set(zoo.list_models(tag="text"))
    assert {"lstm_timeseries", "transformer_timeseries", "lstm_forecaster", "char_lstm"} <= set(
        zoo.list_models()
    )


def test_lstm_text_is_the_tutorials_network():
    model = zoo.build("lstm_text")
    kinds = [type(la).__name__ for la in model.layers[1:]]
    assert kinds == ["Embedding", "LSTM", "Dropout", "LSTM", "Dropout", "Dense", "Dense"]
    lstm1, lstm2 = model.get_layer("lstm1"), model.get_layer("lstm2")
    assert (lstm1.units, lstm1.return_sequences, lstm2.units) == (128, True, 64)
    assert model.get_layer("dropout1").rate == 0.2 and model.get_layer("dense").units == 64


@pytest.mark.parametrize("name", sorted(TEXT_MODELS))
@pytest.mark.slow
def test_text_classifier_learns_the_synthetic_task(name, tmp_path):
    res = recipes.train(
        name,
        dataset="synthetic_reviews",
        epochs=6,
        batch_size=32,
        out_dir=tmp_path,
        verbose=0,
        overrides=TEXT_MODELS[name],
    )
    assert max(res.history["val_accuracy"]) >= 0.9, res.history["val_accuracy"]


def test_vocabulary_travels_with_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = recipes.train("gru_text", epochs=4, verbose=0, overrides={**TEXT_MODELS["gru_text"]})
    saved = tmp_path / "saved_models/gru_text/text_vectorization.json"
    assert saved.is_file() and res.files["vocabulary"] == saved.relative_to(tmp_path)
    from recipes.text import load_vectorizer

    texts, labels = synthetic_reviews_arrays(n=40, seed=7)
    ids = np.asarray(load_vectorizer(saved)(np.asarray(texts, dtype=object)))
    assert ids.shape == (40, 48) and ids.max() < 1000
    direct = res.model.predict(ids, verbose=0)
    out = recipes.predict("gru_text", list(texts))
    np.testing.assert_allclose(out["probabilities"], direct, atol=1e-6)
    assert out["labels"] == ["negative", "positive"]
    hits = [p == ("positive" if y else "negative") for p, y in zip(out["predicted"], labels)]
    assert np.mean(hits) >= 0.9


def test_predict_cli_on_raw_text(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    recipes.train(
        "transformer_text", epochs=4, verbose=0, overrides=TEXT_MODELS["transformer_text"]
    )
    rc = main(["predict", "transformer_text", "--text", "superb and delightful, loved it"])
    assert rc == 0
    assert capsys.readouterr().out.startswith("positive\t")
    assert main(["predict", "mnist_mlp", "--text", "x"]) == 2  # never trained here


def test_own_csv_text_data(tmp_path):
    texts, labels = synthetic_reviews_arrays(n=600, seed=3)
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "label"])
        for t, y in zip(texts, labels):
            w.writerow([t, "pos" if y else "neg"])
    res = recipes.train(
        "lstm_text", dataset=str(path), epochs=6, out_dir=tmp_path / "run", verbose=0,
        overrides=TEXT_MODELS["lstm_text"],
    )  # fmt: skip
    assert max(res.history["val_accuracy"]) >= 0.9
    assert res.report["dataset"]["class_names"] == ["neg", "pos"]


def test_text_model_on_image_data_is_a_clear_error(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="reads text"):
        recipes.train("lstm_text", dataset="mnist_5k", epochs=1, out_dir=tmp_path)
    with pytest.raises(zoo.InvalidArgumentError, match="does not read text"):
        recipes.train("mnist_mlp", dataset="synthetic_reviews", epochs=1, out_dir=tmp_path)


def test_imdb_pipeline_through_tfds_mock(tmp_path, monkeypatch, offline_home):
    import tensorflow_datasets as tfds

    from zoo.data import remote

    monkeypatch.setattr(remote, "network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=40):
        res = recipes.train(
            "lstm_text", dataset="imdb_reviews", epochs=1, out_dir=tmp_path, verbose=0,
            overrides=TEXT_MODELS["lstm_text"],
        )  # fmt: skip
    assert np.isfinite(res.history["loss"][0])
    assert (tmp_path / "text_vectorization.json").is_file()


@pytest.mark.slow
def test_timeseries_models_learn_waveforms(tmp_path):
    for name, over in (
        ("lstm_timeseries", {"units": (32,)}),
        ("transformer_timeseries", {"num_blocks": 1, "head_size": 16, "mlp_units": (32,)}),
    ):
        res = recipes.train(name, epochs=8, out_dir=tmp_path / name, verbose=0, overrides=over)
        # chance is 1/3; both keep improving well past this short budget
        assert max(res.history["val_accuracy"]) >= 0.5, (name, res.history["val_accuracy"])


def test_forecaster_beats_the_last_value_baseline(tmp_path):
    res = recipes.train("lstm_forecaster", epochs=15, out_dir=tmp_path, verbose=0)
    raw = zoo.data.load_raw("goog_prices")
    y = np.concatenate([b[1].numpy() for b in raw.test.batch(512)])
    naive_mse = float(np.mean(y**2))  # "tomorrow = today" predicts 0 relative change
    assert res.report["evaluation"]["mse"] <= naive_mse * 1.1
    assert set(res.report["evaluation"]) == {"mse", "rmse", "mae", "r2"}


@pytest.mark.slow
def test_char_lstm_beats_unigram_perplexity_and_generates(tmp_path):
    text = python_docs_text()
    counts = Counter(encode(text).tolist())
    total = sum(counts.values())
    unigram = math.exp(-sum(c / total * math.log(c / total) for c in counts.values()))
    res = recipes.train(
        "char_lstm", epochs=3, batch_size=32, out_dir=tmp_path, verbose=0,
        overrides={"units": (128,), "sequence_length": 100},
    )  # fmt: skip
    ppl = res.report["evaluation"]["perplexity"]
    assert ppl < unigram, (ppl, unigram)
    assert res.metrics["test_perplexity"] == pytest.approx(ppl, rel=0.02)
    out = res.model.generate("Return the ", length=50, temperature=0.8, seed=1)
    assert isinstance(out, str) and len(out) == 50
    assert out == res.model.generate("Return the ", length=50, temperature=0.8, seed=1)
    import keras

    loaded = keras.saving.load_model(res.files["model"])
    assert loaded.generate("The ", length=20, temperature=0, seed=0) == res.model.generate(
        "The ", length=20, temperature=0, seed=0
    )
    report = json.loads(res.files["metrics"].read_text())
    assert report["evaluation"]["perplexity"] == ppl
    assert 0.0 <= report["evaluation"]["bleu_char"] <= 1.0  # greedy continuations vs the text


def test_char_encoding_round_trip():
    s = "Hello,\nworld! ~"
    assert decode(encode(s)) == s
    assert encode("é").tolist() == [0]


def test_perplexity_equals_keras_hub():
    """The zoo's Perplexity metric gives keras-hub's number (it is kept to skip that import)."""
    import keras_hub

    from zoo.models.sequence import Perplexity

    rng = np.random.default_rng(0)
    ours, theirs = Perplexity(), keras_hub.metrics.Perplexity(from_logits=False)
    for _ in range(3):
        y = rng.integers(0, 7, size=(4, 5))
        p = rng.random((4, 5, 7)).astype("float32")
        p /= p.sum(-1, keepdims=True)
        ours.update_state(y, p)
        theirs.update_state(y, p)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)
