"""Gradient and activation health while training (``zoo train --monitor``).

After every epoch, on one fixed training batch, the callback records each layer's
gradient norm (the loss the model compiles with), the fraction of dead ReLU units
(zero for every sample of the batch) and the fraction of saturated sigmoid/tanh
outputs (within 1% of their bounds). It warns, naming the layer and the epoch, when a
gradient norm falls below ``VANISHING`` or rises above ``EXPLODING``, and writes
``gradients.png`` and TensorBoard scalars (with ``--tensorboard``). The cost is one
extra forward and backward pass of one batch per epoch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

VANISHING = 1e-7
EXPLODING = 1e3


def health_callback(out_dir: Path, batch: tuple[Any, Any], tensorboard: bool = False) -> Any:
    import keras
    import tensorflow as tf

    x, y = batch

    class GradientHealth(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history: dict[str, dict[str, list[float]]] = {}
            self.warnings: list[str] = []
            self.probe = None

        def on_train_begin(self, logs=None):
            self.probe = _activation_probe(self.model)

        def on_epoch_end(self, epoch, logs=None):
            norms = _gradient_norms(self.model, x, y)
            for layer, norm in norms.items():
                self._record(layer, "gradient_norm", norm)
                if norm < VANISHING or norm > EXPLODING:
                    kind = "vanish" if norm < VANISHING else "explode"
                    note = (
                        f"epoch {epoch + 1}: gradients {kind} in layer {layer!r} (norm {norm:.2e})"
                    )
                    self.warnings.append(note)
                    print(f"warning: {note}", file=sys.stderr)
            for layer, (kind, value) in _activation_health(self.probe, x).items():
                self._record(layer, kind, value)
            if tensorboard:
                self._tensorboard(epoch)

        def _record(self, layer: str, key: str, value: float) -> None:
            self.history.setdefault(layer, {}).setdefault(key, []).append(float(value))

        def _tensorboard(self, epoch: int) -> None:
            writer = tf.summary.create_file_writer(str(Path(out_dir) / "tensorboard" / "health"))
            with writer.as_default():
                for layer, series in self.history.items():
                    for key, values in series.items():
                        tf.summary.scalar(f"{key}/{layer}", values[-1], step=epoch)

        def on_train_end(self, logs=None):
            from zoo.staging import write_atomic

            if self.history:
                path = Path(out_dir) / "gradients.png"
                write_atomic(path, lambda p: plot_health(self.history, p))

        def report(self) -> dict[str, Any]:
            return {"layers": self.history, "warnings": self.warnings,
                    "vanishing_below": VANISHING, "exploding_above": EXPLODING}  # fmt: skip

    return GradientHealth()


def _gradient_norms(model: Any, x: Any, y: Any) -> dict[str, float]:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
    grads = tape.gradient(loss, model.trainable_weights)
    per_layer: dict[str, float] = {}
    for weight, grad in zip(model.trainable_weights, grads):
        if grad is None:
            continue
        layer = weight.path.rsplit("/", 1)[0]
        norm = float(tf.norm(tf.convert_to_tensor(grad)))
        per_layer[layer] = float(np.hypot(per_layer.get(layer, 0.0), norm))
    return per_layer


def _activation_probe(model: Any) -> Any:
    """A model returning the outputs of every ReLU, sigmoid or tanh layer (None if none)."""
    import keras

    watched = [la for la in model.layers if _activation(la) in ("relu", "sigmoid", "tanh")]
    if not watched:
        return None
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # as it is fed
        probe = keras.Model(inputs, [la.output for la in watched])
    except (ValueError, AttributeError):  # subclassed or nested: no layer outputs to read
        return None
    probe.watched = [(la.name, _activation(la)) for la in watched]
    return probe


def _activation(layer: Any) -> str | None:
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", None)


def _activation_health(probe: Any, x: Any) -> dict[str, tuple[str, float]]:
    if probe is None:
        return {}
    outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    out = {}
    for (name, kind), value in zip(probe.watched, outputs):
        v = np.asarray(value).reshape(len(np.asarray(value)), -1)
        if kind == "relu":
            out[name] = ("dead_relu_fraction", float(np.mean(np.all(v <= 0, axis=0))))
        elif kind == "sigmoid":
            out[name] = ("saturated_fraction", float(np.mean((v < 0.01) | (v > 0.99))))
        else:
            out[name] = ("saturated_fraction", float(np.mean(np.abs(v) > 0.99)))
    return out


def plot_health(history: dict[str, dict[str, list[float]]], path: Path) -> None:
    """Gradient norm per layer over epochs (log scale), and dead/saturated fractions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7))
    for layer, series in history.items():
        if "gradient_norm" in series:
            top.plot(range(1, len(series["gradient_norm"]) + 1), series["gradient_norm"],
                     label=layer)  # fmt: skip
        for key in ("dead_relu_fraction", "saturated_fraction"):
            if key in series:
                bottom.plot(range(1, len(series[key]) + 1), series[key],
                            label=f"{layer} ({key.replace('_fraction', '')})")  # fmt: skip
    top.set_yscale("log")
    top.axhline(VANISHING, color="grey", linestyle=":")
    top.axhline(EXPLODING, color="grey", linestyle=":")
    top.set_title("gradient norm per layer")
    bottom.set_title("dead ReLU units / saturated sigmoid-tanh outputs")
    bottom.set_ylim(0, 1)
    for ax in (top, bottom):
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
