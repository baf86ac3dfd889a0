"""What a trained classifier looks at and where it fails: Grad-CAM and top losses.

``gradcam`` follows Keras' own Grad-CAM example (Selvaraju et al.): the last
convolutional feature maps, weighted by the mean gradient of the predicted
class's score over each map, summed, passed through a ReLU and resized to the
input. ``top_losses`` is fastai's ``plot_top_losses``: the test samples the
model is most wrong about, with their true and predicted labels. ``zoo train``
writes both for image classifiers (``gradcam.png`` for convolutional models,
``top_losses.png`` for all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def last_conv_index(model: Any) -> int | None:
    """Index in ``model.layers`` of the last layer giving a spatial feature map (a Conv2D, or
    a nested backbone model whose output is a 4-D map); None when there is none."""
    import keras

    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if (
            shape is not None
            and len(shape) == 4
            and isinstance(layer, (keras.layers.Conv2D, keras.Model))
        ):
            return i
    return None


def gradcam(model: Any, images: np.ndarray, layer: str | None = None) -> np.ndarray | None:
    """Grad-CAM heatmaps in [0, 1], one per image at the image's size, from ``layer``'s
    feature maps (default: the last convolutional ones, as in the paper); None for models
    without convolutional feature maps or that are not a chain of layers.

    The model is run layer by layer, so a backbone nested inside a transfer model gives
    its feature maps too; the run is checked against the model's own output.
    """
    import tensorflow as tf

    names = [la.name for la in model.layers]
    index = names.index(layer) if layer else last_conv_index(model)
    if index is None or len(model.inputs) != 1:
        return None
    x = tf.convert_to_tensor(np.asarray(images, "float32"))
    with tf.GradientTape() as tape:
        h, maps = x, None
        for i, la in enumerate(model.layers[1:], start=1):
            h = la(h, training=False)
            if i == index:
                maps = h
                tape.watch(maps)
        chosen = tf.gather(h, tf.argmax(h, axis=-1), axis=1, batch_dims=1)
    if maps is None or not np.allclose(h, model(x, training=False), atol=1e-4):
        return None  # not a chain: the layer-by-layer run is not the model
    grads = tape.gradient(chosen, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[..., None]
    cam = tf.image.resize(cam, x.shape[1:3])[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return cam / np.maximum(peak, 1e-12)


def top_losses(model: Any, x: np.ndarray, y: np.ndarray, k: int = 9) -> list[dict[str, Any]]:
    """The ``k`` samples with the highest cross-entropy: index, loss, true, predicted, prob."""
    probs = np.asarray(model.predict(x, verbose=0), "float64")
    y = np.asarray(y).reshape(-1).astype(int)
    if probs.shape[-1] == 1:  # binary: probability of class 1
        probs = np.concatenate([1 - probs, probs], axis=-1)
    losses = -np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12))
    order = np.argsort(-losses)[:k]
    return [
        {
            "index": int(i),
            "loss": float(losses[i]),
            "true": int(y[i]),
            "predicted": int(probs[i].argmax()),
            "probability": float(probs[i].max()),
        }
        for i in order
    ]


def plot_top_losses(x: np.ndarray, found: list[dict], names: list[str], path: Path,
                    title: str) -> None:  # fmt: skip
    """Images (or texts) the model is most wrong about, labelled true / predicted / p."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = int(np.ceil(len(found) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax, item in zip(axes.flat, found):
        sample = x[item["index"]]
        label = (
            f"true {names[item['true']]}, predicted {names[item['predicted']]}\n"
            f"p={item['probability']:.2f}, loss {item['loss']:.2f}"
        )
        if np.asarray(sample).dtype.kind in "OSU":
            text = sample.decode() if isinstance(sample, bytes) else str(sample)
            ax.text(0.02, 0.95, text[:200], wrap=True, va="top", fontsize=8)
        else:
            _show_image(ax, sample)
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(found) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def plot_gradcam(images: np.ndarray, heatmaps: np.ndarray, labels: list[str], path: Path,
                 title: str) -> None:  # fmt: skip
    """Each image with its Grad-CAM heatmap laid over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False)
    for i in range(n):
        _show_image(axes[0, i], images[i])
        axes[0, i].set_title(labels[i], fontsize=8)
        _show_image(axes[1, i], images[i])
        axes[1, i].imshow(heatmaps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle(title + "\ntop: input, bottom: Grad-CAM (red: what decided the class)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def _show_image(ax: Any, image: np.ndarray) -> None:
    img = np.asarray(image, "float32")
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
    if img.ndim == 3 and img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray")
    else:
        ax.imshow(img)


def write_interpretation(model: Any, test: Any, names: list[str], out: Path, title: str,
                         image_shape: tuple | None = None) -> dict[str, Path]:  # fmt: skip
    """``top_losses.png`` (and ``gradcam.png`` for convolutional models) for a classifier
    from up to 500 batched test samples; ``image_shape`` shows flattened inputs (an MLP's
    784 values) as the images they are. Returns the files written."""
    from zoo.data.core import head
    from zoo.staging import write_atomic

    x, y = head(test, 500)
    files = {"top_losses": out / "top_losses.png"}
    found = top_losses(model, x, y)
    shown = x
    if image_shape and x.ndim == 2 and x.shape[1] == int(np.prod(image_shape)):
        shown = x.reshape(len(x), *image_shape)
    write_atomic(files["top_losses"], lambda p: plot_top_losses(shown, found, names, p, title))
    if x.ndim == 4:
        heat = gradcam(model, x[:8])
        if heat is not None:
            predicted = np.asarray(model.predict(x[:8], verbose=0)).argmax(-1)
            labels = [f"predicted {names[int(k)]}" for k in predicted]
            files["gradcam"] = out / "gradcam.png"
            write_atomic(files["gradcam"], lambda p: plot_gradcam(x[:8], heat, labels, p, title))
    return files
