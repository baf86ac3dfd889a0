"""TF Serving's request and response formats: the REST JSON (row and columnar, ``b64``
values) and gRPC's ``TensorProto`` maps, to and from numpy batches checked against the
signature. Raw text and encoded images go through the model's :class:`Adapters`."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from zoo.serving.adapters import Adapters, b64_bytes
from zoo.serving.errors import bad_request
from zoo.serving.versions import Signature, TensorSpec


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (JSON has no NaN or Infinity)")


def parse_json(body: bytes) -> dict[str, Any]:
    """The request object; malformed JSON and NaN/Infinity literals are a 400."""
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"JSON Parse error: {exc}") from exc
    if not isinstance(doc, dict):
        raise bad_request("JSON Value: the request body must be a JSON object")
    return doc


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and "b64" in value


def _numeric(value: Any, spec: TensorSpec, where: str, batch: bool) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged lists
        raise bad_request(f"{where}: lists of unequal length ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise bad_request(
            f"{where}: expected numbers for {spec.dtype_name}, got {arr.dtype.kind!r} values"
        )
    if np.issubdtype(spec.dtype, np.integer) and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise bad_request(f"{where}: {spec.dtype_name} takes whole numbers")
    with np.errstate(over="ignore"):
        arr = arr.astype(spec.dtype)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise bad_request(f"{where}: non-finite value (too large for {spec.dtype_name})")
    shape = arr.shape[1:] if batch else arr.shape
    if not spec.check_instance_shape(shape):
        want = ["?" if d < 0 else d for d in spec.shape[1:]]
        raise bad_request(
            f"{where}: shape {list(shape)} does not match the signature's {want} (per instance)"
        )
    return arr


def _raw(value: Any, spec: TensorSpec, adapters: Adapters, where: str) -> np.ndarray:
    """A string or ``b64`` value: bytes for string inputs, else text or an image."""
    data = b64_bytes(value) if _is_b64(value) else value
    if spec.dtype == object:
        return np.asarray(data.encode() if isinstance(data, str) else data, dtype=object)
    if isinstance(data, bytes) and adapters.image is not None:
        return adapters.decode_image(data)
    if isinstance(data, str) and adapters.kind == "text":
        return adapters.vectorize([data])[0]
    kind = "an encoded image" if isinstance(data, bytes) else "a string"
    raise bad_request(
        f"{where}: got {kind} for {spec.dtype_name} input {spec.name!r}; this model takes "
        f"numbers here (raw text works for text models, b64 images for image models)"
    )


def to_instance(value: Any, spec: TensorSpec, adapters: Adapters, where: str) -> np.ndarray:
    if isinstance(value, str) or _is_b64(value):
        return _raw(value, spec, adapters, where)
    return _numeric(value, spec, where, batch=False)


def _stack(values: list[np.ndarray], spec: TensorSpec) -> np.ndarray:
    if spec.dtype == object:
        return np.asarray(values, dtype=object)
    return np.stack(values).astype(spec.dtype, copy=False)


def _to_batch(value: Any, spec: TensorSpec, adapters: Adapters, where: str) -> np.ndarray:
    if isinstance(value, list) and value and (isinstance(value[0], str) or _is_b64(value[0])):
        items = [to_instance(v, spec, adapters, f"{where}[{i}]") for i, v in enumerate(value)]
        return _stack(items, spec)
    if not isinstance(value, list) or not value:
        raise bad_request(f"{where}: expected a non-empty list (one entry per instance)")
    return _numeric(value, spec, where, batch=True)


def _named(value: Any, signature: Signature) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _row_inputs(instances: Any, signature: Signature, adapters: Adapters) -> dict:
    if not isinstance(instances, list) or not instances:
        raise bad_request("'instances' must be a non-empty list")
    names = list(signature.inputs)
    columns: dict[str, list] = {n: [] for n in names}
    for i, inst in enumerate(instances):
        if _named(inst, signature):
            if set(inst) != set(names):
                raise bad_request(f"instance {i} has keys {sorted(inst)}; expected {sorted(names)}")
            for n in names:
                where = f"instance {i}, input {n!r}"
                columns[n].append(to_instance(inst[n], signature.inputs[n], adapters, where))
        elif len(names) == 1:
            columns[names[0]].append(
                to_instance(inst, signature.inputs[names[0]], adapters, f"instance {i}")
            )
        else:
            raise bad_request(f"instance {i} must be an object with the keys {sorted(names)}")
    return {n: _stack(v, signature.inputs[n]) for n, v in columns.items()}


def _columnar_inputs(inputs: Any, signature: Signature, adapters: Adapters) -> dict:
    names = list(signature.inputs)
    if _named(inputs, signature) and (len(names) > 1 or set(inputs) == set(names)):
        if set(inputs) != set(names):
            raise bad_request(f"'inputs' has keys {sorted(inputs)}; expected {sorted(names)}")
        batch = {n: _to_batch(inputs[n], signature.inputs[n], adapters, f"input {n!r}")
                 for n in names}  # fmt: skip
    elif len(names) == 1:
        batch = {names[0]: _to_batch(inputs, signature.inputs[names[0]], adapters, "inputs")}
    else:
        raise bad_request(f"'inputs' must be an object with the keys {sorted(names)}")
    sizes = {len(v) for v in batch.values()}
    if len(sizes) > 1:
        raise bad_request(f"inputs have different batch sizes {sorted(sizes)}")
    return batch


def request_inputs(
    doc: dict[str, Any], signature: Signature, adapters: Adapters
) -> tuple[dict[str, np.ndarray], bool]:
    """The batch a REST predict request asks for, and whether it used the row format."""
    row, col = "instances" in doc, "inputs" in doc
    if row == col:
        raise bad_request(
            "Missing 'inputs' or 'instances' key" if not row else
            "Request body has both 'instances' and 'inputs'; use one of them"
        )  # fmt: skip
    if row:
        return _row_inputs(doc["instances"], signature, adapters), True
    return _columnar_inputs(doc["inputs"], signature, adapters), False


def _jsonable(arr: np.ndarray, name: str) -> Any:
    if arr.dtype == object:
        import base64

        if name.endswith("_bytes"):  # TF Serving's rule for binary outputs
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(
                arr
            ).tolist()
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(arr).tolist()
    return arr.tolist()


def response_body(outputs: dict[str, np.ndarray], row: bool) -> dict[str, Any]:
    """``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar), as TF Serving."""
    names = sorted(outputs)
    if not row:
        if len(names) == 1:
            return {"outputs": _jsonable(outputs[names[0]], names[0])}
        return {"outputs": {n: _jsonable(outputs[n], n) for n in names}}
    if len(names) == 1:
        return {"predictions": _jsonable(outputs[names[0]], names[0])}
    cols = {n: _jsonable(outputs[n], n) for n in names}
    size = len(next(iter(cols.values())))
    return {"predictions": [{n: cols[n][i] for n in names} for i in range(size)]}


def top_k(probabilities: np.ndarray, labels: list[str] | None, k: Any) -> list[list[dict]]:
    """Per instance, the ``k`` most probable labels with their probabilities."""
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise bad_request("top_k is for classifiers (one probability per class)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise bad_request(f"top_k must be a whole number >= 1, got {k!r}")
    names = labels if labels and len(labels) == probabilities.shape[1] else None
    names = names or [str(i) for i in range(probabilities.shape[1])]
    order = np.argsort(-probabilities, axis=1)[:, :k]
    return [
        [{"label": names[j], "probability": float(p[j])} for j in idx]
        for p, idx in zip(probabilities, order)
    ]


def grpc_inputs(tensors: Any, signature: Signature, adapters: Adapters) -> dict[str, np.ndarray]:
    """A gRPC request's ``TensorProto`` map, checked against the signature."""
    import tensorflow as tf

    if set(tensors) != set(signature.inputs):
        raise bad_request(f"inputs {sorted(tensors)} do not match the signature's "
                          f"{sorted(signature.inputs)}")  # fmt: skip
    batch = {}
    for name, proto in tensors.items():
        spec = signature.inputs[name]
        try:
            arr = tf.make_ndarray(proto)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"input {name!r}: unreadable TensorProto: {exc}") from exc
        if arr.dtype == object and spec.dtype != object:  # raw text or encoded images
            items = [to_instance(v if isinstance(v, bytes) and adapters.image else v.decode(),
                                 spec, adapters, f"input {name!r}[{i}]")
                     for i, v in enumerate(arr.reshape(-1))]  # fmt: skip
            batch[name] = _stack(items, spec)
        elif arr.dtype != spec.dtype:
            raise bad_request(
                f"input {name!r}: expects {spec.dtype_name} but got {arr.dtype} values"
            )
        else:
            batch[name] = _numeric(arr, spec, f"input {name!r}", batch=True)
    return batch
