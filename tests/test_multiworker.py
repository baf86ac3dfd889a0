"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1, the keras#20585 workaround,
chief-only artifacts, and resuming a killed worker group from the backup."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

UNPATCHED = textwrap.dedent(
    """
    import sys
    import tensorflow as tf, keras, numpy as np
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(16)
    if sys.argv[1] == "patched":
        import zoo.compat
        zoo.compat.patch_multi_worker_fit()
    print("LOSSES", m.fit(ds, epochs=2, verbose=0).history["loss"], flush=True)
    """
)


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(ports, index, **extra):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
    return {**os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _launch(args, ports, cwd):
    return [
        subprocess.Popen(args, env=_env(ports, i), cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        for i in range(len(ports))
    ]  # fmt: skip


def _finish(procs, timeout=300):
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                os.killpg(q.pid, signal.SIGKILL)
            raise
        outs.append((p.returncode, out, err))
    return outs


def _losses(path):
    with open(path) as f:
        return {int(r["epoch"]): float(r["loss"]) for r in csv.DictReader(f)}


@pytest.mark.slow
def test_unpatched_keras_still_needs_the_workaround(tmp_path):
    """Fails the day keras fixes #20585: then delete zoo/compat.py's patch and this test."""
    ports = _ports(2)
    results = _finish(_launch([sys.executable, "-c", UNPATCHED, "unpatched"], ports, tmp_path))
    errors = " ".join(err for rc, _, err in results if rc != 0)
    assert any(rc != 0 for rc, _, _ in results), (
        "keras-team/keras#20585 looks fixed upstream: remove the workaround in zoo/compat.py"
    )
    assert "PerReplica" in errors or "Invalid reduction dimension" in errors, errors[-2000:]
    ports = _ports(2)
    results = _finish(_launch([sys.executable, "-c", UNPATCHED, "patched"], ports, tmp_path))
    assert all(rc == 0 for rc, _, _ in results), results[0][2][-2000:]
    losses = [out.split("LOSSES")[1].strip() for _, out, _ in results]
    assert losses[0] == losses[1]


def _train_args(out, epochs, *extra):
    return [sys.executable, "-m", "zoo.cli", "train", "mnist_mlp", "--strategy", "multi_worker",
            "--epochs", str(epochs), "--out", str(out), "--verbose", "0",
            "--set", "dropout=0.0", *extra]  # fmt: skip


@pytest.mark.slow
def test_two_workers_train_through_zoo_train(tmp_path):
    out = tmp_path / "run"
    results = _finish(_launch(_train_args(out, 2), _ports(2), tmp_path))
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    chief, worker = (
        _losses(out / "training_log.csv"),
        _losses(out / "workers/worker-1/training_log.csv"),
    )
    assert len(chief) == 2 and chief == worker  # identical losses on both workers
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    assert not list((out / "workers").rglob("model.keras"))  # only the chief wrote the model
    assert not list((out / "workers").rglob("metrics.json"))
    assert not (out / "backup").exists()


@pytest.mark.slow
def test_killed_worker_group_resumes_from_the_backup(tmp_path):
    out = tmp_path / "run"
    ports = _ports(2)
    procs = _launch(_train_args(out, 6), ports, tmp_path)
    log = out / "training_log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and len(_losses(log)) >= 2):
        time.sleep(0.1)
    os.killpg(procs[1].pid, signal.SIGKILL)  # one worker dies mid-training ...
    time.sleep(2)
    os.killpg(procs[0].pid, signal.SIGKILL)  # ... and the group is torn down to relaunch
    for p in procs:
        p.wait()
    done = len(_losses(log))
    assert 2 <= done < 6, done
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()

    results = _finish(_launch(_train_args(out, 6, "--resume"), _ports(2), tmp_path))
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    with open(log) as f:
        rows = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert sorted(set(rows)) == list(range(6))
    assert len(rows) - 6 <= 1, rows  # resumed from the backup, not from epoch 0
    assert (out / "model.keras").is_file() and not (out / "backup").exists()


@pytest.mark.parametrize("kind", ["worker", "chief"])
def test_chief_detection(kind, monkeypatch):
    from zoo import distribute

    cluster = {"worker": ["a:1", "b:2"]}
    if kind == "chief":
        cluster["chief"] = ["c:3"]
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert distribute.is_chief() is (kind == "worker")
    assert distribute.task() == ("worker", 0)
