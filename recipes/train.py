"""Train a registry entry on a dataset and write its artifacts.

``train("mnist_mlp")`` follows the entry's recipe (``recipes.get``): dataset,
epochs, batch size, schedule, augmentation, fine-tuning phases. It fits the
model's input to the data, trains with the standard callbacks, evaluates on
the held-out test split and writes, under ``saved_models/NAME/``:
``model.keras``, ``history.json``, ``history.png``, ``metrics.json`` (test
metrics and the full evaluation report), ``confusion_matrix.png``
(classifiers), ``training_log.csv`` and ``checkpoints/best.keras``.

A run killed midway resumes with ``resume=True`` (``zoo train ... --resume``)
from the last epoch-end backup and stops at the planned number of epochs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zoo
from zoo.artifacts import jsonable, library_versions, write_atomic
from zoo.errors import InvalidArgumentError, ZooError
from zoo.staging import check_output_folder


class TrainingDivergedError(ZooError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What a run produced: the model, its history and test metrics, where they were written."""

    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def train(
    name: str,
    *,
    dataset: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    schedule: str | None = None,
    augment: str | None = "default",
    class_weight: str | None = None,
    precision: str | None = None,
    fine_tune_layers: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_lr: float | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    tensorboard: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
    overrides: dict[str, Any] | None = None,
    strategy: Any = None,
    task: str | None = None,
) -> TrainResult:
    """Train registry entry ``name`` with its recipe (``recipes.get(name)``) and any overrides.

    ``augment``: a ``recipes.augment`` name, ``"none"``, or ``"default"`` (the
    recipe's). ``schedule``: a ``recipes.schedules`` name. ``class_weight``:
    ``"balanced"`` weighs classes by inverse frequency. ``precision``:
    ``float32``, ``mixed_bfloat16`` or ``mixed_float16``. ``fine_tune_layers``
    > 0 adds phase 2 for transfer models. ``task`` (``"classification"`` or
    ``"regression"``) says what a CSV's label column is when the data cannot tell.
    """
    from zoo.backbones import preflight
    from zoo.checks import check_numbers

    check_numbers(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "fine_tune_epochs": fine_tune_epochs,
            "fine_tune_layers": fine_tune_layers,
            "fine_tune_lr": fine_tune_lr,
            "seed": seed,
            **(overrides or {}),
        }
    )
    # before TensorFlow is imported: offline without cached weights fails in a second
    preflight(name, (overrides or {}).get("weights", "imagenet"))
    if dataset is not None:
        from zoo.data.remote import preflight as dataset_preflight

        dataset_preflight(dataset)
    import keras

    from recipes.recipe import get as get_recipe

    if isinstance(strategy, str):  # first: multi-worker collectives must precede any TF op
        strategy = zoo.distribute.strategy(strategy)
    entry = zoo.get_entry(name)
    changes: dict[str, Any] = {
        "dataset": dataset,
        "epochs": epochs,
        "batch_size": batch_size,
        "schedule": schedule,
        "class_weight": class_weight,
        "precision": precision,
        "fine_tune_layers": fine_tune_layers,
        "fine_tune_epochs": fine_tune_epochs,
        "fine_tune_lr": fine_tune_lr,
        "learning_rate": learning_rate,
    }
    if augment != "default":
        changes["augment"] = augment
    recipe = get_recipe(name).replace(**changes)
    if recipe.class_weight is not None and entry.task not in ("classification", "binary"):
        raise InvalidArgumentError("class_weight applies to classifiers only.")
    final = Path(out_dir) if out_dir is not None else Path("saved_models") / name
    check_output_folder(final, "--out")
    # under multi-worker training only the chief writes the run's artifacts and backup;
    # the other workers keep their own log and checkpoints apart and restore from the
    # chief's backup (same weights everywhere, same epoch on resume)
    chief = zoo.distribute.is_chief()
    out = final if chief else final / "workers" / "{}-{}".format(*zoo.distribute.task())
    overrides = dict(overrides or {})
    if recipe.learning_rate is not None:
        overrides.setdefault("learning_rate", recipe.learning_rate)
    compile_kw = {
        k: overrides.pop(k) for k in list(overrides) if k in zoo.registry.COMPILE_KEYWORDS
    }
    zoo.registry.validate_overrides(entry, overrides)  # a misspelled keyword fails here
    keras.utils.set_random_seed(seed)

    raw = zoo.data.load_raw(recipe.dataset, seed=seed, **_data_options(entry, recipe, task))
    # only now, with the data read and checked, is the last run's state touched
    _prepare_out_dir(out, resume, backup=final / "backup", owner=chief)
    with _precision(recipe.precision):
        return _run(entry, recipe, raw, overrides, compile_kw, out, strategy, tensorboard,
                    seed, verbose)  # fmt: skip


def _run(entry, recipe, raw, overrides, compile_kw, out, strategy, tensorboard, seed, verbose):

    from recipes import callbacks as cbs
    from recipes.augment import augmentation
    from recipes.schedules import make_schedule
    from recipes.transfer import continue_fine_tuning

    info = raw.info
    chief = zoo.distribute.is_chief()
    backup_dir = (out if chief else out.parent.parent) / "backup"
    kw = zoo.data.model_keywords(entry, info, overrides)
    steps = math.ceil(max(1, info.sizes.get("train", 1)) / recipe.batch_size)
    if recipe.schedule != "constant":
        base_lr = compile_kw.get("learning_rate") or entry.compile_config().get(
            "learning_rate", 1e-3
        )
        compile_kw["learning_rate"] = make_schedule(
            recipe.schedule, float(base_lr), steps * recipe.epochs
        )
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = zoo.data.build_for_data(entry, info, kw, compile_kw)
    # what the data must look like: GANs and diffusion train on their output images
    input_shape = (
        model.output_shape[1:] if entry.task in ("gan", "diffusion") else model.input_shape[1:]
    )
    augmenter = None
    if recipe.augment is not None and info.modality == "image":
        value_range = (0.0, 255.0) if entry.raw_pixels else (0.0, 1.0)
        augmenter = augmentation(recipe.augment, input_shape, value_range=value_range, seed=seed)
    vectorizer = getattr(model, "tokenize", None)  # models that carry their own tokenizer
    if vectorizer is None and info.modality == "text" and entry.task != "language_model":
        from recipes.text import adapt_vectorizer

        vectorizer = adapt_vectorizer(
            raw.train, vocab_size=kw.get("vocab_size", 20000), sequence_length=input_shape[0]
        )
    splits = zoo.data.pipeline(
        raw,
        batch_size=recipe.batch_size,  # the global batch: strategies split it across replicas
        input_shape=input_shape,
        rescale=not entry.raw_pixels,
        augment=augmenter,
        vectorize=vectorizer,
        seed=seed,
    )
    if strategy is not None:
        splits.train, splits.val, splits.test = (
            zoo.distribute.shard_for(strategy, d) for d in (splits.train, splits.val, splits.test)
        )
    weights = _class_weights(raw.train, info) if recipe.class_weight else None
    generative = entry.task in ("autoencoder", "gan", "diffusion")
    if entry.task == "autoencoder":  # the target is the input
        splits.train, splits.val, splits.test = (
            d.map(lambda x, y: (x, x)) for d in (splits.train, splits.val, splits.test)
        )
    extra_callbacks = []
    if generative:
        from recipes.quality import real_images

        extra_callbacks.append(cbs.sample_grid(out, images=real_images(splits.val, 8)))
    monitor = None if entry.task in ("gan", "diffusion") else "val_loss"

    start = time.perf_counter()
    model.fit(
        splits.train,
        validation_data=splits.val,
        epochs=recipe.epochs,
        callbacks=cbs.standard(
            out,
            epochs=recipe.epochs,
            monitor=monitor,
            reduce_lr=recipe.schedule == "constant",
            tensorboard=tensorboard,
            backup_dir=backup_dir,
            backup_read_only=not chief,
        )
        + extra_callbacks,
        class_weight=weights,
        shuffle=False,  # the tf.data pipeline already reshuffles every epoch
        verbose=verbose,
    )
    _check_finite(model, out)
    phases: dict[str, Any] = {"phase1_epochs": recipe.epochs}
    if recipe.fine_tune_layers:
        tuned = continue_fine_tuning(
            model,
            splits.train,
            splits.val,
            initial_epoch=recipe.epochs,
            fine_tune_epochs=recipe.fine_tune_epochs,
            fine_tune_layers=recipe.fine_tune_layers,
            fine_tune_lr=recipe.fine_tune_lr,
            callbacks=cbs.standard(
                out,
                epochs=recipe.fine_tune_epochs,
                tensorboard=tensorboard,
                phase="phase2",
                backup_dir=backup_dir,
                backup_read_only=not chief,
            ),
            verbose=verbose,
        )
        _check_finite(model, out)
        phases.update(fine_tune_lr=tuned.fine_tune_lr, unfrozen_layers=len(tuned.unfrozen))
    train_seconds = time.perf_counter() - start
    history = _read_log(out / "training_log.csv")

    test = model.evaluate(splits.test, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in test.items()}
    from recipes.evaluate import evaluate, plot_confusion_matrix

    if entry.task == "language_model" and hasattr(model, "generate"):
        evaluation = evaluate(model, splits.test, task=entry.task)
        evaluation.update(_generation_bleu(model, raw.test))
    elif generative:
        from recipes.quality import generative_report

        evaluation = generative_report(model, entry.task, splits.test, recipe.dataset)
    else:
        evaluation = evaluate(model, splits.test, task=entry.task, class_names=info.class_names)
    epochs = recipe.epochs + (recipe.fine_tune_epochs if recipe.fine_tune_layers else 0)
    files = {
        "model": out / "model.keras",
        "history": out / "history.json",
        "plot": out / "history.png",
        "metrics": out / "metrics.json",
        "log": out / "training_log.csv",
    }
    report = {
        "model": entry.name,
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
        "evaluation": evaluation,
        "versions": library_versions(),
    }
    if not chief:
        return TrainResult(model, history, metrics, out, {"log": files["log"]}, report)
    if vectorizer is not None and not hasattr(model, "tokenize"):
        from recipes.text import FILENAME, save_vectorizer

        files["vocabulary"] = out / FILENAME
        save_vectorizer(vectorizer, files["vocabulary"])
    write_atomic(files["model"], lambda p: model.save(p))
    write_atomic(files["history"], lambda p: p.write_text(json.dumps(history, indent=2)))
    from recipes.plots import plot_history

    title = f"{entry.name} on {recipe.dataset}"
    write_atomic(files["plot"], lambda p: plot_history(history, p, title=title))
    if "confusion_matrix" in evaluation:
        files["confusion"] = out / "confusion_matrix.png"
        write_atomic(files["confusion"], lambda p: plot_confusion_matrix(evaluation, p, title))
    write_atomic(files["metrics"], lambda p: p.write_text(json.dumps(report, indent=2)))
    shutil.rmtree(backup_dir, ignore_errors=True)  # the run is complete: nothing to resume
    return TrainResult(model, history, metrics, out, files, report)


def _data_options(entry: Any, recipe: Any, task: str | None) -> dict[str, Any]:
    """Options for a user's CSV: what its label column is, from ``task`` or the model."""
    csv_file = Path(recipe.dataset).suffix.lower() in (".csv", ".tsv", ".txt")
    if task is not None and not csv_file:
        raise InvalidArgumentError(
            f"task={task!r} applies to a CSV file; dataset {recipe.dataset!r} already says "
            "what it holds. Drop --task."
        )
    if task is None and entry.task == "regression":
        task = "regression"  # a regression model reads whole-number labels as quantities
    return {"task": task} if csv_file and task else {}


def _generation_bleu(model: Any, test: Any, prompts: int = 3, length: int = 60) -> dict:
    """Character BLEU of greedy continuations of held-out text against what really follows."""
    import numpy as np

    from recipes.evaluate import bleu
    from zoo.text import decode

    scores = []
    for x, y in test.take(prompts):
        ids = np.asarray(x)
        half = len(ids) // 2
        prompt, reference = decode(ids[:half]), decode(np.asarray(y)[half - 1 : half - 1 + length])
        scores.append(bleu(reference, model.generate(prompt, len(reference), temperature=0)))
    return {"bleu_char": float(np.mean(scores)) if scores else None, "bleu_prompts": len(scores)}


def _prepare_out_dir(out: Path, resume: bool, *, backup: Path, owner: bool) -> None:
    """A fresh run clears the last run's backup and log; a resumed run needs the backup.

    Only the backup's ``owner`` (the chief) deletes it; other workers only read it, so a
    resumable multi-worker run needs ``out_dir`` on a filesystem every worker sees.
    """
    if resume:
        if not backup.is_dir():
            raise InvalidArgumentError(
                f"Nothing to resume in {backup.parent}/ (no backup/ folder): the last run "
                "there finished or never started. Run again without --resume."
            )
        return
    if owner:
        shutil.rmtree(backup, ignore_errors=True)
    (out / "training_log.csv").unlink(missing_ok=True)
    for old in ("best.keras", "last.keras"):  # an earlier run's: never this run's "last good"
        (out / "checkpoints" / old).unlink(missing_ok=True)


@contextlib.contextmanager
def _precision(policy: str):
    """Set Keras's global dtype policy for the build and fit, and put it back after."""
    import keras

    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _class_weights(train: Any, info: Any) -> dict[int, float]:
    """Inverse-frequency ("balanced") weights from the training labels."""
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray([int(np.asarray(label).reshape(-1)[0]) for _, label in train])
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {int(c): float(w) for c, w in zip(classes, weights)}


def _check_finite(model: Any, out: Path) -> None:
    """After TerminateOnNaN stopped a run: say so, keep the last good checkpoint."""
    history = getattr(model, "history", None)
    logs = history.history if history is not None else {}
    losses = [v for k, vals in logs.items() if k.endswith("loss") for v in vals]
    if all(math.isfinite(v) for v in losses):
        return
    losses = next((vals for k, vals in logs.items() if k.endswith("loss")), [])
    best = out / "checkpoints" / "best.keras"
    kept = f"The last good checkpoint is {best}." if best.exists() else "No epoch finished cleanly."
    raise TrainingDivergedError(
        f"Training stopped: the loss became NaN/inf at epoch {len(losses)}. {kept} Lower the "
        "learning rate (--lr), add gradient clipping (--set clipnorm=1.0) or check the data "
        "for NaNs."
    )


def _read_log(path: Path) -> dict[str, list[float]]:
    """The full history from the CSV log, across a resumed run's processes and both phases."""
    if not path.exists():
        return {}
    rows: dict[int, dict[str, str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            rows[int(row.pop("epoch"))] = row  # a replayed epoch keeps its last row
    history: dict[str, list[float]] = {}
    keys = sorted({k for r in rows.values() for k in r})
    for epoch in sorted(rows):
        for k in keys:
            value = rows[epoch].get(k)
            history.setdefault(k, []).append(float(value) if value not in (None, "") else math.nan)
    return history
