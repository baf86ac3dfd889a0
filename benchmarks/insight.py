"""What ``zoo train --monitor`` (gradient and activation health) costs: the same recipe
trained with and without it, alternated, in one process; the figure is the extra
wall-clock time of the whole run (the monitor's work happens once per epoch)."""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from benchmarks.harness import stamp

MODELS = ("mnist_mlp", "mnist_cnn")


def timed_run(name: str, epochs: int, monitor: bool) -> float:
    import recipes

    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as out:
        start = time.perf_counter()
        recipes.train(name, epochs=epochs, out_dir=out, verbose=0, monitor=monitor)
        return time.perf_counter() - start


def monitor_cost(name: str, epochs: int, rounds: int) -> dict[str, Any]:
    """Median seconds with and without the monitor, alternating which goes first."""
    timed_run(name, 1, False)  # warm-up: data cache, first traces
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(rounds):
        for monitor in (False, True) if r % 2 == 0 else (True, False):
            times[monitor].append(timed_run(name, epochs, monitor))
    plain, watched = statistics.median(times[False]), statistics.median(times[True])
    return {"model": name, "epochs": epochs, "plain_s": plain, "monitor_s": watched,
            "overhead": watched / plain - 1.0, "runs": times}  # fmt: skip


def insight_section(quick: bool, log) -> dict[str, Any]:
    rows = []
    for name in MODELS[:1] if quick else MODELS:
        row = monitor_cost(name, epochs=1 if quick else 3, rounds=1 if quick else 3)
        log(f"  {name}: {row['plain_s']:.1f} s plain, {row['monitor_s']:.1f} s monitored "
            f"({100 * row['overhead']:+.1f}%)")  # fmt: skip
        rows.append(row)
    return {"rows": rows, **stamp()}
