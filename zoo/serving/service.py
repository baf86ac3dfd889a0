"""What the REST and gRPC front ends share: status, metadata and predict on a
:class:`ModelSet`, with TF Serving's own protos as the one source of each answer."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from zoo.serving import codec
from zoo.serving.errors import RequestError, bad_request
from zoo.serving.models import Live, ModelSet, ServedModel

#: Bounds on what one generate request may ask for.
MAX_GENERATE_LENGTH = 1000
MAX_SAMPLES = 64


def status_proto(model: ServedModel, version: int | None) -> Any:
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for row in model.version_status(version):
        item = response.model_version_status.add()
        item.version = row.version
        item.state = get_model_status_pb2.ModelVersionStatus.State.Value(row.state)
        item.status.SetInParent()
        item.status.error_code = _error_code(row.error_code)
        item.status.error_message = row.error_message
    return response


def _error_code(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)


def signature_map(live: Live) -> Any:
    from tensorflow_serving.apis import get_model_metadata_pb2

    sigs = get_model_metadata_pb2.SignatureDefMap()
    for name, sig in live.loaded.signatures.items():
        sigs.signature_def[name].CopyFrom(sig.proto)
    return sigs


def model_spec(live: Live, name: str, signature: str = "") -> Any:
    from tensorflow_serving.apis import model_pb2

    spec = model_pb2.ModelSpec(name=name, signature_name=signature)
    spec.version.value = live.version
    return spec


def to_dict(message: Any) -> dict[str, Any]:
    """A proto as TF Serving's REST API prints it (proto field names, defaults shown)."""
    from google.protobuf import json_format

    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def metadata_body(models: ModelSet, name: str, version: int | None) -> dict[str, Any]:
    live = models[name].get(version)
    return {
        "model_spec": to_dict(model_spec(live, name)),
        "metadata": {"signature_def": to_dict(signature_map(live))},
    }


def run_errors(exc: Exception) -> RequestError:
    """A model error as TF Serving reports it: bad inputs 400, anything else 500."""
    import tensorflow as tf

    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, (tf.errors.InvalidArgumentError, ValueError, TypeError)):
        return RequestError(400, f"{type(exc).__name__}: {exc}")
    return RequestError(500, f"{type(exc).__name__}: {exc}")


async def predict_rest(models: ModelSet, name: str, version: int | None, doc: dict) -> dict:
    """A REST predict: TF Serving's answer, plus ``top_k`` labels when asked for."""
    model = models[name]
    live = model.get(version)
    signature = live.signature(doc.get("signature_name"))
    inputs, row = codec.request_inputs(doc, signature, live.adapters)
    try:
        outputs = await model.run(live, signature, inputs)
    except Exception as exc:
        raise run_errors(exc) from exc
    body = codec.response_body(outputs, row)
    if "top_k" in doc:
        probs = next(iter(outputs.values())) if len(outputs) == 1 else None
        if probs is None:
            raise bad_request("top_k is for models with one output")
        body["top_k"] = codec.top_k(probs, live.adapters.labels, doc["top_k"])
    return body


async def predict_grpc(models: ModelSet, request: Any) -> Any:
    """A gRPC ``PredictRequest`` -> ``PredictResponse``."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    spec = request.model_spec
    model = models[spec.name]
    live = model.get(spec.version.value if spec.HasField("version") else None)
    signature = live.signature(spec.signature_name)
    inputs = codec.grpc_inputs(request.inputs, signature, live.adapters)
    try:
        outputs = await model.run(live, signature, inputs)
    except Exception as exc:
        raise run_errors(exc) from exc
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(model_spec(live, spec.name, signature.name))
    wanted = set(request.output_filter) or set(outputs)
    for key in wanted:
        if key not in outputs:
            raise bad_request(f"output_filter names {key!r}, which the signature does not have")
        response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
    return response


def _int_field(doc: dict, key: str, default: int, low: int, high: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{key!r} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _float_field(doc: dict, key: str, default: float, low: float, high: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"{key!r} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def _seed(doc: dict) -> int | None:
    seed = doc.get("seed")
    return None if seed is None else _int_field(doc, "seed", 0, 0, 2**32 - 1)


async def generate(models: ModelSet, name: str, version: int | None, doc: dict) -> dict:
    """Beyond TF Serving: text from a prompt, or sample images as PNG."""
    model = models[name]
    live = model.get(version)
    kind = live.adapters.kind
    if kind == "language_model":
        return await _generate_text(model, live, doc)
    if kind == "generator":
        return await _generate_images(model, live, doc)
    if kind == "diffusion":
        return await _generate_diffusion(model, live, doc)
    raise bad_request(f"{name} is a {kind} model; generate is for language and generative models")


async def _generate_text(model: ServedModel, live: Live, doc: dict) -> dict:
    from zoo.text import context_window, decode, encode, next_id

    prompt = doc.get("prompt", "")
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string")
    length = _int_field(doc, "length", 200, 1, MAX_GENERATE_LENGTH)
    temperature = _float_field(doc, "temperature", 1.0, 0.0, 10.0)
    top_k = None if doc.get("top_k") is None else _int_field(doc, "top_k", 0, 1, 100_000)
    top_p = None if doc.get("top_p") is None else _float_field(doc, "top_p", 1.0, 1e-6, 1.0)
    rng = np.random.default_rng(_seed(doc))
    signature = live.signature(None)
    (key,) = signature.inputs
    ids = list(encode(prompt))
    new = []
    for _ in range(length):
        x, at = context_window(ids, live.adapters.window)
        out = await model.run(live, signature, {key: x.astype(signature.inputs[key].dtype)})
        probs = next(iter(out.values()))[0, at]
        ids.append(next_id(probs, temperature, rng, top_k, top_p))
        new.append(ids[-1])
    return {"prompt": prompt, "text": decode(new)}


async def _generate_images(model: ServedModel, live: Live, doc: dict) -> dict:
    count = _int_field(doc, "count", 8, 1, MAX_SAMPLES)
    signature = live.signature(None)
    ((key, spec),) = signature.inputs.items()
    noise = np.random.default_rng(_seed(doc)).standard_normal((count, spec.shape[1]))
    out = await model.run(live, signature, {key: noise.astype(spec.dtype)})
    return {"images": _pngs(next(iter(out.values())))}


async def _generate_diffusion(model: ServedModel, live: Live, doc: dict) -> dict:
    """DDIM over the exported denoiser, on the model's own thread (its steps are serial)."""
    import asyncio

    from zoo.models.generative import ddim_sample, noise_schedule

    count = _int_field(doc, "count", 4, 1, MAX_SAMPLES // 4)
    steps = _int_field(doc, "steps", 20, 1, 200)
    signature = live.signature(None)
    image = next(s for s in signature.inputs.values() if len(s.shape) == 4)
    step = next(s for s in signature.inputs.values() if len(s.shape) != 4)
    (out_key,) = signature.outputs

    def denoise(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        batch = {image.name: x.astype(image.dtype), step.name: t.astype(step.dtype)}
        return live.loaded.run(signature.name, batch)[out_key]

    schedule = noise_schedule(live.adapters.timesteps)
    images = await asyncio.get_running_loop().run_in_executor(
        model.executor, ddim_sample, denoise, count, image.shape[1:], schedule, steps,
        _seed(doc),
    )  # fmt: skip
    return {"images": _pngs(images)}


def _pngs(images: np.ndarray) -> list[dict[str, str]]:
    """Images in [0, 1] as TF Serving-style ``{"b64": PNG}`` values."""
    from PIL import Image

    images = np.clip(images, 0.0, 1.0)
    pngs = []
    for img in (images * 255).round().astype("uint8"):
        buf = io.BytesIO()
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(buf, format="PNG")
        pngs.append({"b64": base64.b64encode(buf.getvalue()).decode()})
    return pngs
