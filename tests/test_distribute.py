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
    from helpers import sample_inputs, sample_targets
    s = zoo.distribute.strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    assert s.num_replicas_in_sync == 2
    for name in zoo.list_models():
        entry = zoo.get_entry(name)
        model = zoo.build(name, strategy=s, **entry.test_overrides)
        x = sample_inputs(model, n=8)
        y = sample_targets(entry, model, n=8)
        hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"][0]), name
        print("ok", name)
    """
)


def test_every_entry_trains_a_step_under_mirrored_strategy():
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert {line.split()[1] for line in res.stdout.splitlines() if line.startswith("ok ")} == set(
        zoo.list_models()
    )
