"""Baselines in every evaluation report, and the class pairs confused most often."""

from __future__ import annotations

import json

import numpy as np
import pytest

import recipes
from recipes.baselines import baselines
from recipes.evaluate import classification_report, most_confused


def test_most_confused_orders_off_diagonal_pairs():
    cm = [[5, 1, 0], [4, 3, 2], [0, 0, 9]]
    pairs = most_confused(cm, ["a", "b", "c"])
    assert pairs[0] == {"true": "b", "predicted": "a", "count": 4}
    assert [p["count"] for p in pairs] == [4, 2, 1]  # the diagonal and zeros are left out
    rng = np.random.default_rng(0)
    report = classification_report(rng.integers(0, 3, 50), rng.dirichlet(np.ones(3), 50))
    assert report["most_confused"] == most_confused(report["confusion_matrix"], list("012"))


def test_classifier_report_has_baselines_and_lift(tmp_path, capsys):
    from zoo.cli import main

    assert main(["train", "mnist_mlp", "--epochs", "2", "--out", str(tmp_path), "--verbose",
                 "0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "baseline majority class: accuracy 0.1000" in out  # mnist_5k's test split: 50 each
    assert "baseline logistic regression" in out and "points)" in out
    report = json.loads((tmp_path / "metrics.json").read_text())
    base = report["baselines"]
    assert base["majority_class"]["accuracy"] == pytest.approx(0.1)
    assert 0.8 < base["logistic_regression"]["accuracy"] < 0.95  # linear on raw pixels
    assert base["lift"]["logistic_regression"] == pytest.approx(
        report["evaluation"]["accuracy"] - base["logistic_regression"]["accuracy"]
    )
    assert report["evaluation"]["most_confused"]


def test_regression_baselines_are_mean_and_ridge():
    import zoo

    raw = zoo.data.load_raw("diabetes")
    found = baselines(raw, "regression")
    assert found["mean"]["r2"] < 0.05  # the mean explains (almost) nothing on held-out data
    assert found["ridge"]["r2"] > 0.3 and found["ridge"]["rmse"] < found["mean"]["rmse"]


def test_text_baseline_uses_tfidf():
    import zoo

    found = baselines(zoo.data.load_raw("synthetic_reviews"), "classification")
    assert found["logistic_regression"]["accuracy"] > 0.8  # the label is which words occur


def test_no_baselines_for_generative_or_language_models():
    import zoo

    assert baselines(zoo.data.load_raw("mnist_5k"), "generative") == {}
    assert recipes.get("char_lstm").metric == "val_perplexity"
