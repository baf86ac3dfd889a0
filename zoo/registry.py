"""The model registry: ``register``, ``build``, ``list_models``, ``info``.

A builder is a keyword-only function returning an *uncompiled* Keras model.
Its signature is the single source of truth for its defaults: the card shown
by ``info`` and the keyword validation in ``build`` are both read from it.
``build`` then compiles with the defaults of the entry's task, any of which
the caller may override.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo._typecheck import TypeMismatch, coerce, describe
from zoo.errors import InvalidArgumentError, UnknownModelError
from zoo.reports import jsonable

#: Keywords ``build`` accepts besides the builder's own, with their defaults.
COMPILE_KEYWORDS: dict[str, Any] = {
    "optimizer": None,
    "learning_rate": None,
    "loss": None,
    "metrics": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "weight_decay": None,
    # 32 train steps per call into TensorFlow: small models spend most of a step in
    # Python dispatch otherwise (benchmarks/RESULTS.md measures the gain)
    "steps_per_execution": 32,
    "jit_compile": "auto",
}

#: Export formats and TFLite quantizations a card may claim (see ``zoo.exporting``).
EXPORT_FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("dynamic", "float16", "int8")
#: Keras backends; an entry trains on all of them unless its card says otherwise.
BACKENDS = ("tensorflow", "jax", "torch")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One registered model: its builder plus the facts its card is made of."""

    name: str
    builder: Callable[..., Any]
    task: str
    summary: str
    section: str
    dataset: str
    epochs: int = 10
    batch_size: int = 32
    tags: tuple[str, ...] = ()
    exports: tuple[str, ...] = ("saved_model", "tflite")
    quantizations: tuple[str, ...] = QUANTIZATIONS
    export_tolerance: float = 1e-5
    preprocessing: str = ""
    raw_pixels: bool = False  # takes 0-255 pixels: the data pipeline must not rescale
    # language models whose tokens are not characters: builder keywords -> text -> ids
    tokenizer: Callable[[Mapping[str, Any]], Any] | None = None
    search_space: Mapping[str, Any] = field(default_factory=dict)
    test_overrides: Mapping[str, Any] = field(default_factory=dict)
    compile_defaults: Mapping[str, Any] = field(default_factory=dict)
    extra_card: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)

    @property
    def hints(self) -> dict[str, Any]:
        return typing.get_type_hints(self.builder)

    def defaults(self) -> dict[str, Any]:
        """The builder's keyword defaults, read from its signature."""
        return {
            k: p.default
            for k, p in self.parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    @property
    def task_spec(self) -> Any:
        """The entry's :class:`zoo.tasks.Task`: everything that depends on its task."""
        from zoo.tasks import get_task

        return get_task(self.task)

    def compile_config(self) -> dict[str, Any]:
        """Task defaults updated by the entry's own, with metric factories resolved."""
        cfg = self.task_spec.compile_config()
        cfg.update(self.compile_defaults)
        if callable(cfg.get("metrics")):
            cfg["metrics"] = cfg["metrics"]()
        return cfg

    def input_spec(self) -> dict[str, Any]:
        spec = dict(self.task_spec.describe_input(self.defaults()))
        spec["preprocessing"] = self.preprocessing
        spec["raw_pixels"] = self.raw_pixels
        return spec

    def output_spec(self) -> dict[str, Any]:
        return self.task_spec.output_spec(self.defaults())

    def card(self) -> dict[str, Any]:
        """Everything a user needs to pick and use this model, derived, not copied."""
        compile_cfg = {
            k: (v if isinstance(v, (str, int, float, type(None))) else _describe_obj(v))
            for k, v in self.compile_config().items()
        }
        return {
            "name": self.name,
            "task": self.task,
            "summary": self.summary,
            "section": self.section,
            "tags": list(self.tags),
            "input": self.input_spec(),
            "output": self.output_spec(),
            "defaults": {k: jsonable(v) for k, v in self.defaults().items()},
            "compile": compile_cfg,
            "search_space": {k: jsonable(v) for k, v in self.search_space.items()},
            "exports": list(self.exports),
            "quantizations": list(self.quantizations) if "tflite" in self.exports else [],
            "export_tolerance": self.export_tolerance,
            "recipe": {
                "dataset": self.dataset,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
            },
            "results": self.results(),
            **{k: jsonable(v) for k, v in self.extra_card.items()},
        }

    def results(self) -> dict[str, Any]:
        """The results table's row for this entry and any published figure beside it."""
        from zoo.results import measured, published

        figure = published(self.name)
        return {
            "measured": measured(self.name),
            "published": figure.as_dict() if figure else None,
        }


def _describe_obj(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_describe_obj(x) for x in v]
    if isinstance(v, (str, int, float, type(None))):  # metric names such as "accuracy"
        return v
    return getattr(v, "name", None) or type(v).__name__


_REGISTRY: dict[str, Entry] = {}


def register(
    name: str,
    *,
    task: str,
    summary: str,
    section: str,
    dataset: str,
    epochs: int = 10,
    batch_size: int = 32,
    tags: Iterable[str] = (),
    exports: Iterable[str] = ("saved_model", "tflite"),
    quantizations: Iterable[str] = QUANTIZATIONS,
    export_tolerance: float = 1e-5,
    preprocessing: str = "",
    raw_pixels: bool = False,
    tokenizer: Callable[[Mapping[str, Any]], Any] | None = None,
    search_space: Mapping[str, Any] | None = None,
    test_overrides: Mapping[str, Any] | None = None,
    compile_defaults: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a keyword-only builder under ``name``."""

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        register_builder(
            name,
            builder,
            task=task,
            summary=summary,
            section=section,
            dataset=dataset,
            epochs=epochs,
            batch_size=batch_size,
            tags=tags,
            exports=exports,
            quantizations=quantizations,
            export_tolerance=export_tolerance,
            preprocessing=preprocessing,
            raw_pixels=raw_pixels,
            tokenizer=tokenizer,
            search_space=search_space,
            test_overrides=test_overrides,
            compile_defaults=compile_defaults,
        )
        return builder

    return decorator


def register_builder(name: str, builder: Callable[..., Any], **facts: Any) -> Entry:
    """Register ``builder`` (the non-decorator form, for families built from a table)."""
    if name in _REGISTRY:
        raise InvalidArgumentError(f"A model named {name!r} is already registered.")
    bad = [
        p.name
        for p in inspect.signature(builder).parameters.values()
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty
    ]
    if bad:
        raise InvalidArgumentError(
            f"Builder for {name!r} must take only keyword arguments with defaults; "
            f"fix parameters {bad}."
        )
    clash = set(inspect.signature(builder).parameters) & set(COMPILE_KEYWORDS)
    if clash:
        raise InvalidArgumentError(
            f"Builder for {name!r} uses compile keyword(s) {sorted(clash)}; rename them."
        )
    from zoo.tasks import is_registered

    if not is_registered(facts.get("task", "")):
        raise InvalidArgumentError(
            f"{name!r}: task {facts.get('task')!r} is not registered; register it first "
            "with zoo.tasks.register_task (see docs/ARCHITECTURE.md)."
        )
    exports = tuple(facts.pop("exports", ()) or ())
    unknown = set(exports) - set(EXPORT_FORMATS)
    if unknown:
        raise InvalidArgumentError(f"Unknown export format(s) {sorted(unknown)} for {name!r}.")
    quants = tuple(facts.pop("quantizations", QUANTIZATIONS) or ())
    if set(quants) - set(QUANTIZATIONS):
        raise InvalidArgumentError(
            f"Unknown quantization(s) {sorted(set(quants) - set(QUANTIZATIONS))} for {name!r}."
        )
    entry = Entry(
        name=name,
        builder=builder,
        exports=exports,
        quantizations=quants,
        tags=tuple(facts.pop("tags", ()) or ()),
        search_space=dict(facts.pop("search_space", None) or {}),
        test_overrides=dict(facts.pop("test_overrides", None) or {}),
        compile_defaults=dict(facts.pop("compile_defaults", None) or {}),
        extra_card=dict(facts.pop("extra_card", None) or {}),
        **facts,
    )
    _REGISTRY[name] = entry
    return entry


# --------------------------------------------------------------------------- lookup


def get_entry(name: str) -> Entry:
    """The entry registered as ``name``; an unknown name suggests the closest ones."""
    _ensure_loaded()
    if not isinstance(name, str):
        raise InvalidArgumentError(f"A model name must be a string, got {type(name).__name__}.")
    try:
        return _REGISTRY[name]
    except KeyError:
        pass
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
    hint = (
        f" Did you mean {', '.join(repr(c) for c in close)}?"
        if close
        else " See `zoo list` for the registered names."
    )
    raise UnknownModelError(f"No model named {name!r}.{hint}") from None


def list_models(pattern: str = "*", task: str | None = None, tag: str | None = None) -> list[str]:
    """Sorted names matching a shell-style ``pattern``, optionally filtered by task or tag."""
    _ensure_loaded()
    names = [n for n in sorted(_REGISTRY) if fnmatch.fnmatchcase(n, pattern)]
    if task is not None:
        names = [n for n in names if _REGISTRY[n].task == task]
    if tag is not None:
        names = [n for n in names if tag in _REGISTRY[n].tags]
    return names


def info(name: str, *, size: bool = False) -> dict[str, Any]:
    """The model's card (task, summary, input/output spec, defaults, recipe, ...).

    ``size=True`` adds ``params`` (trainable, non-trainable, total) and ``flops`` (forward
    FLOPs per sample at the default input size), which means building the model once.
    """
    card = get_entry(name).card()
    if size:
        from zoo.sizes import entry_size

        card.update(entry_size(name))
    return card


# --------------------------------------------------------------------------- build


def _keyword_listing(entry: Entry) -> str:
    own = ", ".join(f"{k}={v!r}" for k, v in entry.defaults().items())
    comp = ", ".join(COMPILE_KEYWORDS)
    return f"Builder keywords: {own}. Compile keywords: {comp}."


def validate_overrides(entry: Entry, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``overrides`` against the builder's signature and coerce harmless types."""
    params = entry.parameters
    hints = entry.hints
    clean: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in params:
            close = difflib.get_close_matches(key, list(params) + list(COMPILE_KEYWORDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidArgumentError(
                f"{entry.name} has no keyword {key!r}.{hint} {_keyword_listing(entry)}"
            )
        hint_t = hints.get(key, Any)
        try:
            clean[key] = coerce(value, hint_t)
        except TypeMismatch as exc:
            raise InvalidArgumentError(
                f"{entry.name}: keyword {key!r} expects {exc}, got {value!r} "
                f"({type(value).__name__}). Default: {params[key].default!r}. "
                f"{_keyword_listing(entry)}"
            ) from None
    return clean


def build(
    name: str,
    *,
    compile: bool = True,  # noqa: A002 - mirrors keras' own keyword
    strategy: Any = None,
    **overrides: Any,
) -> Any:
    """Build the registered model ``name``, compiled with its task's defaults.

    Builder keywords (see ``info(name)["defaults"]``) and compile keywords
    (``optimizer``, ``learning_rate``, ``loss``, ``metrics``, ``clipnorm``,
    ``clipvalue``, ``global_clipnorm``, ``weight_decay``,
    ``steps_per_execution``, ``jit_compile``) may be mixed. ``strategy`` (a
    ``tf.distribute.Strategy`` or a name understood by
    ``zoo.distribute.strategy``) builds and compiles inside its scope.
    """
    entry = get_entry(name)
    compile_kw = {k: overrides.pop(k) for k in list(overrides) if k in COMPILE_KEYWORDS}
    if compile_kw and not compile:
        raise InvalidArgumentError(
            f"Compile keywords {sorted(compile_kw)} were given with compile=False; "
            "drop them or compile the model."
        )
    from zoo.data.array_input import steady_array_input
    from zoo.models._recurrent import skip_right_padding

    kwargs = validate_overrides(entry, overrides)
    scope = _strategy_scope(strategy)
    with scope:
        model = steady_array_input(skip_right_padding(entry.builder(**kwargs)))
        if compile:
            compile_model(model, entry, **compile_kw)
    return model


def _strategy_scope(strategy: Any) -> contextlib.AbstractContextManager:
    if strategy is None:
        return contextlib.nullcontext()
    if isinstance(strategy, str):
        from zoo.distribute import strategy as make_strategy

        strategy = make_strategy(strategy)
    if not hasattr(strategy, "scope"):
        raise InvalidArgumentError(
            f"strategy must be a tf.distribute.Strategy or a strategy name, got {strategy!r}."
        )
    return strategy.scope()


def make_optimizer(
    optimizer: Any = "adam",
    *,
    learning_rate: Any = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    weight_decay: float | None = None,
) -> Any:
    """An optimizer instance from a name (or instance) and the common options. Adam and
    AdamW made from a name update through TensorFlow's fused op (zoo.models._optimizers);
    an instance is the caller's and is used as it is."""
    import keras

    options = {
        k: v
        for k, v in {
            "learning_rate": learning_rate,
            "clipnorm": clipnorm,
            "clipvalue": clipvalue,
            "global_clipnorm": global_clipnorm,
            "weight_decay": weight_decay,
        }.items()
        if v is not None
    }
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if options:
            raise InvalidArgumentError(
                f"Options {sorted(options)} were given with an optimizer instance; "
                "set them on the instance instead (e.g. keras.optimizers.Adam(learning_rate=...))."
            )
        return optimizer
    if not isinstance(optimizer, str):
        raise InvalidArgumentError(
            f"optimizer must be a name such as 'adam' or a keras optimizer, got {optimizer!r}."
        )
    try:
        cls = type(keras.optimizers.get(optimizer))
    except ValueError:
        valid = ["adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam"]
        raise InvalidArgumentError(
            f"Unknown optimizer {optimizer!r}. Try one of {valid}."
        ) from None
    from zoo.models._optimizers import fused

    try:
        return fused(cls(**options))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Cannot make optimizer {optimizer!r}: {exc}") from None


def compile_model(model: Any, entry: Entry | str, **overrides: Any) -> Any:
    """Compile ``model`` with ``entry``'s task defaults updated by ``overrides``."""
    import keras

    if isinstance(entry, str):
        entry = get_entry(entry)
    unknown = set(overrides) - set(COMPILE_KEYWORDS)
    if unknown:
        raise InvalidArgumentError(
            f"Unknown compile keyword(s) {sorted(unknown)}; valid: {list(COMPILE_KEYWORDS)}."
        )
    from zoo.checks import check_numbers

    check_numbers(overrides)  # a negative or NaN learning rate trains, wrongly
    cfg = entry.compile_config()
    opt_keys = ("learning_rate", "clipnorm", "clipvalue", "global_clipnorm", "weight_decay")
    opt_options = {k: overrides.get(k, cfg.get(k)) for k in opt_keys}
    optimizer = make_optimizer(
        overrides.get("optimizer") or cfg.get("optimizer", "adam"), **opt_options
    )
    loss = overrides.get("loss") or cfg.get("loss")
    metrics = overrides["metrics"] if overrides.get("metrics") is not None else cfg.get("metrics")
    steps = overrides.get("steps_per_execution")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise InvalidArgumentError(
            f"steps_per_execution must be a whole number of steps >= 1, got {steps!r}."
        )
    if _replicas() > 1:
        # keras 3.15's multi-step loop fails under MirroredStrategy ("You must feed a value
        # for placeholder tensor ... while/cond"): one step per call there
        if steps not in (None, 1):
            raise InvalidArgumentError(
                f"steps_per_execution={steps} does not work under a multi-replica "
                "tf.distribute strategy in this Keras version; leave it unset (1 is used)."
            )
        steps = 1
    elif keras.backend.backend() == "torch":  # Keras' torch trainer runs one step per call
        if steps not in (None, 1):
            raise InvalidArgumentError(
                f"steps_per_execution={steps} needs the TensorFlow or JAX backend; Keras "
                "runs one step per call on torch. Leave it unset (1 is used)."
            )
        steps = 1
    elif steps is None:
        steps = cfg.get("steps_per_execution", COMPILE_KEYWORDS["steps_per_execution"])
    extra = {
        "steps_per_execution": steps,
        "jit_compile": overrides.get("jit_compile", cfg.get("jit_compile", "auto")),
    }
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **extra)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Cannot compile {entry.name}: {exc}") from None
    return model


def _replicas() -> int:
    """Replicas of the tf.distribute strategy in scope (1 outside any, or without TF)."""
    import sys

    if "tensorflow" not in sys.modules:
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync if tf.distribute.has_strategy() else 1


def _ensure_loaded() -> None:
    """Import the model families so their ``@register`` calls have run."""
    import zoo.models  # noqa: F401


__all__ = [
    "COMPILE_KEYWORDS",
    "EXPORT_FORMATS",
    "Entry",
    "QUANTIZATIONS",
    "build",
    "compile_model",
    "describe",
    "get_entry",
    "info",
    "list_models",
    "make_optimizer",
    "register",
    "register_builder",
    "validate_overrides",
]
