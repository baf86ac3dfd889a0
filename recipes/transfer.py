"""Two-phase transfer learning: train the head on the frozen backbone, then fine-tune its top.

Phase 2 unfreezes the top ``layers`` layers of the backbone (batch-norm layers
stay frozen and in inference mode, so their statistics survive small
batches), recompiles with a lower learning rate (a tenth of phase 1's by
default) and continues from where phase 1 ended: same weights, epoch
numbering carried on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import InvalidArgumentError

DEFAULT_FINE_TUNE_LR = 1e-5  # when phase 1's learning rate cannot be read (a schedule)


@dataclass
class FineTuneResult:
    """Both phases' merged history, where phase 2 began, and what it unfroze."""

    model: Any
    history: dict[str, list[float]]
    phase1_epochs: int
    fine_tune_lr: float
    unfrozen: list[str] = field(default_factory=list)


def find_backbone(model: Any) -> Any:
    """The nested pretrained model inside a transfer model (named ``backbone`` by the zoo)."""
    import keras

    try:
        return model.get_layer("backbone")
    except ValueError:
        nested = [la for la in model.layers if isinstance(la, keras.Model)]
        if len(nested) == 1:
            return nested[0]
    raise InvalidArgumentError(
        f"{model.name} has no nested backbone model to fine-tune; fine-tuning applies to "
        "transfer models such as resnet50_transfer."
    )


def unfreeze_top(model: Any, layers: int) -> list[str]:
    """Make the top ``layers`` backbone layers trainable, except batch norm; return their names."""
    import keras

    base = find_backbone(model)
    body = [la for la in base.layers if not isinstance(la, keras.layers.InputLayer)]
    if not 1 <= layers <= len(body):
        raise InvalidArgumentError(
            f"fine_tune_layers must be between 1 and {len(body)} (the backbone's layers), "
            f"got {layers}."
        )
    base.trainable = True  # sets every sublayer; freeze all but the top again
    cut = len(body) - layers
    unfrozen = []
    for i, layer in enumerate(body):
        frozen = i < cut or isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not frozen
        if not frozen:
            unfrozen.append(layer.name)
    return unfrozen


def current_learning_rate(model: Any) -> float | None:
    """The optimizer's learning rate as a float, or None when it follows a schedule."""
    opt = model.optimizer
    if opt is None:
        return None
    rate = opt.get_config()["learning_rate"]  # a schedule serializes to a dict
    return None if isinstance(rate, dict) else float(rate)


def recompile(model: Any, learning_rate: float) -> None:
    """Compile again with the same loss and metrics and a fresh optimizer at ``learning_rate``.

    Recompiling is what makes Keras pick up the changed ``trainable`` flags.
    """
    import keras

    config = model.get_compile_config()
    if not config:
        raise InvalidArgumentError("The model is not compiled; compile it (zoo.build does).")
    old = keras.optimizers.deserialize(config["optimizer"])
    options = old.get_config()
    options["learning_rate"] = learning_rate
    config["optimizer"] = keras.optimizers.serialize(type(old).from_config(options))
    model.compile_from_config(config)


def _xy(train: Any) -> dict[str, Any]:
    """``fit`` arguments from a dataset or an ``(x, y)`` tuple of arrays."""
    if isinstance(train, tuple):
        return {"x": train[0], "y": train[1]}
    return {"x": train, "shuffle": False}  # a tf.data pipeline shuffles itself


def fine_tune(
    model: Any,
    train: Any,
    val: Any = None,
    *,
    epochs: int = 10,
    fine_tune_epochs: int = 10,
    fine_tune_layers: int = 30,
    fine_tune_lr: float | None = None,
    callbacks: Sequence[Any] = (),
    verbose: Any = "auto",
) -> FineTuneResult:
    """Phase 1 (head on the frozen backbone) then phase 2 (top layers unfrozen, lower LR).

    ``train`` and ``val`` are datasets or ``(x, y)`` tuples.
    """
    if epochs < 1 or fine_tune_epochs < 1:
        raise InvalidArgumentError("epochs and fine_tune_epochs must both be at least 1.")
    find_backbone(model)  # fail before training, not after phase 1
    h1 = model.fit(
        **_xy(train), validation_data=val, epochs=epochs, callbacks=list(callbacks), verbose=verbose
    )
    history = {k: [float(v) for v in vals] for k, vals in h1.history.items()}
    done = len(history.get("loss", []))
    result = continue_fine_tuning(
        model,
        train,
        val,
        initial_epoch=done,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_layers=fine_tune_layers,
        fine_tune_lr=fine_tune_lr,
        callbacks=callbacks,
        verbose=verbose,
    )
    for k, vals in result.history.items():
        history.setdefault(k, [float("nan")] * done)
        history[k].extend(vals)
    result.history = history
    return result


def continue_fine_tuning(
    model: Any,
    train: Any,
    val: Any = None,
    *,
    initial_epoch: int,
    fine_tune_epochs: int,
    fine_tune_layers: int,
    fine_tune_lr: float | None = None,
    callbacks: Sequence[Any] = (),
    verbose: Any = "auto",
) -> FineTuneResult:
    """Phase 2 alone, for a model whose head was already trained for ``initial_epoch`` epochs."""
    phase1_lr = current_learning_rate(model)
    if fine_tune_lr is None:
        fine_tune_lr = phase1_lr / 10 if phase1_lr else DEFAULT_FINE_TUNE_LR
    unfrozen = unfreeze_top(model, fine_tune_layers)
    recompile(model, fine_tune_lr)
    h2 = model.fit(
        **_xy(train),
        validation_data=val,
        initial_epoch=initial_epoch,
        epochs=initial_epoch + fine_tune_epochs,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    history = {k: [float(v) for v in vals] for k, vals in h2.history.items()}
    return FineTuneResult(model, history, initial_epoch, float(fine_tune_lr), unfrozen)
