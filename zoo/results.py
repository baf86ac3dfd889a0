"""The zoo's results table: what each entry measured with its own recipe, and published figures.

``python -m benchmarks results`` trains every entry with its recipe on its default
dataset and writes ``zoo/accuracy.csv`` (shipped with the package, so a card can
show its row after ``pip install``) and ``benchmarks/ACCURACY.md``. This module
only reads: ``measured(name)`` is the card's ``results`` key.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

#: The table the results command writes; one row per registered entry.
TABLE = Path(__file__).with_name("accuracy.csv")

#: How a metric's name ends when higher, or lower, is better.
_HIGHER_IS_BETTER = ("accuracy", "auc", "precision", "recall", "exact_match", "bleu")
_LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse", "error", "perplexity", "distance")


def metric_direction(metric: str) -> str | None:
    """``"max"`` or ``"min"``: which way ``metric`` improves, read from its name (the
    results table's targets, the tuner's objective); None when the name does not say."""
    if metric.endswith(_HIGHER_IS_BETTER):
        return "max"
    if metric.endswith(_LOWER_IS_BETTER):
        return "min"
    return None


def lower_is_better(metric: str) -> bool:
    """True for losses, errors, perplexity and distances; False for accuracy-like metrics."""
    return metric_direction(metric) == "min"


@dataclass(frozen=True)
class Published:
    """A figure someone else published for this network, and how its setting differs."""

    value: float
    metric: str
    dataset: str
    source: str
    note: str = ""  # how the published setting differs from the zoo's default

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_KERAS_EXAMPLES = "https://github.com/keras-team/keras/blob/2.3.1/examples"  # Keras 2.3.1

#: Published figures for the same network (or its ancestor) on the named dataset.
PUBLISHED: dict[str, Published] = {
    "mnist_mlp": Published(
        0.984,
        "test_accuracy",
        "MNIST (60k train)",
        f"{_KERAS_EXAMPLES}/mnist_mlp.py",
        "full MNIST, 20 epochs, Dense 512-512 (the zoo's default is 128-64 on 4,500 digits)",
    ),
    "mnist_cnn": Published(
        0.9925,
        "test_accuracy",
        "MNIST (60k train)",
        f"{_KERAS_EXAMPLES}/mnist_cnn.py",
        "full MNIST, 12 epochs (the zoo's default data is 4,500 digits)",
    ),
    "cifar10_cnn": Published(
        0.79,
        "test_accuracy",
        "CIFAR-10 (50k train)",
        f"{_KERAS_EXAMPLES}/cifar10_cnn.py",
        "50 epochs with augmentation, no batch norm",
    ),
    "bert_classifier": Published(
        0.935,
        "test_accuracy",
        "SST-2",
        "Devlin et al. 2019, BERT (GLUE test, BERT-base)",
        "SST-2 movie reviews, not the zoo's default synthetic reviews",
    ),
}


def published(name: str) -> Published | None:
    """Entry ``name``'s published figure: the table above, or its backbone's ImageNet top-1."""
    if name in PUBLISHED:
        return PUBLISHED[name]
    from zoo.registry import get_entry

    backbone = get_entry(name).extra_card.get("backbone")
    if not backbone:
        return None
    return Published(
        backbone["imagenet_top1"] / 100,
        "top1_accuracy",
        "ImageNet (1k classes)",
        "https://keras.io/api/applications/",
        "the backbone on ImageNet, not this head on the zoo's default data (tf_flowers)",
    )


def read_rows(path: Path = TABLE) -> dict[str, dict[str, str]]:
    """The table's rows by entry name; empty when the table was never written."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        return {row["entry"]: row for row in csv.DictReader(f)}


@lru_cache(maxsize=1)
def _rows() -> dict[str, dict[str, str]]:
    return read_rows()


def measured(name: str) -> dict[str, Any] | None:
    """Entry ``name``'s row of the results table as the card shows it, or None when absent."""
    row = _rows().get(name)
    if row is None:
        return None
    out: dict[str, Any] = {
        "status": row["status"],
        "dataset": row["dataset"],
        "data": row["data"],
        "metric": row["metric"],
        "date": row["date"],
    }
    if row["status"] == "measured":
        out.update(
            value=float(row["mean"]),
            std=float(row["std"]),
            seeds=int(row["seeds"]),
            target=float(row["target"]) if row["target"] else None,
        )
    else:
        out["reason"] = row["reason"]
    return out
