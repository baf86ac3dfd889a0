"""Train a registry entry on a dataset and write its artifacts.

``train("mnist_mlp")`` uses the entry's default recipe (its card's dataset,
epochs and batch size), fits the model's input to the data, trains with a
progress bar, evaluates on the held-out test split and writes
``model.keras``, ``history.json``, ``history.png`` and ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zoo
from zoo.artifacts import jsonable, write_atomic


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
    augment: str | None = "default",
    fine_tune_layers: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_lr: float | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    overrides: dict[str, Any] | None = None,
    strategy: Any = None,
) -> TrainResult:
    """Train registry entry ``name`` with its recipe (``recipes.get(name)``) and any overrides.

    ``augment``: a ``recipes.augment`` name, ``"none"``, or ``"default"`` (the
    recipe's). ``fine_tune_layers`` > 0 adds phase 2 for transfer models.
    """
    import keras

    from recipes.augment import augmentation
    from recipes.recipe import get as get_recipe
    from recipes.transfer import continue_fine_tuning

    entry = zoo.get_entry(name)
    changes: dict[str, Any] = {
        "dataset": dataset,
        "epochs": epochs,
        "batch_size": batch_size,
        "fine_tune_layers": fine_tune_layers,
        "fine_tune_epochs": fine_tune_epochs,
        "fine_tune_lr": fine_tune_lr,
    }
    if augment != "default":
        changes["augment"] = augment
    recipe = get_recipe(name).replace(**changes)
    overrides = dict(overrides or {})
    if learning_rate is not None:
        overrides["learning_rate"] = learning_rate
    compile_kw = {
        k: overrides.pop(k) for k in list(overrides) if k in zoo.registry.COMPILE_KEYWORDS
    }
    from zoo.models.transfer import check_weights

    check_weights(name, overrides.get("weights", entry.defaults().get("weights")))  # fail fast
    keras.utils.set_random_seed(seed)

    raw = zoo.data.load_raw(recipe.dataset, seed=seed)
    info = raw.info
    kw = zoo.data.model_keywords(entry, info, overrides)
    if isinstance(strategy, str):
        strategy = zoo.distribute.strategy(strategy)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = zoo.data.build_for_data(entry, info, kw, compile_kw)
    input_shape = model.input_shape[1:]
    augmenter = None
    if recipe.augment is not None and info.modality == "image":
        value_range = (0.0, 255.0) if entry.raw_pixels else (0.0, 1.0)
        augmenter = augmentation(recipe.augment, input_shape, value_range=value_range, seed=seed)
    splits = zoo.data.pipeline(
        raw,
        batch_size=recipe.batch_size,
        input_shape=input_shape,
        rescale=not entry.raw_pixels,
        augment=augmenter,
        seed=seed,
    )

    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=max(5, recipe.epochs // 4), restore_best_weights=True
        ),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    hist = model.fit(
        splits.train,
        validation_data=splits.val,
        epochs=recipe.epochs,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline already reshuffles every epoch
        verbose=verbose,
    )
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    phases = {"phase1_epochs": len(history.get("loss", []))}
    if recipe.fine_tune_layers:
        tuned = continue_fine_tuning(
            model,
            splits.train,
            splits.val,
            initial_epoch=phases["phase1_epochs"],
            fine_tune_epochs=recipe.fine_tune_epochs,
            fine_tune_layers=recipe.fine_tune_layers,
            fine_tune_lr=recipe.fine_tune_lr,
            callbacks=callbacks,
            verbose=verbose,
        )
        for k, vals in tuned.history.items():
            history.setdefault(k, [float("nan")] * phases["phase1_epochs"]).extend(vals)
        phases.update(fine_tune_lr=tuned.fine_tune_lr, unfrozen_layers=len(tuned.unfrozen))
    train_seconds = time.perf_counter() - start
    test = model.evaluate(splits.test, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in test.items()}
    epochs = recipe.epochs + (recipe.fine_tune_epochs if recipe.fine_tune_layers else 0)
    dataset = recipe.dataset

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
        "recipe": dataclasses.asdict(recipe),
        "epochs_planned": epochs,
        "epochs_run": len(history.get("loss", [])),
        "phases": phases,
        "batch_size": recipe.batch_size,
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
