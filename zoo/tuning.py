"""KerasTuner searches over any registry entry.

Each entry declares its search space on ``register(search_space=...)``:

    {"units": {"choice": [[128, 64], [256, 128]]},           # tuples are encoded
     "dropout": {"float": [0.0, 0.5], "step": 0.1},
     "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"},
     "depth": {"int": [1, 4]}}

``hypermodel(name, **fixed)`` draws the unpinned keywords and builds through
the registry; ``tune(name, dataset, ...)`` runs a search and returns the best
keywords as a plain dict, so ``zoo.build(name, **best)`` rebuilds the winner.
Distributed searches use KerasTuner's own chief/worker mode: set
``KERASTUNER_TUNER_ID`` (``chief``, ``tuner0``, ...), ``KERASTUNER_ORACLE_IP``
and ``KERASTUNER_ORACLE_PORT`` in each process and run the same ``tune`` call.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zoo
from zoo.errors import InvalidArgumentError
from zoo.registry import COMPILE_KEYWORDS, Entry, get_entry
from zoo.reports import jsonable
from zoo.results import metric_direction
from zoo.staging import check_output_folder, write_atomic

TUNERS = ("random", "hyperband", "bayesian", "grid")

#: Defaults for compile keywords whose signature default is None.
_COMPILE_DEFAULTS = {"learning_rate": 1e-3}


def _encode(value: Any) -> Any:
    """KerasTuner choices hold scalars: tuples travel as '128,64' strings."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def _decode(value: Any, spec: Mapping[str, Any]) -> Any:
    if isinstance(value, float) and spec.get("step"):
        return round(value, 10)  # 0.30000000000000004 -> 0.3
    if isinstance(value, str) and "choice" in spec:
        for option in spec["choice"]:
            if isinstance(option, (list, tuple)) and _encode(option) == value:
                return tuple(option)
    return value


def _default(entry: Entry, key: str) -> Any:
    d = entry.defaults()
    return d[key] if key in d else _COMPILE_DEFAULTS.get(key)


def validate_space(entry: Entry) -> None:
    """Each key must be a builder or compile keyword with a known spec shape."""
    params = entry.defaults()
    for key, spec in entry.search_space.items():
        if key not in params and key not in COMPILE_KEYWORDS:
            raise InvalidArgumentError(
                f"{entry.name}: search-space key {key!r} is not a builder or compile keyword."
            )
        kinds = {"choice", "float", "int"} & set(spec)
        if len(kinds) != 1:
            raise InvalidArgumentError(
                f"{entry.name}: search-space entry {key!r} needs exactly one of "
                f"'choice', 'float', 'int'; got {spec}."
            )


def draw(hp: Any, entry: Entry, key: str, spec: Mapping[str, Any]) -> Any:
    """Register ``key`` on ``hp`` (default: the builder's own) and return its value."""
    default = _default(entry, key)
    if "choice" in spec:
        values = [_encode(v) for v in spec["choice"]]
        enc = _encode(default)
        value = hp.Choice(key, values, default=enc if enc in values else None)
    elif "float" in spec:
        lo, hi = spec["float"]
        ok = isinstance(default, (int, float)) and lo <= default <= hi
        value = hp.Float(
            key,
            min_value=lo,
            max_value=hi,
            step=spec.get("step"),
            sampling=spec.get("sampling", "linear"),
            default=default if ok else None,
        )
    else:
        lo, hi = spec["int"]
        ok = isinstance(default, int) and lo <= default <= hi
        value = hp.Int(key, lo, hi, step=spec.get("step", 1), default=default if ok else None)
    return _decode(value, spec)


def hypermodel(name: str, *, dataset_info: Any = None, **fixed: Any) -> Any:
    """A ``keras_tuner.HyperModel`` building ``name`` with ``fixed`` keywords pinned."""
    import keras_tuner as kt

    entry = get_entry(name)
    validate_space(entry)
    zoo.registry.validate_overrides(
        entry, {k: v for k, v in fixed.items() if k not in COMPILE_KEYWORDS}
    )

    class ZooHyperModel(kt.HyperModel):
        """Draws the entry's search space and builds through the registry."""

        def build(self, hp: Any) -> Any:
            kwargs = dict(fixed)
            for key, spec in entry.search_space.items():
                if key not in fixed:
                    kwargs[key] = draw(hp, entry, key, spec)
            compile_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in COMPILE_KEYWORDS}
            if dataset_info is None:
                return zoo.build(entry.name, **kwargs, **compile_kw)
            return zoo.data.build_for_data(entry, dataset_info, kwargs, compile_kw)

    return ZooHyperModel(name=name)


def _objective(entry: Entry, objective: str | None) -> Any:
    import keras_tuner as kt

    if objective is None:
        if entry.task_spec.classifier:
            return kt.Objective("val_accuracy", direction="max")
        return kt.Objective("val_loss", direction="min")
    direction = metric_direction(objective)
    return kt.Objective(objective, direction=direction) if direction else objective


def _make_tuner(kind: str, hm: Any, **kw: Any) -> Any:
    import keras_tuner as kt

    base = {
        "random": kt.RandomSearch,
        "hyperband": kt.Hyperband,
        "bayesian": kt.BayesianOptimization,
        "grid": kt.GridSearch,
    }[kind]

    class LoggedTuner(base):  # type: ignore[misc, valid-type]
        """Appends one line per trial run, so a test (or a person) can audit the search."""

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            log = Path(self.project_dir) / "trial_runs.jsonl"
            line = json.dumps(
                {
                    "trial_id": trial.trial_id,
                    "tuner_id": os.environ.get("KERASTUNER_TUNER_ID", "chief"),
                    "pid": os.getpid(),
                }
            )
            with open(log, "a") as fh:
                fh.write(line + "\n")
            return super().run_trial(trial, *args, **kwargs)

    max_trials = kw.pop("max_trials")
    epochs = kw.pop("epochs")
    if kind == "hyperband":
        tuner = LoggedTuner(hm, max_epochs=epochs, factor=3, **kw)
        tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own
        return tuner
    return LoggedTuner(hm, max_trials=max_trials, **kw)


def default_directory(name: str) -> Path:
    """Where ``tune`` keeps a search and its reports unless told otherwise."""
    return Path("saved_models") / name / "tuning"


def is_chief() -> bool:
    """True unless this process is a KerasTuner worker (``KERASTUNER_TUNER_ID`` != chief)."""
    return os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief"


def tune(
    name: str,
    dataset: str | None = None,
    *,
    tuner: str = "random",
    max_trials: int = 10,
    objective: str | None = None,
    directory: str | os.PathLike | None = None,
    project_name: str = "search",
    epochs: int | None = None,
    batch_size: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    verbose: int | str = "auto",
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """Search ``name``'s space on ``dataset``; return the best builder keywords.

    The result includes the keywords fitted to the data (``num_classes``,
    ``input_shape``) and any ``fixed`` ones, so ``zoo.build(name, **best)``
    rebuilds the winning model. A rerun with the same ``directory`` resumes the
    search (``overwrite=True`` starts over). ``trials.csv`` and ``best.json``
    are written to ``directory`` (default ``saved_models/NAME/tuning``) by
    the chief only.
    """
    import keras

    entry, epochs, batch_size, directory = _check_search(
        name, tuner, max_trials, epochs, batch_size, fixed, seed, directory
    )
    keras.utils.set_random_seed(seed)
    window = dict(fixed or {}).get("sequence_length", entry.defaults().get("sequence_length"))
    options = zoo.data.loader_options(entry, dataset or entry.dataset, window, fixed)
    raw = zoo.data.load_raw(dataset or entry.dataset, seed=seed, **options)
    pinned = zoo.data.model_keywords(entry, raw.info, dict(fixed or {}))
    hm = hypermodel(name, dataset_info=raw.info, **pinned)
    input_shape = pinned.get("input_shape", entry.defaults().get("input_shape"))
    splits = zoo.data.pipeline(
        raw, batch_size=batch_size, input_shape=input_shape, rescale=not entry.raw_pixels,
        seed=seed,
    )  # fmt: skip
    search = _make_tuner(
        tuner, hm, objective=_objective(entry, objective), max_trials=max_trials, epochs=epochs,
        seed=seed, directory=str(directory), project_name=project_name, overwrite=overwrite,
    )  # fmt: skip
    search.search(splits.train, validation_data=splits.val, epochs=epochs, shuffle=False,
                  verbose=verbose, **fit_kwargs)  # fmt: skip
    best_hp = search.get_best_hyperparameters(1)[0]
    best = dict(pinned)
    for key, spec in entry.search_space.items():
        if key in best_hp.values:
            best[key] = _decode(best_hp.values[key], spec)
    if is_chief():
        _write_reports(search, entry, directory, best)
    return best


def _check_search(name, tuner, max_trials, epochs, batch_size, fixed, seed, directory):
    """Every argument of ``tune`` checked; the entry and the resolved epochs, batch, folder."""
    from zoo.checks import check_numbers, int_in_range

    if tuner not in TUNERS:
        raise InvalidArgumentError(f"Unknown tuner {tuner!r}; use one of {list(TUNERS)}.")
    int_in_range("max_trials", max_trials, 1)
    check_numbers({"epochs": epochs, "batch_size": batch_size, "seed": seed, **(fixed or {})})
    entry = get_entry(name)
    if not entry.search_space:
        raise InvalidArgumentError(f"{name} declares no search space; nothing to tune.")
    directory = Path(directory) if directory else default_directory(name)
    check_output_folder(directory, "directory (--dir)")
    return entry, epochs or min(entry.epochs, 10), batch_size or entry.batch_size, directory


def _write_reports(search: Any, entry: Entry, directory: Path, best: dict[str, Any]) -> None:
    """``trials.csv`` (one row per trial) and ``best.json``, each written atomically."""
    trials = sorted(search.oracle.trials.values(), key=lambda t: t.trial_id)
    keys = list(entry.search_space)
    rows = []
    for t in trials:
        row = {"trial_id": t.trial_id, "status": t.status, "score": t.score}
        row.update({k: t.hyperparameters.values.get(k) for k in keys})
        rows.append(row)

    def write_trials(path: Path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["trial_id", "status", "score", *keys])
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(directory / "trials.csv", write_trials)
    best_trial = search.oracle.get_best_trials(1)[0]
    report = {
        "model": entry.name,
        "objective": search.oracle.objective.name,
        "score": best_trial.score,
        "trial_id": best_trial.trial_id,
        "keywords": jsonable(best),
    }
    write_atomic(directory / "best.json", lambda p: p.write_text(json.dumps(report, indent=2)))


__all__ = [
    "TUNERS",
    "default_directory",
    "draw",
    "hypermodel",
    "is_chief",
    "tune",
    "validate_space",
]
