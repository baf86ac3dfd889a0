"""Tasks: what a kind of model does, in one place.

A task (``classification``, ``regression``, ``gan``, ...) decides a model's
compile defaults, the input and output its card describes, which datasets it
can train on, how a training split becomes ``fit``'s ``(x, y)``, what training
watches, which evaluation report it gets and what a test batch looks like.
The registry, the data fitting, the recipes and the tests all ask the task;
none of them branches on task names. Families register the tasks they bring
(``zoo/models/generative.py`` registers ``autoencoder``, ``gan`` and
``diffusion``) the way they register models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import InvalidArgumentError

#: How a task's model learns from a dataset's ``(x, y)`` pairs.
LABELLED = "labelled"  # fit(x, y)
AUTOENCODE = "autoencode"  # fit(x, x): the target is the input
GENERATE = "generate"  # fit(images): the model makes images like the data's (labels ignored)


@dataclass(frozen=True)
class Task:
    """One kind of model. Every field has the meaning its comment states."""

    name: str
    #: compile defaults; ``metrics`` is a factory so every model gets fresh metric objects
    compile_defaults: Mapping[str, Any]
    #: builder defaults -> the card's output spec (shape and meaning)
    output_spec: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: builder defaults -> the card's input spec; None: from ``input_shape``/``sequence_length``
    input_spec: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    #: dataset tasks this task trains on (a DatasetInfo's ``task``)
    data_tasks: tuple[str, ...] = ("classification", "binary")
    learns_from: str = LABELLED
    classifier: bool = False  # class weights, accuracy objective, confusion matrix
    max_classes: int | None = None  # binary models: 2
    report: str = "regression"  # the evaluation report: recipes.evaluate.REPORTS[report]
    recipe_metric: str = "val_loss"  # the metric a recipe targets
    monitor: str | None = "val_loss"  # what checkpoints and early stopping watch
    #: (model, n, rng) -> targets for a random test batch
    example_targets: Callable[[Any, int, Any], Any] | None = None
    text_only: bool = False  # trains on text datasets only (its own tokenization)

    def compile_config(self) -> dict[str, Any]:
        cfg = dict(self.compile_defaults)
        if callable(cfg.get("metrics")):
            cfg["metrics"] = cfg["metrics"]()
        return cfg

    def describe_input(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        if self.input_spec is not None:
            return self.input_spec(defaults)
        if "input_shape" in defaults:
            return {"shape": [None, *defaults["input_shape"]], "dtype": "float32"}
        if "sequence_length" in defaults:
            return {"shape": [None, defaults["sequence_length"]], "dtype": "int32"}
        return {"shape": None, "dtype": None}

    def data_shape(self, model: Any) -> tuple:
        """What one example of the training data must look like for this model."""
        shape = model.output_shape if self.learns_from == GENERATE else model.input_shape
        return tuple(shape[1:])

    def training_pairs(self, dataset: Any) -> Any:
        """A batched ``(x, y)`` dataset as ``fit`` needs it for this task."""
        if self.learns_from == AUTOENCODE:
            return dataset.map(lambda x, y: (x, x))
        return dataset

    def check_data(self, entry: Any, info: Any) -> None:
        """A clear error when ``entry`` (of this task) cannot train on ``info``'s data."""
        if info.task not in self.data_tasks:
            raise InvalidArgumentError(
                f"{entry.name} is a {self.name} model but dataset {info.name!r} is a "
                f"{info.task} task; pick a {info.task} model (zoo list --task {info.task}) "
                f"or a {' or '.join(self.data_tasks)} dataset."
            )
        if self.max_classes is not None and (info.num_classes or 2) > self.max_classes:
            raise InvalidArgumentError(
                f"{entry.name} is a {self.name} model but dataset {info.name!r} has "
                f"{info.num_classes} classes; pick a multi-class model such as mnist_mlp."
            )

    def example_batch(self, model: Any, x: Any, n: int, seed: int = 0) -> tuple[Any, Any]:
        """``(x, y)`` for ``train_on_batch``, given random inputs ``x`` for the model."""
        rng = np.random.default_rng(seed)
        if self.learns_from == AUTOENCODE:
            return x, x
        if self.learns_from == GENERATE:
            return rng.random((n, *self.data_shape(model)), dtype="float32"), None
        return x, self.example_targets(model, n, rng)


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task; a family module calls this for the tasks it brings."""
    if task.name in _TASKS and _TASKS[task.name] != task:
        raise InvalidArgumentError(f"A task named {task.name!r} is already registered.")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    if name not in _TASKS:
        import zoo.models  # noqa: F401  - families register their tasks on import

    try:
        return _TASKS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown task {name!r}; registered tasks: {sorted(_TASKS)}."
        ) from None


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered task (without importing the model families)."""
    return name in _TASKS


def task_names() -> list[str]:
    import zoo.models  # noqa: F401

    return sorted(_TASKS)


# --------------------------------------------------------------------------- core tasks


def _class_targets(model: Any, n: int, rng: Any) -> np.ndarray:
    return rng.integers(0, model.outputs[0].shape[-1], size=(n,)).astype("int32")


def _binary_targets(model: Any, n: int, rng: Any) -> np.ndarray:
    return rng.integers(0, 2, size=(n, 1)).astype("float32")


def _value_targets(model: Any, n: int, rng: Any) -> np.ndarray:
    return rng.normal(size=(n, *model.outputs[0].shape[1:])).astype("float32")


def _regression_metrics() -> list:
    import keras

    return [
        keras.metrics.MeanAbsoluteError(name="mae"),
        keras.metrics.RootMeanSquaredError(name="rmse"),
    ]


register_task(
    Task(
        "classification",
        {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": lambda: ["accuracy"],
        },
        output_spec=lambda d: {
            "shape": [None, d.get("num_classes")],
            "meaning": "class probabilities",
        },
        classifier=True,
        report="classification",
        recipe_metric="val_accuracy",
        example_targets=_class_targets,
    )
)
register_task(
    Task(
        "binary",
        {"optimizer": "adam", "loss": "binary_crossentropy", "metrics": lambda: ["accuracy"]},
        output_spec=lambda d: {"shape": [None, 1], "meaning": "probability of the positive class"},
        classifier=True,
        max_classes=2,
        report="classification",
        recipe_metric="val_accuracy",
        example_targets=_binary_targets,
    )
)
register_task(
    Task(
        "regression",
        {"optimizer": "adam", "loss": "mse", "metrics": _regression_metrics},
        output_spec=lambda d: {
            "shape": [None, d.get("num_outputs", d.get("horizon", 1))],
            "meaning": "predicted values",
        },
        data_tasks=("regression",),
        recipe_metric="val_rmse",
        example_targets=_value_targets,
    )
)
