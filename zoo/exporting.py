"""Export any Keras 3 model as a TF Serving SavedModel, TFLite and ONNX, checked against Keras.

``zoo.export(model_or_path, out_dir, formats=..., quantize=...)`` writes::

    out_dir/<version>/          SavedModel (TF Serving layout; the version increments)
    out_dir/<name>[_<q>].tflite builtin ops only, so it runs in ai_edge_litert on phones
    out_dir/<name>.onnx
    out_dir/export.json         inputs, outputs, labels, preprocessing, sizes, parity, versions

Every artifact is loaded back and run on sample inputs before anything is
moved into place; a float32 artifact that differs from Keras by more than the
tolerance fails the export, and a failed or killed export leaves no version
folder and no file behind (everything is built in a hidden staging folder).
TFLite conversion runs in a child process because the converter can crash.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InvalidArgumentError, ZooError
from zoo.registry import EXPORT_FORMATS as FORMATS
from zoo.registry import QUANTIZATIONS
from zoo.reports import jsonable, library_versions
from zoo.staging import apply_umask, check_output_folder, temp_dir, write_atomic

DEFAULT_TOLERANCE = 1e-5


class ExportError(ZooError, RuntimeError):
    """An export that could not be produced (converter failure or crash)."""


class ParityError(ExportError):
    """An artifact whose outputs differ from the Keras model's beyond the tolerance."""


@dataclass
class ExportReport:
    """Where the artifacts went and what the manifest says about them."""

    out_dir: Path
    version: int | None
    files: dict[str, Path] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- inputs


def _load_model(
    model_or_path: Any, trusted: bool = False
) -> tuple[Any, dict[str, Any], Path | None]:
    """A Keras model, the training report found beside a ``.keras`` file, and that file."""
    import keras

    if isinstance(model_or_path, keras.Model):
        return model_or_path, {}, None
    path = Path(model_or_path)
    if path.suffix != ".keras":
        from zoo.registry import list_models

        if str(model_or_path) not in list_models():
            raise InvalidArgumentError(
                f"Cannot export {str(path)!r}: give a keras.Model, a .keras file, or the name "
                "of a model trained with zoo train."
            )
    from zoo.loading import load_trained

    # a registered name -> saved_models/NAME/model.keras
    return load_trained(model_or_path, trusted=trusted)


def _input_specs(model: Any) -> list[dict[str, Any]]:
    return [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.inputs]


def _as_batch(model: Any, data: Any, limit: int) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Inputs (one array per model input) and optional labels from arrays or a tf.data set."""
    n_in = len(model.inputs)

    def split(el: Any) -> tuple[Any, Any]:
        if isinstance(el, dict):
            return [el[t.name] for t in model.inputs], None
        if isinstance(el, (tuple, list)):
            first = el[0]
            if n_in == 1 or isinstance(first, (tuple, list, dict)):
                x = first
                if isinstance(x, dict):
                    x = [x[t.name] for t in model.inputs]
                return x, (el[1] if len(el) > 1 else None)
            return list(el), None
        return el, None

    if hasattr(data, "as_numpy_iterator"):
        xs_parts: list[list[np.ndarray]] = []
        ys: list[np.ndarray] = []
        count = 0
        for el in data.as_numpy_iterator():
            x, y = split(el)
            x = [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
            if x[0].ndim == len(model.inputs[0].shape) - 1:  # unbatched dataset
                x = [a[None] for a in x]
                y = None if y is None else np.asarray(y)[None]
            xs_parts.append(x)
            if y is not None:
                ys.append(np.asarray(y))
            count += len(x[0])
            if count >= limit:
                break
        if not xs_parts:
            raise InvalidArgumentError("The data given to export is empty.")
        xs = [np.concatenate([p[i] for p in xs_parts])[:limit] for i in range(n_in)]
        y_all = np.concatenate(ys)[:limit] if len(ys) == len(xs_parts) else None
        return xs, y_all
    x, y = split(data) if isinstance(data, tuple) else (data, None)
    xs = [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
    if len(xs) != n_in:
        raise InvalidArgumentError(f"The model takes {n_in} input(s); the data has {len(xs)}.")
    return [a[:limit] for a in xs], (None if y is None else np.asarray(y)[:limit])


def _cast_inputs(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for t, a in zip(model.inputs, xs):
        want = tuple(t.shape[1:])
        got = tuple(a.shape[1:])
        if len(got) != len(want) or any(w not in (None, g) for w, g in zip(want, got)):
            raise InvalidArgumentError(
                f"Export data for input {t.name!r} has shape {list(a.shape[1:])}; "
                f"the model expects {list(want)} per sample."
            )
        out.append(a.astype(str(t.dtype)))
    return out


def synthetic_inputs(model: Any, n: int = 8, seed: int = 0, high: float = 1.0) -> list:
    """Random inputs of the model's shapes: small token ids for int inputs, else uniform."""
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (n, *(d if d is not None else 8 for d in t.shape[1:]))
        if "int" in str(t.dtype):
            xs.append(rng.integers(1, 20, size=shape).astype(str(t.dtype)))
        else:
            xs.append((rng.random(shape) * high).astype(str(t.dtype)))
    return xs


def _keras_predict(model: Any, xs: list[np.ndarray]) -> np.ndarray:
    from keras import ops

    y = model(xs if len(xs) > 1 else xs[0], training=False)
    if isinstance(y, (list, tuple, dict)):
        raise InvalidArgumentError(
            "zoo.export handles single-output models; export each output's sub-model."
        )
    return np.asarray(ops.convert_to_numpy(y), dtype="float32")


# --------------------------------------------------------------------------- runners


def _run_saved_model(path: Path, model: Any, xs: list[np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    # keep the reference while calling its functions (docs/PLATFORM_NOTES.md)
    obj = tf.saved_model.load(str(path))
    fn = obj.signatures["serving_default"]
    kwargs = {t.name: tf.constant(a) for t, a in zip(model.inputs, xs)}
    try:
        out = fn(**kwargs)
    except TypeError:  # positional-only signatures name their inputs args_0, ...
        args = fn.structured_input_signature[1]
        out = fn(**{k: tf.constant(a) for k, a in zip(sorted(args), xs)})
    return np.asarray(next(iter(out.values())), dtype="float32")


def _run_tflite(path: Path, model: Any, xs: list[np.ndarray]) -> np.ndarray:
    """Run a .tflite file sample by sample, without the interpreter's XNNPACK banner."""
    from zoo.runtime import filtered_stderr

    with filtered_stderr():
        return _invoke_tflite(path, model, xs)


def _invoke_tflite(path: Path, model: Any, xs: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    runner = interp.get_signature_runner()
    details = runner.get_input_details()
    names = list(details)
    if len(names) == len(model.inputs) and set(names) != {t.name for t in model.inputs}:
        names = sorted(names)  # positional names (args_0, ...) follow the input order
        mapping = dict(zip([t.name for t in model.inputs], names))
    else:
        mapping = {t.name: t.name for t in model.inputs}
    out_details = runner.get_output_details()
    outs = []
    for i in range(len(xs[0])):
        feed = {}
        for t, a in zip(model.inputs, xs):
            d = details[mapping[t.name]]
            v = a[i : i + 1]
            if d["dtype"] == np.int8 and a.dtype != np.int8:
                scale, zero = d["quantization"]
                v = np.clip(np.round(v / scale + zero), -128, 127)
            feed[mapping[t.name]] = v.astype(d["dtype"])
        res = runner(**feed)
        key = next(iter(res))
        y = res[key].astype("float32")
        od = out_details[key]
        if od["dtype"] == np.int8:
            scale, zero = od["quantization"]
            y = (y - zero) * scale
        outs.append(y)
    return np.concatenate(outs)


def _run_onnx(path: Path, model: Any, xs: list[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp, a in zip(sess.get_inputs(), xs):
        dtype = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
        feeds[inp.name] = a.astype(dtype.get(inp.type, str(a.dtype)))
    return np.asarray(sess.run(None, feeds)[0], dtype="float32")


# --------------------------------------------------------------------------- parity


def _predictions(y: np.ndarray) -> np.ndarray | None:
    if y.ndim != 2:
        return None
    return np.argmax(y, axis=-1) if y.shape[-1] > 1 else (y[:, 0] > 0.5).astype(int)


def parity(reference: np.ndarray, other: np.ndarray, labels: np.ndarray | None) -> dict:
    """Max abs diff and top-1 agreement against Keras, plus accuracy when labels are known."""
    out: dict[str, Any] = {
        "samples": int(len(reference)),
        "max_abs_diff": float(np.max(np.abs(reference - other))) if reference.size else 0.0,
    }
    ref_p, oth_p = _predictions(reference), _predictions(other)
    if ref_p is not None:
        out["top1_agreement"] = float(np.mean(ref_p == oth_p))
        if labels is not None:
            y = np.asarray(labels)
            y = np.argmax(y, -1) if y.ndim == 2 and y.shape[-1] > 1 else y.reshape(-1)
            out["accuracy_keras"] = float(np.mean(ref_p == y))
            out["accuracy"] = float(np.mean(oth_p == y))
    return out


# --------------------------------------------------------------------------- export


def _needs_static_batch(model: Any) -> bool:
    """RNN loops lower to builtins only with a static batch (docs/PLATFORM_NOTES.md);
    unrolled ones need not."""
    import keras

    def layers(m: Any):
        for layer in m.layers if hasattr(m, "layers") else ():
            yield layer
            yield from layers(layer)
            inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
            if inner is not None:
                yield inner

    return any(isinstance(la, keras.layers.RNN) and not la.unroll for la in layers(model))


def _next_version(out_dir: Path) -> int:
    versions = [int(p.name) for p in out_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def _normalize_quantize(quantize: Any, formats: Sequence[str]) -> list[str | None]:
    if quantize is None or isinstance(quantize, str):
        variants = [quantize]
    else:
        variants = list(quantize)
    for q in variants:
        if q is not None and q not in QUANTIZATIONS:
            raise InvalidArgumentError(
                f"Unknown quantization {q!r}; choose None (float32) or one of {QUANTIZATIONS}."
            )
    if any(q is not None for q in variants) and "tflite" not in formats:
        raise InvalidArgumentError("Quantization applies to TFLite; add 'tflite' to formats.")
    return list(dict.fromkeys(variants))


def _recipe_data(name: str, model: Any, report: dict, split: str, limit: int, dataset=None,
                 source: Path | None = None, required: bool = True):  # fmt: skip
    """The training / test split of the recipe the model was (or would be) trained on,
    prepared as in training: raw pixels for models that preprocess inside, token ids
    (the vocabulary saved beside the model, or the model's own tokenizer) for text.

    Unless the user named the dataset (``required``), data that does not fit the model
    (a registered name on a model built with other shapes) or that is not on this machine
    gives None, not an error: the caller falls back to the user's or random inputs.
    """
    from zoo.errors import DatasetUnavailableError, ShapeMismatchError

    try:
        return _prepared_split(name, model, report, split, limit, dataset, source)
    except (ShapeMismatchError, DatasetUnavailableError):
        if required:
            raise
        return None


def _prepared_split(name, model, report, split, limit, dataset, source):
    import zoo
    from zoo.data.vocab import FILENAME, load_vectorizer

    entry = _entry_or_none(name)
    dataset = _recipe_dataset(name, report, dataset)
    if dataset is None:
        return None
    vectorize = getattr(model, "tokenize", None)
    if vectorize is None and source is not None and source.with_name(FILENAME).is_file():
        vectorize = load_vectorizer(source.with_name(FILENAME))
    raw = zoo.data.load_raw(dataset)
    if raw.info.modality == "text" and vectorize is None:
        return None  # no vocabulary: fall back to the caller's inputs
    splits = zoo.data.pipeline(
        raw,
        batch_size=64,
        input_shape=model.input_shape[1:],
        rescale=not (entry is not None and entry.raw_pixels),
        vectorize=vectorize,
    )
    return _as_batch(model, getattr(splits, split), limit)


def _convert_tflite(src: Path, jobs: list[dict], workdir: Path) -> None:
    spec = workdir / "litert_jobs.json"
    spec.write_text(json.dumps({"src": str(src), "jobs": jobs}))
    script = Path(__file__).with_name("_litert_convert.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(spec)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ZOO_PARENT_PID": str(os.getpid())},  # it dies with us
    )
    done = {line[5:] for line in proc.stdout.splitlines() if line.startswith("DONE ")}
    for job in jobs:
        if job["out"] in done:
            continue
        label = job["quantize"] or "float32"
        failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED ")]
        if failed:
            why = failed[0].split("\t", 1)[-1][:800]
        elif proc.returncode < 0:
            why = (
                f"the converter crashed (signal {-proc.returncode}). Full-int8 calibration of "
                "while-loop RNNs is a known converter crash: build the model with unroll=True, "
                "or use quantize='dynamic'"
            )
        else:
            why = f"the converter exited with code {proc.returncode}: {proc.stderr[-800:]}"
        raise ExportError(f"TFLite ({label}) conversion failed: {why}")


def export(
    model_or_path: Any,
    out_dir: str | os.PathLike | None = None,
    *,
    formats: Sequence[str] | None = None,
    quantize: str | Sequence[str | None] | None = None,
    representative_data: Any = None,
    validation_data: Any = None,
    dataset: str | None = None,
    int8_io: bool = False,
    name: str | None = None,
    labels: Sequence[str] | None = None,
    preprocessing: str | None = None,
    tolerance: float | None = None,
    samples: int = 256,
    trusted: bool = False,
) -> ExportReport:
    """Export a Keras model (or a ``.keras`` file) and check every artifact against Keras.

    ``formats``: default, all that the active backend writes (``BACKEND_FORMATS``:
    every format on TensorFlow, SavedModel and TFLite on JAX, ONNX on torch).

    ``quantize`` picks the TFLite variants: ``None`` (float32), ``"dynamic"``,
    ``"float16"``, ``"int8"`` or a list of them. Full int8 calibrates on
    ``representative_data`` (arrays or a ``tf.data`` set); when none is given
    it uses the training split of the model's recipe. Parity runs on
    ``validation_data`` (default: the recipe's test split for quantized
    exports, else random inputs of the model's shapes). ``dataset`` names the
    zoo dataset to take both from instead of the recipe's; data given by the caller is
    used instead of any dataset, and ``export.json`` records which data each check used.
    ``trusted`` loads a ``.keras`` file's Lambda layers (code: only for files you trust).
    """
    formats, variants = _check_formats(formats, quantize)
    if out_dir is not None:
        check_output_folder(Path(out_dir), "out_dir")
    model, report, source = _load_model(model_or_path, trusted)
    name = name or report.get("model") or model.name
    entry = _entry_or_none(name)
    if tolerance is None:
        tolerance = getattr(entry, "export_tolerance", None) or DEFAULT_TOLERANCE
    out = Path(out_dir) if out_dir is not None else Path("saved_models") / name
    if labels is None:
        labels = (report.get("dataset") or {}).get("class_names")
    if preprocessing is None:
        preprocessing = (
            entry.preprocessing if entry else None
        ) or "not recorded: feed what the Keras model was trained on"
    rep, val, data_sources = _export_data(
        model, name, report, source, variants, representative_data, validation_data, dataset,
        samples,
    )  # fmt: skip
    xs, ys = _cast_inputs(model, val[0]), val[1]
    reference = _keras_predict(model, xs)

    def produce(staging: Path) -> tuple[dict[str, Path], dict]:
        artifacts, figures = _produce(
            model, name, staging, formats, variants, rep, int8_io, xs, ys, reference, tolerance
        )
        manifest = _manifest(
            model, name, artifacts, figures, variants, labels, preprocessing, tolerance, int8_io
        )
        return artifacts, {**manifest, **data_sources}

    return _staged_export(out, name, produce)


#: What ``model.export`` writes from each backend: JAX converts through jax2tf (a
#: SavedModel, and TFLite from it), torch through ``torch.onnx``. ONNX from JAX would need
#: jax2onnx, and a SavedModel from torch is experimental in Keras: both are refused.
BACKEND_FORMATS = {
    "tensorflow": FORMATS,
    "jax": ("saved_model", "tflite"),
    "torch": ("onnx",),
}


def _check_formats(formats: Sequence[str] | None, quantize: Any) -> tuple[list[str], list]:
    """The formats to write (``None``: all the active backend writes) and TFLite variants."""
    from zoo.backends import active

    backend = active()
    formats = list(dict.fromkeys(BACKEND_FORMATS[backend] if formats is None else formats))
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise InvalidArgumentError(
            f"Unknown export format(s) {sorted(unknown)}; choose from {list(FORMATS)}."
        )
    _check_backend_writes(backend, formats)
    variants = _normalize_quantize(quantize, formats)
    return formats, variants if "tflite" in formats else []


def _check_backend_writes(backend: str, formats: Sequence[str]) -> None:
    writes = BACKEND_FORMATS[backend]
    refused = [f for f in formats if f not in writes]
    if not refused:
        return
    elsewhere = sorted({b for f in refused for b, can in BACKEND_FORMATS.items() if f in can})
    raise InvalidArgumentError(
        f"On the {backend} backend zoo export writes {', '.join(writes)}, not "
        f"{', '.join(refused)}. Ask for --formats {','.join(writes)}, or save the model "
        f"(model.save('model.keras'): it loads under every backend) and export it with "
        f"KERAS_BACKEND={' or '.join(elsewhere)}."
    )


def _export_options() -> dict[str, Any]:
    """``model.export`` keywords for the active backend: on JAX the served function is
    static (inference updates no state), else jax2tf keeps the dropout seeds' uint32
    state updates, which the TFLite converter refuses."""
    from zoo.backends import active

    return {"is_static": True} if active() == "jax" else {}


def _staged_export(out: Path, name: str, produce) -> ExportReport:
    """Run ``produce(staging)``, then move its checked artifacts into ``out`` and write
    ``export.json``; on any failure or interruption nothing is left under a final name."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = temp_dir(out, "export")
    try:
        artifacts, manifest = produce(staging)
        version, files = _commit(out, staging, name, artifacts)
        manifest["version"] = version
        for key, path in files.items():
            manifest["artifacts"][key]["path"] = os.path.relpath(path, out)
        write_atomic(out / "export.json", lambda p: p.write_text(json.dumps(manifest, indent=2)))
        files["manifest"] = out / "export.json"
    except BaseException:
        _discard(staging)
        if created and not any(out.iterdir()):
            out.rmdir()  # leave no trace of a failed first export
        raise
    _discard(staging)
    return ExportReport(out_dir=out, version=version, files=files, manifest=manifest)


def _export_data(model, name, report, source, variants, representative, validation, dataset,
                 samples):  # fmt: skip
    """Calibration and parity inputs, and where each came from.

    The user's data wins: given ``representative_data``, calibration *and* the parity
    check run on it (labels where given), and no recipe dataset is loaded.
    """
    sources = {"calibration_data": None}
    rep = None
    if "int8" in variants:
        if representative is not None:
            rep = _as_batch(model, representative, 500)
            sources["calibration_data"] = "representative_data (given)"
        else:
            rep = _recipe_data(name, model, report, "train", 500, dataset, source,
                               required=dataset is not None)  # fmt: skip
            sources["calibration_data"] = f"{_recipe_dataset(name, report, dataset)}: train split"
        if rep is None:
            raise InvalidArgumentError(
                "Full-int8 quantization needs representative_data (a few hundred training "
                "inputs) to calibrate on; pass representative_data=..."
            )
    if validation is not None:
        val, sources["parity_data"] = _as_batch(model, validation, samples), "validation_data"
    elif representative is not None:
        val = _as_batch(model, representative, samples)
        sources["parity_data"] = "representative_data (given)"
    elif dataset is not None or any(q is not None for q in variants):
        val = _recipe_data(name, model, report, "test", samples, dataset, source,
                           required=dataset is not None)  # fmt: skip
        sources["parity_data"] = f"{_recipe_dataset(name, report, dataset)}: test split"
        if val is None:
            val, sources["parity_data"] = rep, sources["calibration_data"]
    else:
        val = None
    if val is None:
        val, sources["parity_data"] = (synthetic_inputs(model, 16), None), "random inputs"
    return rep, val, sources


def _recipe_dataset(name: str, report: dict, dataset: str | None) -> str | None:
    """The dataset a model's recipe data comes from: given, trained on, or the entry's."""
    entry = _entry_or_none(name)
    return (
        dataset
        or (report.get("dataset") or {}).get("name")
        or (entry.dataset if entry is not None else None)
    )


def _discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # .staging, unless another export is under way


def _entry_or_none(name: str) -> Any:
    import zoo

    return zoo.get_entry(name) if name in zoo.list_models() else None


def _run(runner, path: Path, model: Any, xs: list[np.ndarray]) -> np.ndarray:
    """Run an artifact; a runtime that cannot load or run it is an ExportError."""
    try:
        return runner(path, model, xs)
    except ZooError:
        raise
    except Exception as exc:
        kind = runner.__name__.removeprefix("_run_")
        raise ExportError(
            f"The {kind} artifact was written but its runtime cannot run it, so nothing was "
            f"kept: {type(exc).__name__}: {str(exc)[:600]}"
        ) from exc


def _produce(model, name, staging, formats, variants, rep, int8_io, xs, ys, reference, tol):
    """Write every artifact into ``staging`` and measure it; raise on a parity failure."""

    artifacts: dict[str, Path] = {}
    figures: dict[str, dict] = {}
    if "saved_model" in formats:
        path = staging / "saved_model"
        model.export(str(path), format="tf_saved_model", verbose=False, **_export_options())
        artifacts["saved_model"] = path
        figures["saved_model"] = parity(reference, _run(_run_saved_model, path, model, xs), ys)
    if variants:
        static = _needs_static_batch(model)
        tflite = _tflite_artifacts(model, name, staging, variants, rep, int8_io, artifacts, static)
        for key, path in tflite.items():
            artifacts[key] = path
            figures[key] = parity(reference, _run(_run_tflite, path, model, xs), ys)
            figures[key]["batch"] = 1 if static else "dynamic"
    if "onnx" in formats:
        path = staging / f"{name}.onnx"
        try:
            with warnings.catch_warnings():  # tf2onnx probes the removed np.object
                warnings.simplefilter("ignore", FutureWarning)
                # torch's tracer notes each shape it fixes; the parity check below decides
                warnings.filterwarnings("ignore", message="Converting a tensor to a Python")
                model.export(str(path), format="onnx", verbose=False)
        except Exception as exc:
            raise ExportError(f"ONNX conversion failed: {type(exc).__name__}: {exc}") from exc
        artifacts["onnx"] = path
        figures["onnx"] = parity(reference, _run(_run_onnx, path, model, xs), ys)
    for key, fig in figures.items():
        if key in ("saved_model", "onnx", "tflite") and fig["max_abs_diff"] > tol:
            raise ParityError(
                f"{key} output differs from Keras by {fig['max_abs_diff']:.3g} "
                f"(tolerance {tol:g}) on {fig['samples']} samples; nothing was written."
            )
    return artifacts, figures


def _tflite_artifacts(model, name, staging, variants, rep, int8_io, artifacts, static) -> dict:
    """Convert every TFLite variant in the child process (from a batch-1 SavedModel when
    ``static``); returns key -> file."""
    import keras

    src = artifacts.get("saved_model")  # the serving SavedModel converts as it is ...
    if static or src is None:  # ... unless the RNN loops need a static batch
        src = staging / "tflite_source"
        signature = None
        if static:
            signature = [
                keras.InputSpec(shape=(1, *t.shape[1:]), dtype=str(t.dtype)) for t in model.inputs
            ]
        model.export(str(src), format="tf_saved_model", verbose=False,
                     input_signature=signature, **_export_options())  # fmt: skip
    jobs = []
    rep_file = None
    if rep is not None:
        rep_file = staging / "representative.npz"
        rep_x = _cast_inputs(model, rep[0])
        np.savez(rep_file, **{f"x{i:02d}": a for i, a in enumerate(rep_x)})
    for q in variants:
        key = "tflite" if q is None else f"tflite_{q}"
        fname = f"{name}.tflite" if q is None else f"{name}_{q}.tflite"
        jobs.append(
            {
                "quantize": q,
                "out": str(staging / fname),
                "rep": str(rep_file) if rep_file else None,
                "int8_io": bool(int8_io and q == "int8"),
                "key": key,
            }
        )
    _convert_tflite(src, jobs, staging)
    return {job["key"]: Path(job["out"]) for job in jobs}


def _manifest(model, name, artifacts, figures, variants, labels, preprocessing, tol, int8_io):

    def size(p: Path) -> int:
        if p.is_dir():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        return p.stat().st_size

    out_t = model.outputs[0]
    arts = {}
    for key, path in artifacts.items():
        q = key.split("_", 1)[1] if key.startswith("tflite_") else None
        arts[key] = {
            "format": key.split("_")[0] if key.startswith("tflite") else key,
            "quantization": q,
            "size_bytes": size(path),
            "parity": figures[key],
        }
        if q == "int8":
            arts[key]["int8_io"] = bool(int8_io)
    versions = library_versions("ai_edge_litert", "onnxruntime", "tf2onnx")
    return {
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": _input_specs(model),
        "outputs": [{"name": "output_0", "shape": list(out_t.shape), "dtype": str(out_t.dtype)}],
        "labels": list(labels) if labels is not None else None,
        # the builder keywords of models that keep them (a served denoiser's noise schedule)
        "keywords": jsonable(getattr(model, "config", None))
        if isinstance(getattr(model, "config", None), dict)
        else None,
        "preprocessing": preprocessing,
        "tolerance": tol,
        "artifacts": arts,
        "versions": versions,
    }


def _commit(out: Path, staging: Path, name: str, artifacts: dict[str, Path]):
    """Move checked artifacts into place; a SavedModel version folder is never overwritten."""
    files: dict[str, Path] = {}
    version = None
    if "saved_model" in artifacts:
        version = _next_version(out)
        while True:
            target = out / str(version)
            try:
                os.rename(artifacts["saved_model"], target)  # atomic; fails if target exists
                break
            except OSError:
                if not target.exists():
                    raise
                version += 1
        files["saved_model"] = target
        apply_umask(target)
    for key, path in artifacts.items():
        if key == "saved_model":
            continue
        target = out / path.name
        apply_umask(path)
        os.replace(path, target)
        files[key] = target
    return version, files


__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "ExportError",
    "ExportReport",
    "ParityError",
    "export",
    "parity",
    "synthetic_inputs",
]
