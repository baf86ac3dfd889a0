"""Speed defaults: oneDNN set before TensorFlow loads, and steps per execution."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import zoo

PROBE = "import os, zoo, tensorflow; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"


def _probe(env_changes: dict[str, str | None], code: str = PROBE) -> str:
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


def test_import_zoo_turns_on_onednn_unless_told_otherwise():
    assert _probe({"TF_ENABLE_ONEDNN_OPTS": None, "ZOO_RUNTIME_DEFAULTS": None}) == "1"
    assert _probe({"TF_ENABLE_ONEDNN_OPTS": "0", "ZOO_RUNTIME_DEFAULTS": None}) == "0"
    assert _probe({"TF_ENABLE_ONEDNN_OPTS": None, "ZOO_RUNTIME_DEFAULTS": "0"}) == "None"


def test_too_late_after_tensorflow_is_imported():
    code = "import tensorflow, os, zoo.runtime as r; print(r.configure(), r.APPLIED)"
    assert _probe({"TF_ENABLE_ONEDNN_OPTS": None}, code) == "{} {}"


def test_models_run_32_steps_per_call_unless_told():
    assert zoo.build("perceptron").steps_per_execution == 32
    assert zoo.build("perceptron", steps_per_execution=1).steps_per_execution == 1


MIRRORED = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, zoo
    s = zoo.distribute.strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    model = zoo.build("perceptron", strategy=s)
    model.fit(np.zeros((64, 30), "float32"), np.zeros(64), batch_size=8, verbose=0)
    try:
        zoo.build("perceptron", strategy=s, steps_per_execution=8)
    except zoo.InvalidArgumentError as e:
        print(model.steps_per_execution, "refused:", e)
    """
)


def test_one_step_per_call_under_mirrored_strategy():
    # keras 3.15's multi-step loop fails under MirroredStrategy: the default drops to 1
    # there, and an explicit request is refused with the reason instead of a graph error
    out = _probe({}, MIRRORED)
    assert out.startswith("1 refused:") and "multi-replica" in out


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_steps_per_execution_is_a_clear_error(bad):
    with pytest.raises(zoo.InvalidArgumentError, match="steps_per_execution"):
        zoo.build("perceptron", steps_per_execution=bad)
