"""Training recipes: schedules, callbacks, class weights, evaluation reports, resume, NaN."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from sklearn import metrics as M

import recipes
import zoo
from recipes import callbacks as cbs
from recipes.evaluate import classification_report, regression_report
from recipes.schedules import SCHEDULES, make_schedule
from recipes.train import TrainingDivergedError, _check_finite


def _lr(schedule, step):
    return float(schedule(step)) if callable(schedule) else float(np.asarray(schedule))


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_its_formula_and_survives_keras_round_trip(name, tmp_path):
    lr, total = 0.01, 1000
    sched = make_schedule(name, lr, total)
    warm = int(total * 0.1)
    formulas = {
        "constant": lambda s: lr,
        "step": lambda s: lr * 0.5 ** min(3, s // (total // 4)),
        "exponential": lambda s: lr * 0.1 ** (s / total),
        "cosine": lambda s: lr * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
        "warmup_cosine": lambda s: (
            lr * s / warm
            if s < warm
            else lr * 0.5 * (1 + math.cos(math.pi * min(s - warm, total - warm) / (total - warm)))
        ),
        "one_cycle": lambda s: (  # fastai: cosine up from lr/25 over 25%, down to lr/25e4
            lr + (lr / 25 - lr) * (1 + math.cos(math.pi * s / 250)) / 2
            if s < 250
            else lr / 25e4 + (lr - lr / 25e4) * (1 + math.cos(math.pi * (s - 250) / 750)) / 2
        ),
    }
    for step in (0, 1, 50, 99, 100, 249, 250, 500, 751, 999):
        assert _lr(sched, step) == pytest.approx(formulas[name](step), rel=1e-5, abs=1e-9), step

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=sched), loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for step in (0, 250, 900):
        got = loaded.optimizer._learning_rate
        assert _lr(got, step) == pytest.approx(_lr(sched, step), rel=1e-6)
    assert int(loaded.optimizer.iterations) == 2


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(zoo.InvalidArgumentError, match="Unknown schedule 'linear'"):
        make_schedule("linear", 0.1, 10)
    with pytest.raises(zoo.InvalidArgumentError, match="Unknown schedule"):
        recipes.get("mnist_mlp").replace(schedule="linear")


def test_standard_callbacks_have_the_tutorial_settings(tmp_path):
    found = {type(c).__name__: c for c in cbs.standard(tmp_path, epochs=20, tensorboard=True)}
    assert set(found) == {
        "ClampedProgbarLogger",
        "TerminateOnNaN",
        "EarlyStopping",
        "GoodCheckpoint",
        "CSVLogger",
        "ReduceLROnPlateau",
        "TensorBoard",
        "BackupAndRestore",
    }
    rl = found["ReduceLROnPlateau"]
    assert (rl.monitor, rl.factor, rl.patience, rl.min_lr) == ("val_loss", 0.5, 5, 1e-7)
    assert found["EarlyStopping"].restore_best_weights
    no_reduce = cbs.standard(tmp_path, epochs=5, reduce_lr=False)
    assert "ReduceLROnPlateau" not in {type(c).__name__ for c in no_reduce}


def test_classification_report_equals_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    proba[np.arange(200), y] += rng.random(200)  # better than chance
    proba /= proba.sum(1, keepdims=True)
    rep = classification_report(y, proba, ["a", "b", "c"])
    pred = proba.argmax(1)
    assert rep["accuracy"] == pytest.approx(M.accuracy_score(y, pred))
    assert rep["precision_macro"] == pytest.approx(M.precision_score(y, pred, average="macro"))
    assert rep["recall_macro"] == pytest.approx(M.recall_score(y, pred, average="macro"))
    assert rep["f1_macro"] == pytest.approx(M.f1_score(y, pred, average="macro"))
    assert rep["roc_auc"] == pytest.approx(M.roc_auc_score(y, proba, multi_class="ovr"))
    assert rep["confusion_matrix"] == M.confusion_matrix(y, pred).tolist()
    per = M.precision_recall_fscore_support(y, pred)
    for i, name in enumerate("abc"):
        assert rep["per_class"][name]["recall"] == pytest.approx(per[1][i])
        assert rep["per_class"][name]["support"] == per[3][i]

    yb = rng.integers(0, 2, 100)
    pb = np.clip(yb * 0.6 + rng.random(100) * 0.5, 0, 1)
    rb = classification_report(yb, pb[:, None])
    assert rb["roc_auc"] == pytest.approx(M.roc_auc_score(yb, pb))
    assert rb["f1_macro"] == pytest.approx(M.f1_score(yb, pb > 0.5, average="macro"))


def test_regression_report_equals_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    p = y + rng.normal(scale=0.3, size=50)
    rep = regression_report(y, p)
    assert rep["mse"] == pytest.approx(M.mean_squared_error(y, p))
    assert rep["rmse"] == pytest.approx(math.sqrt(M.mean_squared_error(y, p)))
    assert rep["mae"] == pytest.approx(M.mean_absolute_error(y, p))
    assert rep["r2"] == pytest.approx(M.r2_score(y, p))


def _imbalanced_csv(path, n=1200, minority=0.06, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(int)
    x = rng.normal(size=(n, 4)) + y[:, None] * 1.2  # overlapping classes
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "d", "label"])
        for row, label in zip(x, y):
            w.writerow([*(f"{v:.4f}" for v in row), label])
    return path


def test_class_weights_raise_minority_recall(tmp_path):
    data = str(_imbalanced_csv(tmp_path / "imb.csv"))
    recall = {}
    for weight in (None, "balanced"):
        res = recipes.train(
            "perceptron",
            dataset=data,
            epochs=15,
            class_weight=weight,
            out_dir=tmp_path / str(weight),
            verbose=0,
        )
        recall[weight] = res.report["evaluation"]["per_class"]["1"]["recall"]
    assert recall["balanced"] > recall[None] + 0.2, recall


def test_class_weight_rejected_for_regression(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="classifiers only"):
        recipes.train("mlp_regressor", class_weight="balanced", out_dir=tmp_path, epochs=1)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                for w in self.model.weights:
                    w.assign(np.full(w.shape, np.nan, "float32"))

    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    model.fit(
        x,
        x[:, :1],
        validation_data=(x, x[:, :1]),
        epochs=5,
        verbose=0,
        callbacks=[*cbs.standard(tmp_path, epochs=5, backup=False), Poison()],
    )
    assert len(model.history.history["loss"]) == 3  # stopped in the poisoned epoch
    with pytest.raises(TrainingDivergedError, match="NaN/inf at epoch 3.*last good checkpoint"):
        _check_finite(model, tmp_path)
    best = keras.saving.load_model(tmp_path / "checkpoints" / "best.keras")
    assert all(np.isfinite(w).all() for w in best.get_weights())


def test_default_recipe_writes_confusion_matrix_and_full_metrics(tmp_path):
    res = recipes.train("mnist_mlp", epochs=2, out_dir=tmp_path, verbose=0)
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "metrics.json").read_text())
    ev = report["evaluation"]
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"):
        assert 0.0 <= ev[key] <= 1.0, key
    assert len(ev["per_class"]) == 10 and np.asarray(ev["confusion_matrix"]).sum() == 500
    assert ev["accuracy"] == pytest.approx(report["metrics"]["test_accuracy"], abs=1e-6)
    assert report["recipe"]["schedule"] == "constant"
    assert not (tmp_path / "backup").exists()  # a finished run leaves nothing to resume
    assert res.history["loss"] and len(res.history["loss"]) == 2


def test_evaluate_cli_on_a_trained_model(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    recipes.train("mlp_regressor", epochs=2, verbose=0)
    assert main(["evaluate", "mlp_regressor"]) == 0
    out = capsys.readouterr().out
    assert "rmse:" in out and "r2:" in out
    report = json.loads((tmp_path / "saved_models/mlp_regressor/metrics.json").read_text())
    assert set(report["evaluations"]["diabetes"]) == {"mse", "rmse", "mae", "r2"}
    assert main(["evaluate", "mnist_cnn"]) == 2  # never trained here
    assert "run `zoo train mnist_cnn` first" in capsys.readouterr().err


def test_resume_without_a_backup_is_a_clear_error(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="Nothing to resume"):
        recipes.train("mnist_mlp", epochs=1, out_dir=tmp_path, resume=True)


def _rows(log):
    with open(log) as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_sigkill_then_resume_finishes_the_planned_epochs_from_the_backup(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "zoo.cli", "train", "mnist_mlp", "--epochs", "8"]
    args += ["--out", str(out), "--verbose", "0", "--set", "dropout=0.0"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, start_new_session=True)
    log = out / "training_log.csv"
    deadline = time.time() + 180
    while time.time() < deadline and not (log.exists() and len(_rows(log)) >= 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _rows(log)
    assert 3 <= len(done_before) < 8, "the run must be killed midway"
    assert not (out / "model.keras").exists()
    assert (out / "backup").is_dir()

    resumed = subprocess.run(args + ["--resume"], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = _rows(log)
    assert sorted(set(rows)) == list(range(8))  # every planned epoch, and no more
    assert rows[: len(done_before)] == done_before
    replayed = len(rows) - 8  # at most the epoch that was cut short
    assert replayed <= 1, rows  # from the backup, not from scratch
    report = json.loads((out / "metrics.json").read_text())
    assert report["epochs_run"] == 8 and len(report["evaluation"]["per_class"]) == 10
    assert not (out / "backup").exists()


def test_bleu_matches_a_hand_computation():
    from recipes.evaluate import bleu

    assert bleu("the cat sat on the mat".split(), "the cat sat on the mat".split()) == 1.0
    # unigrams 3/6, bigrams (2+1)/(5+1), trigrams (1+1)/(4+1), 4-grams (0+1)/(3+1)
    assert bleu(list("abcdef"), list("abcxyz")) == pytest.approx(0.025**0.25)
    assert bleu(list("abc"), list("xyz")) == 0.0
    assert bleu(list("abcdefgh"), list("abcd")) == pytest.approx(math.exp(1 - 8 / 4))


def test_mixed_precision_trains_and_restores_the_policy(tmp_path):
    before = keras.config.dtype_policy().name
    res = recipes.train(
        "mnist_mlp", epochs=1, precision="mixed_bfloat16", out_dir=tmp_path, verbose=0
    )
    dense = [la for la in res.model.layers if isinstance(la, keras.layers.Dense)]
    assert dense[0].compute_dtype == "bfloat16" and dense[0].variable_dtype == "float32"
    assert res.model.output.dtype == "float32"  # the softmax head stays float32
    assert np.isfinite(res.metrics["test_loss"])
    assert keras.config.dtype_policy().name == before
    with pytest.raises(zoo.InvalidArgumentError, match="Unknown precision"):
        recipes.get("mnist_mlp").replace(precision="float8")


def test_recipe_states_optimizer_schedule_and_metric():
    r = recipes.get("mnist_mlp")
    assert (r.optimizer, r.schedule, r.metric) == ("adam", "constant", "val_accuracy")
    assert recipes.get("bert_classifier").learning_rate == 3e-5
    assert recipes.get("mlp_regressor").metric == "val_rmse"


def test_no_good_epoch_means_no_checkpoint_and_says_so(tmp_path):
    """Weights poisoned before the first epoch ends: no file is called the last good one."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")

    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for w in self.model.weights:
                w.assign(np.full(w.shape, np.nan, "float32"))

    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), epochs=3, verbose=0,
              callbacks=[Poison(), *cbs.standard(tmp_path, epochs=3, backup=False)])  # fmt: skip
    assert not (tmp_path / "checkpoints" / "best.keras").exists()
    with pytest.raises(TrainingDivergedError, match="No epoch finished cleanly"):
        _check_finite(model, tmp_path)


def test_checkpoint_skips_an_epoch_whose_weights_are_not_finite(tmp_path):
    """A finite validation loss does not make NaN weights good (a NaN in an unused weight)."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    check = cbs.good_checkpoint(tmp_path / "best.keras", monitor="val_loss")
    check.set_model(model)
    model.layers[0].bias.assign(np.array([np.nan], "float32"))
    check.on_epoch_end(0, {"val_loss": 0.5})
    assert not (tmp_path / "best.keras").exists()
    model.layers[0].bias.assign(np.array([0.0], "float32"))
    check.on_epoch_end(1, {"val_loss": 0.4})
    assert (tmp_path / "best.keras").exists() and not (tmp_path / ".staging").exists()
