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
    without convolutional feature maps or that are not a chain of layers, and under a
    backend other than TensorFlow (the gradients are taken with ``tf.GradientTape``).

    The model is run layer by layer, so a backbone nested inside a transfer model gives
    its feature maps too; the run is checked against the model's own output.
    """
    import keras
    import tensorflow as tf

    names = [la.name for la in model.layers]
    index = names.index(layer) if layer else last_conv_index(model)
    if index is None or len(model.inputs) != 1 or keras.backend.backend() != "tensorflow":
        return None  # also: its gradients are taken with TensorFlow's GradientTape
    x = tf.convert_to_tensor(np.asarray(images, "float32"))
    with tf.GradientTape() as tape:
        h, maps = _run_layers(model, x, watch=index, tape=tape)
        chosen = _predicted_score(h)
    if maps is None or not np.allclose(h, model(x, training=False), atol=1e-4):
        return None  # not a chain: the layer-by-layer run is not the model
    grads = tape.gradient(chosen, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[..., None]
    return _unit_peak(tf.image.resize(cam, x.shape[1:3])[..., 0].numpy())


def guided_gradcam(model: Any, images: np.ndarray, layer: str | None = None,
                   cam: np.ndarray | None = None) -> np.ndarray | None:  # fmt: skip
    """Guided Grad-CAM, the paper's high-resolution map: Grad-CAM times guided
    backpropagation (the pixels whose increase raises the predicted class's score, with
    every ReLU passing back only positive gradients where it fired). Grad-CAM says which
    region decided; this says which pixels in it. In [0, 1]; None where Grad-CAM is None.

    ReLUs inside a nested backbone are run as one layer, so their gradients stay plain.
    ``cam``: these images' ``gradcam`` when the caller has it already.
    """
    import tensorflow as tf

    cam = gradcam(model, images, layer) if cam is None else cam
    if cam is None:
        return None
    x = tf.convert_to_tensor(np.asarray(images, "float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        chosen = _predicted_score(_run_layers(model, x, guided=True)[0])
    evidence = np.maximum(tape.gradient(chosen, x).numpy(), 0.0).max(axis=-1)
    return _unit_peak(cam * evidence)


def _run_layers(model: Any, x: Any, watch: int | None = None, tape: Any = None,
                guided: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """``model``'s layers one by one: its output, and layer ``watch``'s output (watched
    on ``tape``); with ``guided``, ReLUs back-propagate as guided backpropagation does."""
    h, maps = x, None
    for i, la in enumerate(model.layers[1:], start=1):
        h = _guided_call(la, h) if guided else la(h, training=False)
        if i == watch:
            maps = h
            tape.watch(maps)
    return h, maps


def _guided_call(layer: Any, x: Any) -> Any:
    """``layer(x)`` with its ReLU (its own, or a separate ReLU layer) made guided."""
    import keras

    relu = keras.activations.relu
    if isinstance(layer, keras.layers.ReLU) or (
        isinstance(layer, keras.layers.Activation) and layer.activation is relu
    ):
        return _guided_relu(x)
    if getattr(layer, "activation", None) is relu:
        layer.activation = keras.activations.linear
        try:
            return _guided_relu(layer(x, training=False))
        finally:
            layer.activation = relu
    return layer(x, training=False)


def _guided_relu(z: Any) -> Any:
    import tensorflow as tf

    @tf.custom_gradient
    def relu(z):
        def grad(dy):
            return dy * tf.cast(z > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

        return tf.nn.relu(z), grad

    return relu(z)


def _predicted_score(probs: Any) -> Any:
    import tensorflow as tf

    return tf.gather(probs, tf.argmax(probs, axis=-1), axis=1, batch_dims=1)


def _unit_peak(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return maps / np.maximum(peak, 1e-12)


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
                 title: str, guided: np.ndarray | None = None) -> None:  # fmt: skip
    """Each image with its Grad-CAM heatmap laid over it, and its Guided Grad-CAM below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, rows = len(images), 2 if guided is None else 3
    fig, axes = plt.subplots(rows, n, figsize=(2.2 * n, 2.3 * rows), squeeze=False)
    for i in range(n):
        _show_image(axes[0, i], images[i])
        axes[0, i].set_title(labels[i], fontsize=8)
        _show_image(axes[1, i], images[i])
        axes[1, i].imshow(heatmaps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        if guided is not None:
            axes[2, i].imshow(guided[i], cmap="hot", vmin=0, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    what = "top: input, middle: Grad-CAM (red: the region that decided the class)"
    if guided is None:
        what = "top: input, bottom: Grad-CAM (red: what decided the class)"
    else:
        what += ",\nbottom: Guided Grad-CAM (bright: the pixels in it that raise the class)"
    fig.suptitle(f"{title}\n{what}", fontsize=10)
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
            guided = guided_gradcam(model, x[:8], cam=heat)
            files["gradcam"] = out / "gradcam.png"
            write_atomic(files["gradcam"],
                         lambda p: plot_gradcam(x[:8], heat, labels, p, title, guided))  # fmt: skip
    return files


# --------------------------------------------------------------------------- attention


def token_attention(model: Any, ids: np.ndarray) -> np.ndarray | None:
    """Per token, the attention it receives in the model's last self-attention layer,
    averaged over heads and over query positions (a pooled classifier reads every position
    alike): which tokens the classification attends to. None without self-attention."""
    import keras

    layers = [la for la in model.layers if isinstance(la, keras.layers.MultiHeadAttention)]
    if not layers or len(model.inputs) != 1:
        return None
    attention = layers[-1]
    query = attention._inbound_nodes[0].input_tensors[0]  # what the layer reads
    x = keras.Model(model.inputs[0], query)(np.asarray(ids), training=False)
    _, scores = attention(x, x, return_attention_scores=True, training=False)
    return np.asarray(scores, "float64").mean(axis=(1, 2))  # (batch, tokens)


def plot_attention(tokens: list[list[str]], weights: np.ndarray, labels: list[str], path: Path,
                   title: str) -> None:  # fmt: skip
    """Each text's tokens, shaded by the attention they receive (darker: more)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tokens), 1, figsize=(10, 1.3 * len(tokens)), squeeze=False)
    for ax, words, w, label in zip(axes[:, 0], tokens, weights, labels):
        real = np.asarray(w[: len(words)], "float64")
        low, high = (float(real.min()), float(real.max())) if len(real) else (0.0, 1.0)
        x, y = 0.0, 0.7
        for word, value in zip(words, real):
            if x > 0.92:
                x, y = 0.0, y - 0.3
            shade = 0.05 + 0.85 * (value - low) / max(high - low, 1e-12)  # the row's range
            ax.text(x, y, word, fontsize=9, va="center", transform=ax.transAxes,
                    bbox={"facecolor": (0.85, 0.1, 0.1, shade), "pad": 1.5,
                          "edgecolor": "none"})  # fmt: skip
            x += 0.012 * (len(word) + 1)
        ax.set_title(f"{label}   (attention from {low:.3f} to {high:.3f} per token)",
                     fontsize=8, loc="left")  # fmt: skip
        ax.axis("off")
    fig.suptitle(title + "\nred: the tokens the last attention layer attends to")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def attended_tokens(model: Any, ids: np.ndarray, vocabulary: list[str]) -> list[list[tuple]]:
    """Per text, its (token, attention) pairs, padding left out; [] per text without
    self-attention in the model."""
    weights = token_attention(model, ids)
    out = []
    for row, w in zip(np.asarray(ids), weights if weights is not None else [None] * len(ids)):
        real = [(vocabulary[int(t)] if int(t) < len(vocabulary) else "[UNK]", float(v))
                for t, v in zip(row, w if w is not None else []) if int(t) != 0]  # fmt: skip
        out.append(real)
    return out


def write_attention(model: Any, x: np.ndarray, names: list[str], vocabulary: list[str],
                    out: Path, title: str) -> dict[str, Path]:  # fmt: skip
    """``attention.png`` for up to six test texts of a Transformer text classifier."""
    from zoo.staging import write_atomic

    ids = np.asarray(x[:6])
    found = attended_tokens(model, ids, vocabulary)
    if not any(found):
        return {}
    predicted = np.asarray(model.predict(ids, verbose=0)).argmax(-1)
    labels = [f"predicted {names[int(k)]}" for k in predicted]
    tokens = [[t for t, _ in row] for row in found]
    weights = np.asarray([[v for _, v in row] + [0.0] * (ids.shape[1] - len(row))
                          for row in found])  # fmt: skip
    path = out / "attention.png"
    write_atomic(path, lambda p: plot_attention(tokens, weights, labels, p, title))
    return {"attention": path}


# --------------------------------------------------------------------------- zoo explain


def first_layer_views(model: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The first convolution's filters (as small images) and its feature maps on
    ``image``; None for models without a Conv2D at the top."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.asarray(layer.kernel)  # (kh, kw, in, out)
            feed = keras.Model(model.inputs[0], layer.output)
            maps = np.asarray(feed(image[None], training=False))[0]  # (h, w, out)
            return kernel, maps
        if isinstance(layer, keras.Model):
            return None  # a nested backbone: its filters are ImageNet's, not this model's
    return None


def explain(
    model_or_name: Any, *, input_file: str | Path | None = None, text: str | None = None,
    out_dir: str | Path | None = None, trusted: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One input of the user's through a trained classifier: its prediction and what
    decided it. Images: Grad-CAM heatmap, first-layer filters and feature maps. Text:
    the tokens a Transformer attends to. Writes ``explain.png`` beside the model (or in
    ``out_dir``) and returns ``{"top": [(label, p), ...], "files": {...}, ...}``."""
    from zoo.errors import InvalidArgumentError
    from zoo.loading import load_trained

    if (input_file is None) == (text is None):
        raise InvalidArgumentError("explain takes one input: an image file or a text.")
    model, report, path = load_trained(model_or_name, trusted=trusted)
    names = (report.get("dataset") or {}).get("class_names")
    out = Path(out_dir) if out_dir is not None else path.parent
    title = f"{report.get('model') or model.name}"
    if text is not None:
        return _explain_text(model, path, text, names, out, title)
    return _explain_image(model, report, Path(input_file), names, out, title)


def _top(probs: np.ndarray, names: list[str] | None, k: int = 3) -> list[tuple[str, float]]:
    names = names or [str(i) for i in range(len(probs))]
    return [(names[int(i)], float(probs[i])) for i in np.argsort(-probs)[:k]]


def _explain_text(model, path, text, names, out, title) -> dict[str, Any]:
    from recipes.text import FILENAME, load_vectorizer
    from zoo.errors import InvalidArgumentError
    from zoo.staging import write_atomic

    vocab = path.with_name(FILENAME)
    if not vocab.is_file():
        raise InvalidArgumentError(f"{path} has no {FILENAME} beside it, so it cannot read "
                                   "text; train a text model with zoo train.")  # fmt: skip
    layer = load_vectorizer(vocab)
    ids = np.asarray(layer(np.asarray([text], dtype=object)))
    probs = np.asarray(model.predict(ids, verbose=0))[0]
    found = attended_tokens(model, ids, layer.get_vocabulary())[0]
    result: dict[str, Any] = {"top": _top(probs, names), "tokens": found, "files": {}}
    if found:
        file = out / "explain.png"
        label = f"predicted {result['top'][0][0]} (p={result['top'][0][1]:.2f})"
        weights = np.asarray([[v for _, v in found]])
        write_atomic(file, lambda p: plot_attention([[t for t, _ in found]], weights, [label],
                                                    p, title))  # fmt: skip
        result["files"]["explain"] = file
    return result


def _explain_image(model, report, input_file, names, out, title) -> dict[str, Any]:
    from zoo.data.images import decode_image, image_target
    from zoo.errors import InvalidArgumentError
    from zoo.registry import get_entry, list_models
    from zoo.staging import write_atomic

    name = report.get("model")
    raw = bool(name in list_models() and get_entry(name).raw_pixels)
    spec = model.inputs[0]
    target = image_target(tuple(spec.shape[1:]), spec.name, "float" in str(spec.dtype), raw)
    if target is None:
        raise InvalidArgumentError(f"{title} does not take images; use --text for text models.")
    if not input_file.is_file():
        raise InvalidArgumentError(f"no image file at {str(input_file)!r}.")
    x = decode_image(input_file.read_bytes(), target, str(input_file))
    probs = np.asarray(model.predict(x[None], verbose=0))[0]
    result: dict[str, Any] = {"top": _top(probs, names), "files": {}}
    image = x.reshape(target.height, target.width, target.channels)
    heat = gradcam(model, image[None]) if not target.flatten else None
    guided = guided_gradcam(model, image[None], cam=heat) if heat is not None else None
    views = first_layer_views(model, image) if not target.flatten else None
    file = out / "explain.png"
    label = f"predicted {result['top'][0][0]} (p={result['top'][0][1]:.2f})"
    write_atomic(file, lambda p: plot_explanation(image, heat, views, label, p, title, guided))
    result["files"]["explain"] = file
    result["gradcam"] = heat is not None
    return result


def plot_explanation(image: np.ndarray, heat: np.ndarray | None, views: tuple | None,
                     label: str, path: Path, title: str,
                     guided: np.ndarray | None = None) -> None:  # fmt: skip
    """The input, its Grad-CAM and Guided Grad-CAM; the first layer's filters and feature
    maps below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = 8
    rows = 1 + (2 if views is not None else 0)
    fig, axes = plt.subplots(rows, shown, figsize=(1.6 * shown, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title("input", fontsize=8)
    if heat is not None:
        _show_image(axes[0, 1], image)
        axes[0, 1].imshow(heat[0], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[0, 1].set_title("Grad-CAM", fontsize=8)
    if guided is not None:
        axes[0, 2].imshow(guided[0], cmap="hot", vmin=0, vmax=1)
        axes[0, 2].set_title("Guided Grad-CAM", fontsize=8)
    axes[0, 3].text(0, 0.5, label, fontsize=10, va="center")
    if views is not None:
        kernel, maps = views
        for i in range(min(shown, kernel.shape[-1])):
            k = kernel[..., i]
            _show_image(axes[1, i], k if k.shape[-1] in (1, 3) else k.mean(-1, keepdims=True))
            axes[1, i].set_title(f"filter {i}", fontsize=7)
            _show_image(axes[2, i], maps[..., i : i + 1])
            axes[2, i].set_title(f"feature map {i}", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
