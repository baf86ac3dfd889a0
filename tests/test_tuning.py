"""KerasTuner over registry entries: hypermodels, searches, resume, chief and workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import keras
import keras_tuner as kt
import numpy as np
import pytest
from helpers import small_overrides

import zoo
from zoo.registry import COMPILE_KEYWORDS


@pytest.mark.parametrize("name", zoo.list_models())
def test_hypermodel_builds_from_defaults_and_a_random_draw(name):
    entry = zoo.get_entry(name)
    hm = zoo.hypermodel(name, **small_overrides(entry))
    hp = kt.HyperParameters()
    model = hm.build(hp)  # fresh hp: every value is the space's default
    assert model.compiled
    defaults = entry.defaults()
    for key in entry.search_space:
        if key in defaults and key not in entry.test_overrides:  # overrides are pinned
            spec_default = hp.get(key)
            assert spec_default in (
                defaults[key],
                ",".join(map(str, defaults[key]))
                if isinstance(defaults[key], tuple)
                else defaults[key],
            )
    drawn = kt.HyperParameters()
    for p in hp.space:
        drawn.merge([p])
        drawn.values[p.name] = p.random_sample(seed=7)
    model = hm.build(drawn)
    assert model.compiled
    if "learning_rate" in drawn.values:
        assert float(model.optimizer.learning_rate) == pytest.approx(drawn.values["learning_rate"])
    if "dropout" in drawn.values and drawn.values["dropout"] > 0:
        rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
        assert any(r == pytest.approx(drawn.values["dropout"]) for r in rates), rates


@pytest.mark.parametrize("name", zoo.list_models())
def test_search_space_keys_are_keywords(name):
    entry = zoo.get_entry(name)
    zoo.tuning.validate_space(entry)
    for key in entry.search_space:
        assert key in entry.defaults() or key in COMPILE_KEYWORDS


def test_pinned_keywords_are_not_searched():
    hm = zoo.hypermodel("mnist_mlp", dropout=0.0, units=(16,))
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert "dropout" not in hp.values and "units" not in hp.values
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    with pytest.raises(zoo.InvalidArgumentError, match="dropuot"):
        zoo.hypermodel("mnist_mlp", dropuot=0.1)


@pytest.mark.slow
def test_random_search_best_rebuilds_and_retrains_within_noise(tmp_path):
    best = zoo.tune(
        "mnist_mlp",
        "mnist_5k",
        tuner="random",
        max_trials=3,
        epochs=3,
        directory=tmp_path,
        verbose=0,
    )
    assert not any(k.startswith("tuner/") for k in best)
    report = json.loads((tmp_path / "best.json").read_text())
    assert report["keywords"] == {
        k: list(v) if isinstance(v, tuple) else v for k, v in best.items()
    }
    rows = (tmp_path / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 4  # header + 3 trials

    keras.utils.set_random_seed(0)
    model = zoo.build("mnist_mlp", **best)
    splits = zoo.data.load("mnist_5k", batch_size=32, input_shape=best["input_shape"])
    model.fit(splits.train, validation_data=splits.val, epochs=3, verbose=0, shuffle=False)
    score = model.evaluate(splits.val, verbose=0, return_dict=True)["accuracy"]
    assert abs(score - report["score"]) < 0.04, (score, report["score"])  # ~3 sigma on 500

    # A rerun with a larger budget resumes: only the new trial runs.
    zoo.tune("mnist_mlp", "mnist_5k", max_trials=4, epochs=3, directory=tmp_path, verbose=0)
    runs = (tmp_path / "search" / "trial_runs.jsonl").read_text().strip().splitlines()
    assert len(runs) == 4
    assert len((tmp_path / "trials.csv").read_text().strip().splitlines()) == 5


@pytest.mark.slow
def test_hyperband_respects_max_trials(tmp_path):
    best = zoo.tune(
        "perceptron", tuner="hyperband", max_trials=2, epochs=2, directory=tmp_path, verbose=0
    )
    assert "learning_rate" in best
    trials = (tmp_path / "trials.csv").read_text().strip().splitlines()[1:]
    assert 1 <= len(trials) <= 2


@pytest.mark.parametrize(
    ("objective", "direction"),
    [("val_accuracy", "max"), ("val_auc", "max"), ("val_rmse", "min"), ("val_loss", "min"),
     ("val_perplexity", "min")],
)  # fmt: skip
def test_objective_direction_is_read_from_the_metric_name(objective, direction):
    from zoo.tuning import _objective

    got = _objective(zoo.get_entry("mnist_mlp"), objective)
    assert (got.name, got.direction) == (objective, direction)
    assert _objective(zoo.get_entry("mnist_mlp"), "val_custom") == "val_custom"


def test_unknown_tuner_and_empty_budget():
    with pytest.raises(zoo.InvalidArgumentError, match="random"):
        zoo.tune("mnist_mlp", tuner="annealing")
    with pytest.raises(zoo.InvalidArgumentError, match="max_trials"):
        zoo.tune("mnist_mlp", max_trials=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_once(tmp_path):
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "zoo.cli",
        "tune",
        "mnist_mlp",
        "--max-trials",
        "4",
        "--epochs",
        "1",
        "--dir",
        str(tmp_path),
        "--verbose",
        "0",
    ]
    procs = {}
    for tid in ("chief", "tuner0", "tuner1"):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": tid,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
        }
        procs[tid] = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    outputs = {}
    try:
        for tid, p in procs.items():
            outputs[tid] = p.communicate(timeout=400)[0]
    finally:
        for p in procs.values():
            p.kill()
    for tid, p in procs.items():
        assert p.returncode == 0, f"{tid}:\n{outputs[tid][-3000:]}"
    runs = [
        json.loads(line)
        for line in (tmp_path / "search" / "trial_runs.jsonl").read_text().splitlines()
    ]
    ids = [r["trial_id"] for r in runs]
    assert len(ids) == 4 and len(set(ids)) == 4, runs
    assert {r["tuner_id"] for r in runs} <= {"tuner0", "tuner1"}
    assert (tmp_path / "best.json").exists()
    assert "best keywords" in outputs["chief"]
    assert np.isfinite(json.loads((tmp_path / "best.json").read_text())["score"])


@pytest.mark.parametrize("kind", ["bayesian", "grid"])
@pytest.mark.slow
def test_bayesian_and_grid_tuners(kind, tmp_path):
    best = zoo.tune("perceptron", tuner=kind, max_trials=3, epochs=1, directory=tmp_path, verbose=0)
    assert set(best) == {"input_shape", "l2", "learning_rate"}
    assert 1e-3 <= best["learning_rate"] <= 1e-1
    rows = (tmp_path / "trials.csv").read_text().strip().splitlines()[1:]
    assert 1 <= len(rows) <= 3
    zoo.build("perceptron", **best)
