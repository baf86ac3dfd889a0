"""What the training programs share: argument parsing, data files, timing, output."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, help="folder of MODEL.npz files")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per model")
    parser.add_argument("--feed", choices=("pipeline", "numpy"), default="pipeline")
    return parser.parse_args()


def arrays(folder: str, model: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``x``, ``y`` and the spec (batch size, builder overrides, task) the harness wrote."""
    with np.load(Path(folder) / f"{model}.npz") as f:
        x, y = f["x"], f["y"]
    spec = json.loads((Path(folder) / f"{model}.json").read_text())
    if spec["task"] == "autoencoder":  # the target is the input
        y = x
    return x, y, spec


def report(model: str, samples: int, fit: Callable[[int], object], epochs: int) -> None:
    """Warm up with one epoch, time ``epochs`` more, print samples per second.

    Both per wall-clock second and per CPU second of this process (all its
    threads): on a shared host whose CPU share varies, the second is the
    steadier measure of the work a program needs.
    """
    fit(1)
    start, cpu = time.perf_counter(), time.process_time()
    fit(epochs)
    _print_row(model, samples * epochs, time.perf_counter() - start, time.process_time() - cpu)


def report_keras(model: str, samples: int, fit: Callable[[int, list], object], epochs: int) -> None:
    """:func:`report` for Keras: one ``fit`` call of 1 + ``epochs`` epochs, the first a
    warm-up, the rest timed by a callback, as a user's run of many epochs goes: the
    setup and teardown of a ``fit`` call are left out, each epoch's own costs are not."""
    import keras

    marks: list[tuple[float, float]] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                marks.append((time.perf_counter(), time.process_time()))

        def on_epoch_end(self, epoch, logs=None):
            if epoch == epochs:
                marks.append((time.perf_counter(), time.process_time()))

    fit(1 + epochs, [Clock()])
    (wall0, cpu0), (wall1, cpu1) = marks
    _print_row(model, samples * epochs, wall1 - wall0, cpu1 - cpu0)


def _print_row(model: str, samples: int, seconds: float, cpu_seconds: float) -> None:
    row = {
        "model": model,
        "samples_per_s": samples / seconds,
        "samples_per_cpu_s": samples / cpu_seconds,
    }
    print(json.dumps(row), flush=True)
