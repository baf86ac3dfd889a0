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
from zoo.errors import InvalidArgumentError, ZooError
from zoo.reports import jsonable, library_versions
from zoo.staging import check_output_folder, write_atomic


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


@dataclass
class Run:
    """One training run, passed from phase to phase: what was asked, then what was made."""

    entry: Any
    recipe: Any
    raw: Any
    overrides: dict[str, Any]  # builder keywords
    compile_kw: dict[str, Any]
    out: Path
    backup_dir: Path
    chief: bool
    strategy: Any = None
    tensorboard: bool = False
    seed: int = 0
    verbose: int | str = "auto"
    keywords: dict[str, Any] = field(default_factory=dict)  # builder keywords fitted to data
    model: Any = None
    splits: Any = None
    vectorizer: Any = None  # a TextVectorization to save beside the model
    phases: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    baselines: dict[str, Any] = field(default_factory=dict)
    monitor: bool = False  # gradient and activation health (recipes.monitor)
    health: dict[str, Any] = field(default_factory=dict)


def train(
    name: str,
    *,
    dataset: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | str | None = None,
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
    monitor: bool = False,
) -> TrainResult:
    """Train registry entry ``name`` with its recipe (``recipes.get(name)``) and any overrides.

    ``augment``: a ``recipes.augment`` name, ``"none"``, or ``"default"`` (the
    recipe's). ``schedule``: a ``recipes.schedules`` name. ``class_weight``:
    ``"balanced"`` weighs classes by inverse frequency. ``precision``:
    ``float32``, ``mixed_bfloat16`` or ``mixed_float16``. ``fine_tune_layers``
    > 0 adds phase 2 for transfer models. ``task`` (``"classification"`` or
    ``"regression"``) says what a CSV's label column is when the data cannot tell.
    ``learning_rate="auto"`` runs the learning-rate finder first (``recipes.lr_find``)
    and trains at its suggestion. ``monitor`` records gradient and activation health
    (``recipes.monitor``: ``gradients.png``, ``gradient_health`` in ``metrics.json``).

    The phases, in order: :func:`plan` (check everything, read the data),
    :func:`build_model`, :func:`prepare_data`, :func:`fit`, :func:`evaluate_run` and
    :func:`write_artifacts`.
    """
    if monitor:
        _check_monitor(name)  # before anything is read or written
    if learning_rate == "auto":
        learning_rate = _found_learning_rate(name, dataset, batch_size, overrides, out_dir,
                                             seed, task)  # fmt: skip
    changes = {
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
    run = plan(name, changes, dict(overrides or {}), out_dir=out_dir, resume=resume, seed=seed,
               strategy=strategy, task=task)  # fmt: skip
    run.tensorboard, run.verbose, run.monitor = tensorboard, verbose, monitor
    with _precision(run.recipe.precision):
        build_model(run)
        prepare_data(run)
        fit(run)
        metrics, evaluation = evaluate_run(run)
        return write_artifacts(run, metrics, evaluation)


def _found_learning_rate(name, dataset, batch_size, overrides, out_dir, seed, task) -> float:
    from recipes.lr_find import lr_find

    found = lr_find(name, dataset=dataset, batch_size=batch_size, overrides=overrides,
                    out_dir=out_dir, seed=seed, task=task)  # fmt: skip
    print(f"learning rate: {found.suggested_lr:.3g}, suggested by the finder ({found.rule})")
    return found.suggested_lr


def plan(name: str, changes: dict[str, Any], overrides: dict[str, Any], *, out_dir, resume: bool,
         seed: int, strategy: Any, task: str | None, prepare_out: bool = True) -> Run:  # fmt: skip
    """Check every argument, read and check the data, and only then prepare the out folder
    (not at all with ``prepare_out=False``: the learning-rate finder leaves a run alone)."""
    from zoo.backbones import preflight
    from zoo.checks import check_numbers

    check_numbers({**changes, "seed": seed, **overrides})
    # before TensorFlow is imported: offline without cached weights fails in a second
    preflight(name, overrides.get("weights", "imagenet"))
    if changes["dataset"] is not None:
        from zoo.data.remote import preflight as dataset_preflight

        dataset_preflight(changes["dataset"])
    import keras

    from recipes.recipe import get as get_recipe

    if isinstance(strategy, str):  # first: multi-worker collectives must precede any TF op
        strategy = zoo.distribute.strategy(strategy)
    entry = zoo.get_entry(name)
    recipe = get_recipe(name).replace(**changes)
    if recipe.class_weight is not None and not entry.task_spec.classifier:
        raise InvalidArgumentError("class_weight applies to classifiers only.")
    final = Path(out_dir) if out_dir is not None else Path("saved_models") / name
    check_output_folder(final, "--out")
    if recipe.learning_rate is not None:
        overrides.setdefault("learning_rate", recipe.learning_rate)
    compile_kw = {
        k: overrides.pop(k) for k in list(overrides) if k in zoo.registry.COMPILE_KEYWORDS
    }
    zoo.registry.validate_overrides(entry, overrides)  # a misspelled keyword fails here
    keras.utils.set_random_seed(seed)
    options = _data_options(entry, recipe, task, overrides)
    raw = zoo.data.load_raw(recipe.dataset, seed=seed, **options)
    # under multi-worker training only the chief writes the run's artifacts and backup;
    # the other workers keep their own log and checkpoints apart and restore from the
    # chief's backup (same weights everywhere, same epoch on resume)
    chief = zoo.distribute.is_chief()
    out = final if chief else final / "workers" / "{}-{}".format(*zoo.distribute.task())
    # only now, with the data read and checked, is the last run's state touched
    if prepare_out:
        _prepare_out_dir(out, resume, backup=final / "backup", owner=chief)
    return Run(entry, recipe, raw, overrides, compile_kw, out, final / "backup", chief,
               strategy=strategy, seed=seed)  # fmt: skip


def build_model(run: Run) -> None:
    """Builder keywords fitted to the data, the learning-rate schedule, the compiled model."""
    from recipes.schedules import make_schedule

    entry, recipe, info = run.entry, run.recipe, run.raw.info
    run.keywords = zoo.data.model_keywords(entry, info, run.overrides)
    if recipe.schedule != "constant":
        steps = math.ceil(max(1, info.sizes.get("train", 1)) / recipe.batch_size)
        base_lr = run.compile_kw.get("learning_rate") or entry.compile_config().get(
            "learning_rate", 1e-3
        )
        run.compile_kw["learning_rate"] = make_schedule(
            recipe.schedule, float(base_lr), steps * recipe.epochs
        )
    scope = run.strategy.scope() if run.strategy is not None else contextlib.nullcontext()
    with scope:
        run.model = zoo.data.build_for_data(entry, info, run.keywords, run.compile_kw)


def prepare_data(run: Run) -> None:
    """Batched splits shaped like the model's input (or output, for GANs and diffusion):
    augmentation, text vectorization, sharding across workers, autoencoder targets."""
    from recipes.augment import augmentation

    entry, recipe, info, model = run.entry, run.recipe, run.raw.info, run.model
    task = entry.task_spec
    input_shape = task.data_shape(model)  # GANs and diffusion: the images they make
    augmenter = None
    if recipe.augment is not None and info.modality == "image":
        value_range = (0.0, 255.0) if entry.raw_pixels else (0.0, 1.0)
        augmenter = augmentation(recipe.augment, input_shape, value_range=value_range,
                                 seed=run.seed)  # fmt: skip
    vectorizer = getattr(model, "tokenize", None)  # models that carry their own tokenizer
    if vectorizer is None and info.modality == "text" and not task.text_only:
        from recipes.text import adapt_vectorizer

        vectorizer = adapt_vectorizer(run.raw.train, vocab_size=run.keywords.get(
            "vocab_size", 20000), sequence_length=input_shape[0])  # fmt: skip
        run.vectorizer = vectorizer
    splits = zoo.data.pipeline(
        run.raw,
        batch_size=recipe.batch_size,  # the global batch: strategies split it across replicas
        input_shape=input_shape,
        rescale=not entry.raw_pixels,
        augment=augmenter,
        vectorize=vectorizer,
        seed=run.seed,
    )
    parts = (splits.train, splits.val, splits.test)
    if run.strategy is not None:
        parts = tuple(zoo.distribute.shard_for(run.strategy, d) for d in parts)
    parts = tuple(task.training_pairs(d) for d in parts)  # autoencoders: (x, x)
    splits.train, splits.val, splits.test = parts
    run.splits = splits


def fit(run: Run) -> None:
    """Phase 1 with the standard callbacks, then the optional fine-tuning phase."""
    from recipes import callbacks as cbs
    from recipes.transfer import continue_fine_tuning

    entry, recipe, splits, model = run.entry, run.recipe, run.splits, run.model
    task = entry.task_spec
    extra = []
    if task.report == "generative":
        from recipes.quality import real_images

        extra.append(cbs.sample_grid(run.out, images=real_images(splits.val, 8)))
    monitor = task.monitor
    health = _health_callback(run)
    if health is not None:
        extra.append(health)
    weights = _class_weights(run.raw.train, run.raw.info) if recipe.class_weight else None
    common = {"tensorboard": run.tensorboard, "backup_dir": run.backup_dir,
              "backup_read_only": not run.chief}  # fmt: skip
    start = time.perf_counter()
    callbacks = cbs.standard(run.out, epochs=recipe.epochs, monitor=monitor,
                             reduce_lr=recipe.schedule == "constant", **common)  # fmt: skip
    model.fit(
        splits.train,
        validation_data=splits.val,
        epochs=recipe.epochs,
        callbacks=callbacks + extra,
        class_weight=weights,
        shuffle=False,  # the tf.data pipeline already reshuffles every epoch
        verbose=run.verbose,
    )
    _check_finite(model, run.out)
    if health is not None:
        run.health = health.report()
    run.phases = {"phase1_epochs": recipe.epochs}
    if recipe.fine_tune_layers:
        tuned = continue_fine_tuning(
            model, splits.train, splits.val, initial_epoch=recipe.epochs,
            fine_tune_epochs=recipe.fine_tune_epochs, fine_tune_layers=recipe.fine_tune_layers,
            fine_tune_lr=recipe.fine_tune_lr, verbose=run.verbose,
            callbacks=cbs.standard(run.out, epochs=recipe.fine_tune_epochs, phase="phase2",
                                   **common),
        )  # fmt: skip
        _check_finite(model, run.out)
        run.phases.update(fine_tune_lr=tuned.fine_tune_lr, unfrozen_layers=len(tuned.unfrozen))
    run.train_seconds = time.perf_counter() - start


def _check_monitor(name: str) -> None:
    from zoo.backends import require_tensorflow
    from zoo.tasks import GENERATE

    require_tensorflow("--monitor (gradient health, taken with tf.GradientTape)")

    if zoo.get_entry(name).task_spec.learns_from == GENERATE:
        raise InvalidArgumentError(
            f"--monitor needs a compiled loss; {name} trains with its own adversarial or "
            "denoising step. Drop --monitor."
        )


def _health_callback(run: Run) -> Any:
    """The gradient-health callback when asked for and meaningful: a model with a compiled
    loss (not the GANs' and diffusion's own train steps), trained without a strategy."""
    from recipes.monitor import health_callback

    if not run.monitor or run.strategy is not None:
        return None
    from zoo.data.core import head

    batch = head(run.splits.val, run.recipe.batch_size)  # one fixed validation batch
    return health_callback(run.out, batch, tensorboard=run.tensorboard)


def evaluate_run(run: Run) -> tuple[dict[str, float], dict[str, Any]]:
    """Keras' test metrics and the task's evaluation report on the held-out split."""
    from recipes.evaluate import evaluate

    entry, model, test = run.entry, run.model, run.splits.test
    scores = model.evaluate(test, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in scores.items()}
    report = entry.task_spec.report
    if report == "generative":
        from recipes.quality import generative_report

        return metrics, generative_report(model, entry.task, test, run.recipe.dataset)
    evaluation = evaluate(model, test, task=entry.task, class_names=run.raw.info.class_names)
    if report == "language_model" and hasattr(model, "generate"):
        evaluation.update(_generation_bleu(model, run.raw.test))
    if report == "seq2seq" and hasattr(model, "translate"):
        from recipes.evaluate import translation_report

        evaluation.update(translation_report(model, run.raw.test))
    from recipes.baselines import baselines, lift

    run.baselines = baselines(run.raw, report)
    if run.baselines:
        run.baselines["lift"] = lift(evaluation, run.baselines)
    return metrics, evaluation


def write_artifacts(run: Run, metrics: dict[str, float], evaluation: dict) -> TrainResult:
    """The report, and (chief only) the model, history, plots and vocabulary, each atomic."""
    out, model, entry, recipe = run.out, run.model, run.entry, run.recipe
    history = _read_log(out / "training_log.csv")
    files = {name: out / f for name, f in ARTIFACTS.items()}
    report = _report(run, history, metrics, evaluation)
    if not run.chief:
        return TrainResult(model, history, metrics, out, {"log": files["log"]}, report)
    if run.vectorizer is not None:
        from recipes.text import FILENAME, save_vectorizer

        files["vocabulary"] = out / FILENAME
        save_vectorizer(run.vectorizer, files["vocabulary"])
    write_atomic(files["model"], lambda p: model.save(p))
    write_atomic(files["history"], lambda p: p.write_text(json.dumps(history, indent=2)))
    from recipes.evaluate import plot_confusion_matrix
    from recipes.plots import plot_history

    title = f"{entry.name} on {recipe.dataset}"
    write_atomic(files["plot"], lambda p: plot_history(history, p, title=title))
    if "confusion_matrix" in evaluation:
        files["confusion"] = out / "confusion_matrix.png"
        write_atomic(files["confusion"], lambda p: plot_confusion_matrix(evaluation, p, title))
    files.update(_interpretation(run, evaluation, title))
    if (out / "gradients.png").exists() and run.health:
        files["gradients"] = out / "gradients.png"
    write_atomic(files["metrics"], lambda p: p.write_text(json.dumps(report, indent=2)))
    shutil.rmtree(run.backup_dir, ignore_errors=True)  # the run is complete: nothing to resume
    return TrainResult(model, history, metrics, out, files, report)


def _interpretation(run: Run, evaluation: dict, title: str) -> dict[str, Path]:
    """Classifiers: top losses and Grad-CAM for images, attended tokens for Transformer
    text models. Not under a tf.distribute strategy: predicting there is a collective of
    all workers, and only the chief writes."""
    if not run.entry.task_spec.classifier or run.strategy is not None:
        return {}
    from recipes import interpret
    from zoo.data.core import head

    names = evaluation.get("class_names") or []
    modality = run.raw.info.modality
    if modality == "image":
        shape = tuple(run.raw.info.element_shape)
        return interpret.write_interpretation(run.model, run.splits.test, names, run.out,
                                              title, shape)  # fmt: skip
    if modality == "text" and run.vectorizer is not None:
        x, _ = head(run.splits.test, 6)
        vocabulary = run.vectorizer.get_vocabulary()
        return interpret.write_attention(run.model, x, names, vocabulary, run.out, title)
    return {}


#: What every finished run writes (besides plots and vocabularies some tasks add).
ARTIFACTS = {
    "model": "model.keras",
    "history": "history.json",
    "plot": "history.png",
    "metrics": "metrics.json",
    "log": "training_log.csv",
}


def _report(run: Run, history: dict, metrics: dict, evaluation: dict) -> dict[str, Any]:
    recipe = run.recipe
    epochs = recipe.epochs + (recipe.fine_tune_epochs if recipe.fine_tune_layers else 0)
    return {
        "model": run.entry.name,
        "dataset": run.raw.info.to_dict(),
        "recipe": dataclasses.asdict(recipe),
        "epochs_planned": epochs,
        # GANs log d_loss and g_loss, not loss: count the longest series
        "epochs_run": max((len(v) for v in history.values()), default=0),
        "phases": run.phases,
        "batch_size": recipe.batch_size,
        "seed": run.seed,
        "builder_keywords": jsonable(run.keywords),
        "train_seconds": round(run.train_seconds, 3),
        "metrics": metrics,
        "evaluation": evaluation,
        "baselines": run.baselines,
        **({"gradient_health": run.health} if run.health else {}),
        "versions": library_versions(),
    }


def _data_options(
    entry: Any, recipe: Any, task: str | None, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Options for the loader: a language model's window length (the model's, so a wider
    context reads wider windows); for a user's CSV, what its label column is."""
    window = overrides.get("sequence_length", entry.defaults().get("sequence_length"))
    if entry.task == "language_model":
        return zoo.data.loader_options(entry, recipe.dataset, window, overrides)
    csv_file = Path(recipe.dataset).suffix.lower() in (".csv", ".tsv", ".txt")
    if task is not None and not csv_file:
        raise InvalidArgumentError(
            f"task={task!r} applies to a CSV file; dataset {recipe.dataset!r} already says "
            "what it holds. Drop --task."
        )
    if task is None and entry.task_spec.data_tasks == ("regression",):
        task = "regression"  # a regression model reads whole-number labels as quantities
    return {"task": task} if csv_file and task else {}


def _generation_bleu(model: Any, test: Any, prompts: int = 3, length: int = 60) -> dict:
    """Character BLEU of greedy continuations of held-out text against what really follows."""
    import numpy as np

    from recipes.evaluate import bleu
    from zoo.text import decode as decode_chars

    decode = getattr(model, "detokenize", decode_chars)  # GPT-2: its BPE; else characters
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
