"""Killed means clean: a SIGKILLed or SIGTERMed export or training leaves no process behind
and no file under a final artifact name; leftovers sit only in a hidden ``.staging`` folder
that the next run removes. And what a successful command leaves is readable by others."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "0"}


def _model_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.keras"
    zoo.build("mnist_mlp", units=(16,), input_shape=(8,), num_classes=3).save(path)
    return path


def _converters(out: Path) -> list[int]:
    """Processes running the TFLite converter on a job of ``out``'s staging folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "_litert_convert.py" in cmd and str(out) in cmd:
            found.append(int(proc.name))
    return found


def _start_export(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "export", str(_model_file(tmp_path)), "--out", str(out),
         "--formats", "saved_model,tflite", "--quantize", "float32", "--quantize", "dynamic",
         "--quantize", "float16"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the converter child runs
        if _converters(out):
            return proc, out
        if proc.poll() is not None:
            pytest.fail(f"export ended before converting: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("export never reached the TFLite conversion")


def _final_files(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name != ".staging"] if out.exists() else []


def _wait_gone(pids_of, timeout: float = 10.0) -> list[int]:
    deadline = time.time() + timeout
    while time.time() < deadline and pids_of():
        time.sleep(0.1)
    return pids_of()


def test_sigkilled_export_leaves_no_orphan_and_no_final_file(tmp_path):
    proc, out = _start_export(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as the OOM killer would
    proc.communicate()
    assert _wait_gone(lambda: _converters(out)) == [], "the converter outlived its parent"
    assert _final_files(out) == []
    assert list((out / ".staging").iterdir())  # the dead run's parts, hidden
    report = zoo.export(_model_file(tmp_path), out, formats=["saved_model"])
    assert report.version == 1
    assert not (out / ".staging").exists()  # the next run removed them


def test_sigterm_cleans_up_at_once(tmp_path):
    proc, out = _start_export(tmp_path)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert _converters(out) == []
    assert not out.exists() or _final_files(out) == []
    assert not (out / ".staging").exists()


def test_sigkilled_training_leaves_no_final_artifact(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "train", "mnist_mlp", "--epochs", "200", "--out",
         str(out), "--verbose", "0"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "training_log.csv").exists():
        time.sleep(0.05)  # the first epoch has ended
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finals = {"model.keras", "metrics.json", "history.json", "history.png"}
    assert not finals & set(_final_files(out))
    for part in (out / ".staging").glob("*") if (out / ".staging").exists() else []:
        assert part.name.startswith(f"{proc.pid}-")  # only the dead writer's parts


def test_cli_run_is_quiet_counts_right_and_shares_its_files(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "mnist_mlp", "--epochs", "1", "--out",
         str(out)],
        env={**ENV, "TF_CPP_MIN_LOG_LEVEL": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for noise in ("absl::InitializeLog", "cuda", "cuInit", "oneDNN", "cpu_feature_guard"):
        assert noise not in proc.stderr, proc.stderr
    steps = proc.stdout.split("/125")[0]  # the bar counts to 125 steps, never past
    assert "128/125" not in proc.stdout and "125/125" in proc.stdout, steps
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.keras", "metrics.json", "history.json", "checkpoints/best.keras"):
        mode = stat.S_IMODE((out / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))
    assert not (out / ".staging").exists()
    export = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "export", str(out / "model.keras"), "--out",
         str(tmp_path / "exported"), "--formats", "tflite"],
        env={**ENV, "TF_CPP_MIN_LOG_LEVEL": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert export.returncode == 0 and export.stderr == "", export.stderr
