"""Running compared programs back to back, and describing the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class BenchmarkError(RuntimeError):
    """A compared program failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Program:
    """One way of training: a module under ``benchmarks.programs`` and how it is run."""

    label: str
    module: str
    models: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without what ``import zoo`` added, plus ``extra``.

    The baselines must see TensorFlow's own defaults, not the zoo's.
    """
    from zoo.runtime import APPLIED

    env = {k: v for k, v in os.environ.items() if k not in APPLIED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_program(
    program: Program, data_dir: Path, epochs: int, timeout: float = 1800
) -> dict[str, dict[str, float]]:
    """Per model of ``program.models``, its measures (``samples_per_s``, ...) from one process."""
    cmd = [sys.executable, "-m", f"benchmarks.programs.{program.module}", "--data", str(data_dir)]
    cmd += ["--epochs", str(epochs), *program.args]
    for model in program.models:
        cmd += ["--model", model]
    proc = subprocess.run(
        cmd, env=clean_env(program.env), cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise BenchmarkError(f"{program.label} ({' '.join(cmd)}) failed:\n{tail}")
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            results[row.pop("model")] = row
    missing = set(program.models) - set(results)
    if missing:
        raise BenchmarkError(f"{program.label} printed no result for {sorted(missing)}")
    return results


def alternate(
    programs: Sequence[Program], data_dir: Path, runs: int, epochs: int, log=print
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """``runs`` rounds of every program back to back, the order rotated each round.

    Rotating the order keeps a slow-down that hits one position of a round
    (a warm cache, a noisy neighbour) from landing on the same program.
    """
    samples: dict[str, dict[str, list[dict[str, float]]]] = {p.label: {} for p in programs}
    for r in range(runs):
        shift = r % len(programs)
        for program in [*programs[shift:], *programs[:shift]]:
            for model, value in run_program(program, data_dir, epochs).items():
                samples[program.label].setdefault(model, []).append(value)
            log(f"  run {r + 1}/{runs} {program.label}: done")
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> str:
    """The range of the runs, for the reader to judge the noise."""
    return f"{min(values):,.0f}–{max(values):,.0f}" if len(values) > 1 else "one run"


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("tensorflow", "keras", "torch", "ai-edge-litert", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


#: The CPU flags that decide which kernels run fast (recorded with every result).
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
                "amx_int8")  # fmt: skip


def machine() -> dict[str, str]:
    """CPU, cores, memory and Python: what a reader needs to compare numbers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {
        "cpu": cpu,
        "cpu_family": info.get("cpu family", ""),
        "cpu_flags": " ".join(f for f in VECTOR_FLAGS if f in flags),
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def fp32_peak(info: dict[str, str] | None = None, cores: int | None = None) -> dict[str, Any]:
    """The CPU's fp32 peak: cores x clock x vector lanes x 2 (a fused multiply-add is two
    FLOPs) x FMA units per core, with the rule that gave each factor.

    Lanes: 16 with AVX-512, 8 with AVX2. Units: 2 on Intel's AVX-512 Xeons and on AMD's
    Zen 5 (family 26, full-width 512-bit pipes); AMD's Zen 3 and 4 (family 25) run
    AVX-512 as two 256-bit halves, so 2 units of 8 lanes. Clock: the kernel's ``cpu MHz``
    (in a VM, what the hypervisor reports; boost clocks are not counted).
    """
    info = _cpuinfo() if info is None else info
    cores = cores or os.cpu_count() or 1
    flags = set(info.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    amd = info.get("vendor_id") == "AuthenticAMD"
    family = int(info.get("cpu family", "0") or 0)
    if amd and family < 26:
        lanes = min(lanes, 8)
    units = 2 if "fma" in flags else 1
    ghz = float(info.get("cpu MHz", "0") or 0) / 1000
    gflops = cores * ghz * lanes * 2 * units
    rule = (f"{cores} cores x {ghz:.2f} GHz x {lanes} fp32 lanes x 2 (FMA) x {units} FMA "
            f"units = {gflops:,.0f} GFLOP/s")  # fmt: skip
    return {"gflops": gflops, "cores": cores, "ghz": ghz, "lanes": lanes, "units": units,
            "rule": rule}  # fmt: skip


def matmul_ceiling(size: int = 4096, rounds: int = 5) -> dict[str, Any]:
    """The best fp32 rate this process reached on a large matmul (TensorFlow, oneDNN): what
    the CPU delivers, boost clock included, beside :func:`fp32_peak`'s nominal figure."""
    import time

    import tensorflow as tf

    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product()  # trace and warm up
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        product().numpy()
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    rule = f"best of {rounds} TensorFlow fp32 {size}x{size} matmuls: {best:,.0f} GFLOP/s"
    return {"gflops": best, "rule": rule}


def fraction_of_peak(forward_flops: float, samples_per_s: float, peak_gflops: float) -> float:
    """Training's share of the fp32 peak: a step costs about 3x the forward pass (forward,
    and the gradients with respect to activations and to weights)."""
    return 3 * forward_flops * samples_per_s / (peak_gflops * 1e9)


def stamp() -> dict[str, Any]:
    """Where and when a section was measured (sections can be rerun apart, with --merge)."""
    import time

    return {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def torch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None
