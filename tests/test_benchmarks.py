"""The benchmark harness: alternation, clean baselines, reports, and a smoke run.

Speed itself is never asserted here (docs/ARCHITECTURE.md: benchmarks, not timed tests);
these tests check that the numbers are gathered and reported honestly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import harness, run

ROOT = Path(__file__).resolve().parent.parent


def test_alternate_rotates_the_order_and_keeps_every_run(monkeypatch, tmp_path):
    calls = []

    def fake(program, data_dir, epochs, timeout=0):
        calls.append(program.label)
        return {m: {"samples_per_s": float(len(calls))} for m in program.models}

    monkeypatch.setattr(harness, "run_program", fake)
    progs = [harness.Program(label, "x", ("m",)) for label in ("a", "b", "c")]
    out = harness.alternate(progs, tmp_path, runs=3, epochs=1, log=lambda _: None)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [r["samples_per_s"] for r in out["a"]["m"]] == [1.0, 6.0, 8.0]


def test_baseline_processes_do_not_inherit_the_zoo_runtime_settings(monkeypatch):
    from zoo import runtime

    monkeypatch.setitem(runtime.APPLIED, "TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    env = harness.clean_env({"ZOO_RUNTIME_DEFAULTS": "0"})
    assert "TF_ENABLE_ONEDNN_OPTS" not in env
    assert env["ZOO_RUNTIME_DEFAULTS"] == "0"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)


def test_a_failing_program_raises_with_its_output(tmp_path):
    prog = harness.Program("broken", "keras_tutorial", ("mnist_mlp",))
    with pytest.raises(harness.BenchmarkError, match="broken .*failed"):
        harness.run_program(prog, tmp_path / "missing", epochs=1, timeout=120)


def _results(zoo_sps: float) -> dict:
    row = {
        "model": "mnist_mlp", "batch_size": 32,
        "keras": {"median": 1000.0, "runs": [900.0, 1000.0, 1100.0], "cpu_median": 500.0},
        "zoo": {"median": zoo_sps, "runs": [zoo_sps], "cpu_median": 600.0},
        "torch": {"median": 2000.0, "runs": [2000.0], "cpu_median": 1200.0},
        "zoo / keras": zoo_sps / 1000.0, "zoo / torch": zoo_sps / 2000.0,
        "zoo / keras (CPU s)": 1.2, "zoo / torch (CPU s)": 0.5,
    }  # fmt: skip
    fmt = [
        {"format": "Keras predict", "size_bytes": None, "accuracy": 0.95, "latency_ms": 40.0},
        {"format": "Keras direct call", "size_bytes": None, "accuracy": 0.95, "latency_ms": 2.0},
        {"format": "TFLite float32", "size_bytes": 400_000, "accuracy": 0.95,
         "top1_agreement": 1.0, "latency_ms": 0.02},
        {"format": "TFLite int8", "size_bytes": 100_000, "accuracy": 0.944,
         "top1_agreement": 0.99, "latency_ms": 0.01},
    ]  # fmt: skip
    return {
        "date": "today", "machine": harness.machine(), "versions": harness.versions(),
        "throughput": {"runs": 3, "programs": ["keras", "zoo", "torch"], "rows": [row],
                       "torch": True},
        "export": [{"model": "mnist_mlp", "input_shape": [784], "test_samples": 500,
                    "formats": fmt, "tflite": [
                        {"format": "float32", "threads": 1, "invoke_ms": 0.03, "call_ms": 0.04},
                        {"format": "int8", "threads": 1, "invoke_ms": 0.01, "call_ms": 0.02},
                    ]}],
    }  # fmt: skip


def _cells(markdown: str, first: str) -> list[str]:
    """The cells of the table row starting with ``first``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{markdown}")


def test_report_marks_targets_met_and_missed():
    met = run.render(_results(2500.0))
    assert _cells(met, "mnist_mlp")[-4:] == ["2.50x ✅", "1.25x ✅", "1.20x", "0.50x"]
    assert "900–1,100" in met  # the spread of the runs is shown, not only the median
    missed = run.render(_results(1100.0))
    assert _cells(missed, "mnist_mlp")[-4:] == ["1.10x ❌", "0.55x ❌", "1.20x", "0.50x"]
    head = run.headline(_results(1100.0))
    assert "1.10x the tutorial's Keras code, 0.55x its PyTorch code" in head
    assert "int8 TFLite: 3.0x float32 TFLite's speed at 1 thread, 200x a Keras" in head
    assert "0.944 vs 0.950 float32 (-0.6 points)" in head and "predict" not in head
    assert "vs Keras predict" not in missed and _cells(missed, "Keras direct call")[3] == "1.00x"
    assert _cells(missed, "int8")[-1] == "3.00x"  # mnist_mlp: no int8 target, ratio shown


def test_fp32_peak_counts_cores_clock_lanes_and_fma_units():
    xeon = {"vendor_id": "GenuineIntel", "cpu family": "6", "cpu MHz": "2300.000",
            "flags": "sse avx2 fma avx512f avx512_bf16"}  # fmt: skip
    peak = harness.fp32_peak(xeon, cores=2)
    assert peak["gflops"] == pytest.approx(2 * 2.3 * 16 * 2 * 2)  # 294.4, as the issue counts
    zen4 = {**xeon, "vendor_id": "AuthenticAMD", "cpu family": "25"}
    assert harness.fp32_peak(zen4, cores=2)["lanes"] == 8  # AVX-512 as two 256-bit halves
    zen5 = {**zen4, "cpu family": "26"}
    assert harness.fp32_peak(zen5, cores=2)["gflops"] == pytest.approx(peak["gflops"])
    assert harness.fp32_peak({"flags": "avx2 fma", "cpu MHz": "3000"}, 4)["gflops"] == 384
    assert "2 cores x 2.30 GHz x 16 fp32 lanes" in peak["rule"]


def test_report_gives_each_row_its_fraction_of_peak():
    results = _results(2500.0)
    row = results["throughput"]["rows"][0]
    row["flops"] = 1_000_000  # 3 MFLOP per trained sample
    results["throughput"]["peak"] = {"gflops": 100.0, "rule": "by hand"}
    text = run.render(results).split("### Fraction of the fp32 peak")[1]
    assert "Peak: by hand" in text
    cells = _cells(text, "mnist_mlp")
    assert float(cells[1]) == 1.0  # forward MFLOP per sample
    assert cells[2:] == ["7.5%", "3.0%", "6.0%"]  # 3e6 x 2,500 / 1e11, then keras and torch
    row["model"] = "cifar10_cnn"
    text = run.render(results).split("### Fraction of the fp32 peak")[1]
    assert _cells(text, "cifar10_cnn")[2] == "7.5% ❌ (goal 50%)"
    results["throughput"]["ceiling"] = {"gflops": 150.0, "rule": "a matmul by hand"}
    text = run.render(results).split("### Fraction of the fp32 peak")[1]
    assert _cells(text, "cifar10_cnn")[-1] == "5.0%"  # 3e6 x 2,500 / 1.5e11
    assert "zoo, of 150 GFLOP/s" in text and "(a matmul by hand, 150% of the computed peak" in text


def test_matmul_ceiling_measures_a_rate():
    ceiling = harness.matmul_ceiling(size=256, rounds=2)
    assert ceiling["gflops"] > 0.1 and "256x256" in ceiling["rule"]


def test_report_shows_the_zoo_on_the_other_backends_against_tensorflow(monkeypatch):
    results = _results(2500.0)
    row = results["throughput"]["rows"][0]
    row["zoo on jax"] = {"median": 5000.0, "runs": [5000.0], "cpu_median": 900.0}
    row["jax / tensorflow"] = 2.0
    results["throughput"]["programs"].append("zoo on jax")
    assert "5,000 (one run)" in _cells(run.render(results), "mnist_mlp")
    assert "(against TensorFlow: 2.00x on jax)" in run.headline(results)
    monkeypatch.setattr(run, "torch_available", lambda: False)
    labels = {p.label: p for p in run.programs(("mnist_mlp", "gan"))}
    assert labels["zoo on jax"].models == labels["zoo on torch"].models == ("mnist_mlp", "gan")
    assert labels["zoo on jax"].env == {"KERAS_BACKEND": "jax"}


def test_readme_block_is_replaced_and_only_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\nb\n")
    run.update_readme("new line", readme)
    block = "<!-- benchmarks:start -->\nnew line\n<!-- benchmarks:end -->"
    assert readme.read_text() == f"a\n{block}\nb\n"
    readme.write_text("no block")
    with pytest.raises(harness.BenchmarkError, match="benchmarks:start"):
        run.update_readme("x", readme)


@pytest.mark.slow
def test_quick_run_measures_and_writes_results(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--runs", "1",
         "--only", "throughput,pipeline", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (data,) = json.loads(out.with_suffix(".json").read_text())["hosts"].values()
    row = data["throughput"]["rows"][0]
    assert row["model"] == "mnist_mlp"
    for label in ("keras", "zoo", "keras + oneDNN", "zoo, NumPy fit"):
        assert row[label]["median"] > 0
    assert row["zoo / keras"] == pytest.approx(row["zoo"]["median"] / row["keras"]["median"])
    assert row["zoo"]["cpu_median"] > 0
    assert ("torch" in row) == harness.torch_available()
    pipe = {r["model"]: r for r in data["pipeline"]}
    assert pipe["mnist_mlp"]["training_samples_per_s"] == row["zoo"]["median"]
    text = out.read_text()
    assert "## Training throughput" in text and _cells(text, "mnist_mlp")[1] == "32"
    assert "## Input pipeline" in text
    assert row["flops"] > 0 and data["throughput"]["peak"]["gflops"] > 0
    assert "### Fraction of the fp32 peak" in text


def test_each_host_keeps_its_own_dated_section(tmp_path):
    """A run on one host replaces that host's section only; an older flat RESULTS.json is
    read as one host's."""
    intel = {**_results(2500.0), "date": "2026-11-18 10:00 UTC",
             "machine": {**harness.machine(), "cpu": "Intel Xeon", "cores": "2"}}  # fmt: skip
    amd = {**_results(1100.0), "date": "2026-11-25 22:30 UTC",
           "machine": {**harness.machine(), "cpu": "AMD EPYC", "cores": "2"}}  # fmt: skip
    saved = tmp_path / "RESULTS.json"
    saved.write_text(json.dumps(intel))
    assert list(run.load_hosts(saved)) == ["Intel Xeon, 2 cores"]
    hosts = {**run.load_hosts(saved), "AMD EPYC, 2 cores": amd}
    text = run.render_hosts(hosts, "AMD EPYC, 2 cores")
    amd_part, intel_part = text.split("## Intel Xeon, 2 cores: 2026-11-18 10:00 UTC")
    assert "## AMD EPYC, 2 cores: 2026-11-25 22:30 UTC" in amd_part
    assert _cells(amd_part, "mnist_mlp")[-4:] == ["1.10x ❌", "0.55x ❌", "1.20x", "0.50x"]
    assert _cells(intel_part, "mnist_mlp")[-4:] == ["2.50x ✅", "1.25x ✅", "1.20x", "0.50x"]
    assert "\n### Training throughput" in intel_part and text.count("\n# Benchmarks") == 0


def test_rerunning_some_models_replaces_only_their_rows():
    earlier = _results(2500.0)["throughput"]
    rerun = _results(1100.0)["throughput"]
    rerun["programs"] = ["keras", "zoo", "zoo on jax"]
    merged = run.merge_throughput(earlier, rerun, "later")
    assert [r["zoo"]["median"] for r in merged["rows"]] == [1100.0]
    assert merged["programs"] == ["keras", "zoo", "torch", "zoo on jax"]
    assert merged["reruns"] == [{"date": "later", "models": ["mnist_mlp"], "runs": 3}]
    results = {**_results(2500.0), "throughput": merged}
    assert "Rows rerun on later (3 runs each), the rest from the run above: mnist_mlp." in (
        run.render(results)
    )


def test_unknown_section_is_refused():
    with pytest.raises(SystemExit):
        run.main(["--only", "speed"])


def test_serving_load_counts_every_request_and_failure():
    from benchmarks.serving import run_load

    calls = []

    def make():
        def send():
            calls.append(1)
            if len(calls) % 4 == 0:
                raise RuntimeError("HTTP 500")

        return send

    result = run_load(make, clients=3, seconds=0.3)
    assert result["requests"] + result["failures"] == len(calls)
    assert result["failures"] == len(calls) // 4 and "HTTP 500" in result["first_failure"]
    assert result["p50_ms"] <= result["p99_ms"]


def test_serving_report_compares_each_server_with_the_baseline():
    rows = []
    for clients, base in ((1, 30.0), (32, 40.0)):
        for system, rate, p99 in (("zoo REST", 10 * base, 5.0), ("zoo gRPC", 4 * base, 50.0),
                                  ("FastAPI + predict", base, 20.0)):  # fmt: skip
            measured = {"requests_per_s": rate, "p50_ms": 1.0, "p99_ms": p99, "failures": 0}
            rows.append({"model": "mnist_mlp", "clients": clients, "system": system, **measured})
    section = {"seconds": 8, "rows": rows, "date": "2026-11-25 17:00 UTC",
               "machine": {"cpu": "AMD EPYC", "cores": "2"}}  # fmt: skip
    text = "\n".join(run.render_serving(section))
    assert "AMD EPYC" in text
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in text.splitlines()
            if ln.startswith("| mnist_mlp")]  # fmt: skip
    assert ["mnist_mlp", "32", "10.00x ✅", "yes", "4.00x ❌", "no"] in rows
    assert ["mnist_mlp", "1", "10.00x", "yes", "4.00x", "no"] in rows  # targets at 32 only
