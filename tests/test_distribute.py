"""Strategy selection, and every entry under MirroredStrategy on two logical CPUs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import zoo
from zoo import distribute


def test_default_and_one_device(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.resolve_kind("auto") == "default"
    s = distribute.strategy("one_device")
    assert isinstance(s, tf.distribute.OneDeviceStrategy)
    model = zoo.build("mnist_mlp", strategy="one_device")
    assert isinstance(model.distribute_strategy, tf.distribute.OneDeviceStrategy)
    assert distribute.global_batch_size(32, s) == 32


def test_auto_reads_tf_config(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert distribute.resolve_kind("auto") == "multi_worker"
    cluster["ps"] = ["127.0.0.1:3"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster}))
    assert distribute.resolve_kind("auto") == "parameter_server"


def test_clear_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(zoo.InvalidArgumentError, match="mirrored"):
        distribute.strategy("mirorred")
    with pytest.raises(zoo.InvalidArgumentError, match="TF_CONFIG"):
        distribute.strategy("multi_worker")
    with pytest.raises(zoo.InvalidArgumentError, match="ps"):
        distribute.strategy("parameter_server")
    with pytest.raises(zoo.InvalidArgumentError, match="No TPU"):
        distribute.strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(zoo.InvalidArgumentError, match="JSON"):
        distribute.resolve_kind("auto")


SCRIPT = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import sys
    sys.path.insert(0, "tests")
    import numpy as np
    import zoo
    from helpers import build_small, training_batch
    s = zoo.distribute.strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    assert s.num_replicas_in_sync == 2
    names = sys.argv[1:] or zoo.list_models()
    for name in names:
        entry = zoo.get_entry(name)
        model = build_small(name, strategy=s)
        x, y = training_batch(entry, model, n=8)
        hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert all(np.isfinite(v[0]) for v in hist.history.values()), (name, hist.history)
        print("ok", name, flush=True)
    """
)


@pytest.mark.slow
def test_every_entry_trains_a_step_under_mirrored_strategy():
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert {line.split()[1] for line in res.stdout.splitlines() if line.startswith("ok ")} == set(
        zoo.list_models()
    )


EQUIVALENCE = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np, zoo

    def run(strategy):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = zoo.build("mnist_mlp", input_shape=(16,), units=(8,), dropout=0.0,
                              optimizer="sgd", learning_rate=0.1)
        rng = np.random.default_rng(1)
        x = rng.random((64, 16), dtype="float32")
        y = rng.integers(0, 10, 64).astype("int32")
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # global batch 16
        model.fit(ds, epochs=3, verbose=0, shuffle=False)
        return model.get_weights()

    one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = run(zoo.distribute.strategy("mirrored", devices=["/cpu:0", "/cpu:1"]))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
    print("maxdiff", diff)
    """
)


def test_two_replicas_match_one_device_at_the_same_global_batch():
    res = subprocess.run(
        [sys.executable, "-c", EQUIVALENCE], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    diff = float(res.stdout.split("maxdiff")[1])
    assert diff < 1e-5, diff
