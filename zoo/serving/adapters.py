"""What a served model is for people: raw text and encoded images in, label names and
samples out. Read from the export folder (``export.json``, the saved vocabulary) and,
for a zoo entry, its card; TF Serving's tensor API does not need any of it."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.serving.errors import bad_request
from zoo.serving.versions import Signature, TensorSpec

#: The most pixels an uploaded image may decode to (a 4096 x 4096 photo).
MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class ImageTarget:
    """How an encoded image becomes the model's input: size, channels, scale."""

    height: int
    width: int
    channels: int
    flatten: bool
    raw_pixels: bool  # 0-255 values (the backbone rescales) instead of [0, 1]


@dataclass
class Adapters:
    """Everything beyond tensors: the page's widget, labels, text and image decoding."""

    kind: str  # digit | image | text | language_model | generator | tensor
    labels: list[str] | None = None
    card: dict[str, Any] = field(default_factory=dict)
    image: ImageTarget | None = None
    vocabulary: Path | None = None
    window: int | None = None  # language models: the context the model reads
    _vectorizer: Any = None

    def describe(self) -> dict[str, Any]:
        image = self.image.__dict__ if self.image else None
        return {"kind": self.kind, "labels": self.labels, "card": self.card, "image": image}

    def vectorize(self, texts: list[str]) -> np.ndarray:
        if self._vectorizer is None:
            from zoo.data.vocab import load_vectorizer

            self._vectorizer = load_vectorizer(self.vocabulary)
        return np.asarray(self._vectorizer(np.asarray(texts, dtype=object)))

    def decode_image(self, data: bytes) -> np.ndarray:
        """Encoded JPEG/PNG/... -> the model's input, resized as the training data was."""
        from PIL import Image, UnidentifiedImageError

        t = self.image
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_IMAGE_PIXELS:
                    raise bad_request(
                        f"image is {im.width}x{im.height} pixels; the limit is "
                        f"{MAX_IMAGE_PIXELS} pixels. Send a smaller image."
                    )
                pixels = np.asarray(im.convert("L" if t.channels == 1 else "RGB"), "float32")
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
            raise bad_request(f"b64 value is not a readable image (JPEG, PNG, ...): {exc}") from exc
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.shape[:2] != (t.height, t.width):
            import tensorflow as tf  # the same bilinear resize as the training pipeline

            pixels = tf.image.resize(pixels, (t.height, t.width)).numpy()
        if not t.raw_pixels:
            pixels = pixels / 255.0
        return pixels.reshape(-1) if t.flatten else pixels


def b64_bytes(value: dict) -> bytes:
    """The bytes of TF Serving's ``{"b64": "..."}`` value; a clear error when it is not base64."""
    if set(value) != {"b64"} or not isinstance(value["b64"], str):
        raise bad_request(
            f'an object value must be {{"b64": "<base64 string>"}}, got keys {sorted(value)}'
        )
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"b64 value is not valid base64: {exc}") from exc


def _image_target(spec: TensorSpec, raw_pixels: bool) -> ImageTarget | None:
    dims = spec.shape[1:]
    if not np.issubdtype(spec.dtype, np.floating):
        return None
    if len(dims) == 3 and dims[2] in (1, 3) and min(dims[:2]) > 0:
        return ImageTarget(dims[0], dims[1], dims[2], False, raw_pixels)
    side = math.isqrt(dims[0]) if len(dims) == 1 and dims[0] > 0 else 0
    if spec.name == "pixels" and side >= 8 and side * side == dims[0]:  # a flattened image
        return ImageTarget(side, side, 1, True, raw_pixels)
    return None


def _entry(name: str) -> Any:
    from zoo.registry import get_entry, list_models

    return get_entry(name) if name in list_models() else None


def _card(entry: Any, manifest: dict) -> dict[str, Any]:
    card = {"preprocessing": manifest.get("preprocessing")}
    if entry is not None:
        card.update(summary=entry.summary, task=entry.task, section=entry.section,
                    dataset=entry.dataset)  # fmt: skip
    return card


def _language_model_window(entry: Any, spec: TensorSpec) -> int | None:
    if entry is None or entry.task != "language_model" or not np.issubdtype(spec.dtype, np.integer):
        return None
    return spec.shape[1] if len(spec.shape) == 2 and spec.shape[1] > 0 else None


def adapters_for(base: Path, model_name: str, signature: Signature) -> Adapters:
    """Work out what kind of model ``base`` holds from its signature and export files."""
    manifest_path = base / "export.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    entry = _entry(manifest.get("name") or model_name)
    labels = manifest.get("labels")
    card = _card(entry, manifest)
    ins, outs = list(signature.inputs.values()), list(signature.outputs.values())
    single = ins[0] if len(ins) == 1 else None
    if single is None:
        return Adapters("tensor", labels, card)
    window = _language_model_window(entry, single)
    if window:
        return Adapters("language_model", None, card, window=window)
    vocab = base / "text_vectorization.json"
    if np.issubdtype(single.dtype, np.integer) and vocab.is_file():
        return Adapters("text", labels, card, vocabulary=vocab)
    target = _image_target(single, bool(entry and entry.raw_pixels))
    if target is not None:
        kind = "digit" if (target.height, target.width, target.channels) == (28, 28, 1) else "image"
        return Adapters(kind, labels, card, image=target)
    out = outs[0] if len(outs) == 1 else None
    if out is not None and len(single.shape) == 2 and len(out.shape) == 4:
        return Adapters("generator", None, card)
    return Adapters("tensor", labels, card)
