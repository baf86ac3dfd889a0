"""One loaded SavedModel version: its signatures (read from ``saved_model.pb``, as TF
Serving reads them) and the functions that run them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SERVING_DEFAULT = "serving_default"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: name, numpy dtype and shape (-1: any)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    dtype_name: str  # TF's enum name, DT_FLOAT, for error messages as TF Serving words them

    def check_instance_shape(self, shape: tuple[int, ...]) -> bool:
        """Whether one instance (no batch axis) fits this spec."""
        want = self.shape[1:]
        return len(shape) == len(want) and all(w in (-1, s) for w, s in zip(want, shape))


@dataclass(frozen=True)
class Signature:
    name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    proto: Any  # tensorflow.core.protobuf.meta_graph_pb2.SignatureDef


def _spec(name: str, info: Any) -> TensorSpec:
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import dtypes

    dims = tuple(-1 if info.tensor_shape.unknown_rank else d.size for d in info.tensor_shape.dim)
    np_dtype = np.dtype(object) if info.dtype == types_pb2.DT_STRING else dtypes.as_dtype(
        info.dtype).as_numpy_dtype  # fmt: skip
    return TensorSpec(name, np.dtype(np_dtype), dims, types_pb2.DataType.Name(info.dtype))


def read_signatures(version_dir: Path) -> dict[str, Signature]:
    """The predict signatures of ``version_dir/saved_model.pb``, keyed by name."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    found = {}
    for key, sig in sm.meta_graphs[0].signature_def.items():
        if key.startswith("__"):  # the init op, not a signature a client calls
            continue
        ins = {k: _spec(k, v) for k, v in sig.inputs.items()}
        outs = {k: _spec(k, v) for k, v in sig.outputs.items()}
        found[key] = Signature(key, ins, outs, sig)
    return found


class LoadedVersion:
    """A SavedModel version folder, loaded, with one callable per signature."""

    def __init__(self, version: int, path: Path):
        import tensorflow as tf

        self.version = version
        self.path = path
        self.signatures = read_signatures(path)
        if SERVING_DEFAULT not in self.signatures:
            raise ValueError(f"{path} has no {SERVING_DEFAULT!r} signature")
        self._module = tf.saved_model.load(str(path))
        self._functions = {k: self._module.signatures[k] for k in self.signatures}

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batch through ``signature``: numpy in, numpy out."""
        import tensorflow as tf

        fn = self._functions[signature]
        out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}

    def warm_up(self) -> None:
        """Run every signature once on zeros, so the first request pays no tracing."""
        for name, sig in self.signatures.items():
            if any(s.dtype == object for s in sig.inputs.values()):
                continue
            batch = {
                k: np.zeros([1] + [max(d, 1) for d in s.shape[1:]], s.dtype)
                for k, s in sig.inputs.items()
            }
            self.run(name, batch)


def version_folders(base: Path) -> dict[int, Path]:
    """TF Serving's layout: every all-digit subfolder of ``base`` is a version."""
    if not base.is_dir():
        return {}
    return {int(p.name): p for p in base.iterdir() if p.name.isdigit() and p.is_dir()}
