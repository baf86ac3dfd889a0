"""Shared test helpers: inputs and targets that fit any registry entry."""

from __future__ import annotations

import numpy as np

import zoo


def build_small(name: str, **extra):
    """Build an entry with its card's test overrides (small inputs keep tests fast)."""
    entry = zoo.get_entry(name)
    return zoo.build(name, **{**entry.test_overrides, **extra})


def sample_inputs(model, n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = model.inputs[0]
    shape = (n, *spec.shape[1:])
    if "int" in str(spec.dtype):
        return rng.integers(1, 20, size=shape).astype(str(spec.dtype))
    return rng.random(shape, dtype="float32")


def sample_targets(entry: zoo.registry.Entry, model, n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = model.outputs[0].shape
    if entry.task == "classification":
        return rng.integers(0, out[-1], size=(n,)).astype("int32")
    if entry.task == "language_model":
        return rng.integers(0, out[-1], size=(n, *out[1:-1])).astype("int32")
    if entry.task == "binary":
        return rng.integers(0, 2, size=(n, 1)).astype("float32")
    return rng.normal(size=(n, *out[1:])).astype("float32")
