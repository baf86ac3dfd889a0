"""What a served model is for people: raw text and encoded images in, label names and
samples out. Read from the export folder (``export.json``, the saved vocabulary) and,
for a zoo entry, its card; TF Serving's tensor API does not need any of it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.images import ImageTarget, decode_image, image_target
from zoo.errors import DataFormatError
from zoo.serving.errors import bad_request
from zoo.serving.versions import Signature, TensorSpec


@dataclass
class Adapters:
    """Everything beyond tensors: the page's widget, labels, text and image decoding."""

    kind: str  # digit | image | text | language_model | generator | diffusion | tensor
    labels: list[str] | None = None
    card: dict[str, Any] = field(default_factory=dict)
    image: ImageTarget | None = None
    vocabulary: Path | None = None
    window: int | None = None  # language models: the context the model reads
    timesteps: int | None = None  # diffusion: the noise schedule's length
    output: str = "values"  # "classes" (probabilities), "image", or "values"
    _vectorizer: Any = None

    def describe(self) -> dict[str, Any]:
        image = self.image.__dict__ if self.image else None
        return {"kind": self.kind, "labels": self.labels, "card": self.card, "image": image,
                "output": self.output}  # fmt: skip

    def vectorize(self, texts: list[str]) -> np.ndarray:
        if self._vectorizer is None:
            from zoo.data.vocab import load_vectorizer

            self._vectorizer = load_vectorizer(self.vocabulary)
        return np.asarray(self._vectorizer(np.asarray(texts, dtype=object)))

    def decode_image(self, data: bytes) -> np.ndarray:
        """Encoded JPEG/PNG/... -> the model's input, resized as the training data was."""
        try:
            return decode_image(data, self.image, "b64 value")
        except DataFormatError as exc:
            raise bad_request(str(exc)) from exc


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
    floating = bool(np.issubdtype(spec.dtype, np.floating))
    return image_target(spec.shape[1:], spec.name, floating, raw_pixels)


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


def _output_kind(outs: list[TensorSpec]) -> str:
    if len(outs) != 1:
        return "values"
    shape = outs[0].shape
    if len(shape) == 4 and shape[-1] in (1, 3):
        return "image"
    return "classes" if len(shape) == 2 and shape[-1] > 1 else "values"


def _timesteps(base: Path, entry: Any, manifest: dict) -> int:
    """The schedule a served denoiser was trained with: its export's or its run's keywords,
    else the card's default."""
    exported = manifest.get("keywords") or {}
    if isinstance(exported.get("timesteps"), int):
        return exported["timesteps"]
    metrics = base / "metrics.json"
    if metrics.is_file():
        try:
            keywords = json.loads(metrics.read_text()).get("keywords") or {}
            if isinstance(keywords.get("timesteps"), int):
                return keywords["timesteps"]
        except (json.JSONDecodeError, AttributeError):
            pass  # no readable report: the card's default
    return int(entry.defaults()["timesteps"])


def adapters_for(base: Path, model_name: str, signature: Signature) -> Adapters:
    """Work out what kind of model ``base`` holds from its signature and export files."""
    kind = _adapters_for(base, model_name, signature)
    kind.output = _output_kind(list(signature.outputs.values()))
    return kind


def _adapters_for(base: Path, model_name: str, signature: Signature) -> Adapters:
    manifest_path = base / "export.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    entry = _entry(manifest.get("name") or model_name)
    labels = manifest.get("labels")
    card = _card(entry, manifest)
    ins, outs = list(signature.inputs.values()), list(signature.outputs.values())
    single = ins[0] if len(ins) == 1 else None
    if entry is not None and entry.task == "diffusion" and len(ins) == 2:
        return Adapters("diffusion", None, card, timesteps=_timesteps(base, entry, manifest))
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
