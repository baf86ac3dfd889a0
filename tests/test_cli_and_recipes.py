"""The CLI end to end and the default training recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import recipes
import zoo
from zoo.cli import main


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "zoo.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_list_and_filters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mnist_mlp" in out and "cifar10_cnn" in out
    assert main(["list", "*cnn*"]) == 0
    out = capsys.readouterr().out
    assert "mnist_cnn" in out and "mnist_mlp" not in out
    assert main(["list", "--task", "regression"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "mlp_regressor" in listed and "lstm_forecaster" in listed and "mnist_mlp" not in listed


def test_info_shows_card_and_json(capsys):
    assert main(["info", "mnist_mlp"]) == 0
    out = capsys.readouterr().out
    assert "dropout = 0.2" in out and "mnist_5k" in out
    assert main(["info", "mnist_mlp", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card == json.loads(json.dumps(zoo.info("mnist_mlp", size=True)))


def test_bad_name_exits_2_with_suggestion(capsys):
    assert main(["info", "mnist_mpl"]) == 2
    assert "mnist_mlp" in capsys.readouterr().err
    assert main(["train", "mnist_mlp", "--set", "dropuot=0.3"]) == 2
    assert "dropout" in capsys.readouterr().err


def test_doctor(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "devices" in out and "keras" in out
    assert "TF_ENABLE_ONEDNN_OPTS=" in out and "steps_per_execution=32" in out
    assert "batch norm  TensorFlow's fused kernel when training" in out
    assert "optimizer   Adam, AdamW: one fused TensorFlow op per variable" in out
    assert "masked RNN  a right-padded training batch runs unmasked" in out


def test_doctor_names_the_speed_paths_of_each_backend():
    from zoo.cli import _data_line, _speed_path_lines

    torch_lines = "\n".join(_speed_path_lines("torch"))
    assert "batch norm  Keras' own ops (the fused path is TensorFlow's; torch is active)" in (
        torch_lines
    )
    assert "masked RNN  LSTM and GRU through torch's fused kernel" in torch_lines
    jax_lines = "\n".join(_speed_path_lines("jax"))
    assert "masked RNN  Keras' own ops (the fused path is TensorFlow's; jax is active)" in (
        jax_lines
    )
    assert "Keras'" not in _data_line("torch") and "Keras'" in _data_line("tensorflow")


def test_doctor_says_when_fused_batch_norm_is_turned_off(capsys, monkeypatch):
    monkeypatch.setenv("ZOO_FUSED_BATCH_NORM", "0")
    assert main(["doctor"]) == 0
    assert "batch norm  Keras' own ops (ZOO_FUSED_BATCH_NORM=0 is set)" in capsys.readouterr().out


def test_doctor_says_when_the_fused_optimizer_is_turned_off(capsys, monkeypatch):
    monkeypatch.setenv("ZOO_FUSED_OPTIMIZER", "0")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "optimizer   Adam, AdamW: Keras' own ops (ZOO_FUSED_OPTIMIZER=0 is set)" in out


def test_doctor_says_when_unmasked_right_padding_is_turned_off(capsys, monkeypatch):
    monkeypatch.setenv("ZOO_UNMASKED_RIGHT_PADDING", "0")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "masked RNN  Keras' own ops (ZOO_UNMASKED_RIGHT_PADDING=0 is set)" in out


def test_doctor_shows_the_data_pipelines_autotuning_and_the_variable_turns_it_on(
    capsys, monkeypatch
):
    assert main(["doctor"]) == 0
    which = "zoo.data's and Keras' for a zoo model's arrays"
    assert f"tf.data     pipelines without autotuning, for steady epochs: {which}" in (
        capsys.readouterr().out
    )
    monkeypatch.setenv("ZOO_DATA_AUTOTUNE", "1")
    assert main(["doctor"]) == 0
    assert f"pipelines autotuned: {which} (ZOO_DATA_AUTOTUNE=1 is set)" in capsys.readouterr().out
    assert zoo.data.load("digits", batch_size=8).train.options().autotune.enabled is True


def test_datasets(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist_5k" in out and "tf_flowers" in out


def test_train_cli_tiny_run_writes_its_artifacts(tmp_path):
    out = tmp_path / "run"
    res = run_cli(
        "train",
        "mnist_mlp",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--set",
        "units=[32]",
        "--verbose",
        "2",
    )
    assert res.returncode == 0, res.stderr
    assert "test accuracy:" in res.stdout
    assert {p.name for p in out.iterdir()} == {
        "model.keras",
        "history.json",
        "history.png",
        "metrics.json",
        "confusion_matrix.png",
        "top_losses.png",
        "training_log.csv",
        "checkpoints",
    }  # and no backup/: the run finished
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2 and "val_accuracy" in history
    report = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= report["metrics"]["test_accuracy"] <= 1.0
    assert report["builder_keywords"]["units"] == [32]
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 10)
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_train_offline_network_dataset_fails_fast(tmp_path):
    start = time.monotonic()
    res = run_cli(
        "train",
        "mnist_mlp",
        "--dataset",
        "mnist",
        "--out",
        str(tmp_path / "x"),
        env={"KERAS_HOME": str(tmp_path / "k"), "TFDS_DATA_DIR": str(tmp_path / "t")},
    )
    elapsed = time.monotonic() - start
    assert res.returncode == 2
    assert "mnist.npz" in res.stderr and "tfds.load" in res.stderr
    assert elapsed < 10, elapsed
    assert not (tmp_path / "x").exists()


def test_recipe_fits_model_to_other_datasets(tmp_path):
    res = recipes.train("mnist_mlp", dataset="digits", epochs=1, out_dir=tmp_path, verbose=0)
    assert res.model.input_shape == (None, 64)
    res = recipes.train(
        "cifar10_cnn",
        dataset="digits",
        epochs=1,
        out_dir=tmp_path,
        verbose=0,
        overrides={"filters": [8, 16]},
    )
    assert res.model.input_shape == (None, 8, 8, 1)


def test_train_under_a_named_strategy(tmp_path, capsys):
    import tensorflow as tf

    res = recipes.train(
        "mnist_mlp",
        epochs=1,
        out_dir=tmp_path,
        verbose=0,
        strategy="one_device",
        overrides={"units": [16]},
    )
    assert isinstance(res.model.distribute_strategy, tf.distribute.OneDeviceStrategy)
    assert (tmp_path / "model.keras").exists()


def test_recipe_rejects_task_mismatch(tmp_path):
    with pytest.raises(zoo.InvalidArgumentError, match="regression"):
        recipes.train("mlp_regressor", dataset="digits", epochs=1, out_dir=tmp_path)
    with pytest.raises(zoo.InvalidArgumentError, match="binary"):
        recipes.train("perceptron", dataset="digits", epochs=1, out_dir=tmp_path)


def test_perceptron_learns_breast_cancer(tmp_path):
    res = recipes.train("perceptron", out_dir=tmp_path, verbose=0)
    assert res.metrics["test_accuracy"] > 0.9
    # normalization travels inside the saved model: raw features in, probabilities out
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    pred = model.predict(d.data[:100].astype("float32"), verbose=0)[:, 0] > 0.5
    assert np.mean(pred == d.target[:100]) > 0.85


def test_regressor_beats_mean_baseline(tmp_path):
    res = recipes.train("mlp_regressor", out_dir=tmp_path, verbose=0)
    from sklearn.datasets import load_diabetes

    y = load_diabetes().target
    baseline_rmse = float(np.std(y))
    assert res.metrics["test_rmse"] < 0.85 * baseline_rmse
    assert {"test_mae", "test_rmse", "test_loss"} <= set(res.metrics)
