"""Train a registry entry on a dataset and write its artifacts.

``train("mnist_mlp")`` uses the entry's default recipe (its card's dataset,
epochs and batch size), fits the model's input to the data, trains with a
progress bar, evaluates on the held-out test split and writes
``model.keras``, ``history.json``, ``history.png`` and ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zoo
from zoo.artifacts import jsonable, write_atomic
from zoo.errors import InvalidArgumentError


@dataclass
class TrainResult:
    """What a run produced: the model, its history and test metrics, where they were written."""

    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)


def train(
    name: str,
    *,
    dataset: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    overrides: dict[str, Any] | None = None,
    strategy: Any = None,
) -> TrainResult:
    """Train registry entry ``name`` with its default recipe and any overrides."""
    import keras

    entry = zoo.get_entry(name)
    dataset = dataset or entry.dataset
    epochs = entry.epochs if epochs is None else epochs
    batch_size = entry.batch_size if batch_size is None else batch_size
    if epochs < 1:
        raise InvalidArgumentError(f"epochs must be at least 1, got {epochs}.")
    overrides = dict(overrides or {})
    if learning_rate is not None:
        overrides["learning_rate"] = learning_rate
    compile_kw = {
        k: overrides.pop(k) for k in list(overrides) if k in zoo.registry.COMPILE_KEYWORDS
    }
    keras.utils.set_random_seed(seed)

    raw = zoo.data.load_raw(dataset, seed=seed)
    info = raw.info
    kw = zoo.data.model_keywords(entry, info, overrides)
    if isinstance(strategy, str):
        strategy = zoo.distribute.strategy(strategy)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = zoo.data.build_for_data(entry, info, kw, compile_kw)
    splits = zoo.data.pipeline(
        raw, batch_size=batch_size, input_shape=model.input_shape[1:], seed=seed
    )

    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=max(5, epochs // 4), restore_best_weights=True
        ),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    hist = model.fit(
        splits.train,
        validation_data=splits.val,
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline already reshuffles every epoch
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    test = model.evaluate(splits.test, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in test.items()}

    out = Path(out_dir) if out_dir is not None else Path("saved_models") / name
    files = {
        "model": out / "model.keras",
        "history": out / "history.json",
        "plot": out / "history.png",
        "metrics": out / "metrics.json",
    }
    report = {
        "model": name,
        "dataset": info.to_dict(),
        "epochs_planned": epochs,
        "epochs_run": len(history.get("loss", [])),
        "batch_size": batch_size,
        "seed": seed,
        "builder_keywords": jsonable(kw),
        "train_seconds": round(train_seconds, 3),
        "metrics": metrics,
        "versions": _versions(),
    }
    write_atomic(files["model"], lambda p: model.save(p))
    write_atomic(files["history"], lambda p: p.write_text(json.dumps(history, indent=2)))
    from recipes.plots import plot_history

    write_atomic(files["plot"], lambda p: plot_history(history, p, title=f"{name} on {dataset}"))
    write_atomic(files["metrics"], lambda p: p.write_text(json.dumps(report, indent=2)))
    return TrainResult(model, history, metrics, out, files)


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "zoo": zoo.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
    }
