"""The learning-rate finder (Leslie Smith's range test, as fastai's ``lr_find`` runs it).

A fresh copy of the model trains on the recipe's data for up to ``steps`` batches
while the learning rate grows exponentially from ``start_lr`` to ``end_lr``; the
sweep stops once the smoothed loss passes four times its minimum. The suggestion
follows fastai's default rule, ``valley``: the longest stretch of the (smoothed)
loss curve that keeps falling, and a point two thirds down that stretch.
Nothing of a training run is touched: only ``lr_find.png`` and ``lr_find.json``
are written.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.staging import check_output_folder, write_atomic

RULE = (
    "valley (fastai's default): 2/3 of the way down the longest stretch of falling smoothed "
    "loss, ignoring the first 10% of the sweep and its last 5 steps"
)


@dataclass
class LRFindResult:
    suggested_lr: float
    rule: str
    lrs: list[float]
    losses: list[float]  # smoothed, as plotted
    files: dict[str, Path] = field(default_factory=dict)


def lr_find(
    name: str,
    *,
    dataset: str | None = None,
    batch_size: int | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
    task: str | None = None,
) -> LRFindResult:
    """Sweep the learning rate on a fresh ``name`` model and the recipe's training data,
    write ``lr_find.png`` and ``lr_find.json`` to ``out_dir`` (default ``saved_models/NAME``)
    and return the suggested rate with the rule used."""
    from recipes.train import build_model, plan, prepare_data
    from zoo.checks import int_in_range, positive_float

    positive_float("start_lr", start_lr)
    positive_float("end_lr", end_lr)
    int_in_range("steps", steps, 10)
    if end_lr <= start_lr:
        raise _invalid(f"end_lr ({end_lr}) must be above start_lr ({start_lr}).")
    out = Path(out_dir) if out_dir is not None else Path("saved_models") / name
    check_output_folder(out, "--out")
    changes = {"dataset": dataset, "batch_size": batch_size, "schedule": "constant",
               "augment": None, "fine_tune_layers": 0}  # fmt: skip
    compile_kw = {**(overrides or {}), "steps_per_execution": 1}  # a rate per step
    run = plan(name, changes, compile_kw, out_dir=out, resume=False, seed=seed, strategy=None,
               task=task, prepare_out=False)  # fmt: skip
    run.verbose = 0
    build_model(run)
    prepare_data(run)
    lrs, raw_losses = _sweep(run.model, run.splits.train, start_lr, end_lr, steps)
    smooth = _smoothed(raw_losses)
    suggested = valley(lrs, smooth)
    result = LRFindResult(suggested, RULE, lrs, smooth)
    result.files = _write(result, out, name)
    return result


def _invalid(message: str) -> Exception:
    from zoo.errors import InvalidArgumentError

    return InvalidArgumentError(message)


def _sweep(model: Any, train: Any, start_lr: float, end_lr: float, steps: int):
    """Per-batch losses while the rate grows from ``start_lr`` by a constant factor."""
    import keras

    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []

    class Sweep(keras.callbacks.Callback):
        mean_before = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            lrs.append(start_lr * factor**batch)
            self.model.optimizer.learning_rate.assign(lrs[-1])

        def on_train_batch_end(self, batch, logs=None):
            mean = float(logs["loss"])  # Keras reports the running mean of the epoch
            losses.append((batch + 1) * mean - batch * self.mean_before)
            self.mean_before = mean
            smooth = _smoothed(losses)
            if not math.isfinite(smooth[-1]) or smooth[-1] > 4 * min(smooth):
                self.model.stop_training = True

    model.fit(train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
              callbacks=[Sweep()])  # fmt: skip
    return lrs[: len(losses)], losses


def _smoothed(losses: list[float], beta: float = 0.98) -> list[float]:
    """fastai's debiased exponential moving average of the losses."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**i))
    return out


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's ``valley`` rule on a sweep (see the module docstring)."""
    n = len(losses)
    skip = n // 10
    lrs, losses = lrs[skip : max(skip + 2, n - 5)], losses[skip : max(skip + 2, n - 5)]
    n = len(losses)
    if n < 3:
        raise _invalid("The sweep stopped too early to suggest a rate; lower start_lr.")
    run_length = [1] * n  # longest falling run ending at each point
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run_length[i] < run_length[j] + 1:
                run_length[i] = run_length[j] + 1
        if run_length[i] > run_length[best_end]:
            best_end = i
    best_start = best_end - run_length[best_end]  # as fastai counts it
    third = (best_end - best_start) / 3
    return float(lrs[best_start + int(third) + int(third / 2)])


def _write(result: LRFindResult, out: Path, name: str) -> dict[str, Path]:
    files = {"plot": out / "lr_find.png", "report": out / "lr_find.json"}
    report = {
        "model": name,
        "suggested_lr": result.suggested_lr,
        "rule": result.rule,
        "sweep": {"learning_rate": result.lrs, "smoothed_loss": result.losses},
    }
    write_atomic(files["report"], lambda p: p.write_text(json.dumps(report, indent=2)))
    write_atomic(files["plot"], lambda p: _plot(result, p, name))
    return files


def _plot(result: LRFindResult, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses)
    ax.set_xscale("log")
    best = int(np.argmin(np.abs(np.log(result.lrs) - math.log(result.suggested_lr))))
    ax.plot([result.suggested_lr], [result.losses[best]], "o", color="red",
            label=f"suggested {result.suggested_lr:.2e} (valley)")  # fmt: skip
    start = result.losses[0]
    ax.set_ylim(min(result.losses) * 0.95, max(start * 1.5, min(result.losses) * 1.5))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title(f"learning-rate finder: {name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
