"""Shared test helpers: inputs and targets that fit any registry entry."""

from __future__ import annotations

import numpy as np

import zoo

_TINY: dict[str, str] = {}


def tiny_checkpoint() -> str:
    """A tiny Hugging Face BERT folder, written once per test process."""
    if "bert" not in _TINY:
        import tempfile

        from zoo.models.bert import write_tiny_checkpoint

        _TINY["bert"] = str(write_tiny_checkpoint(tempfile.mkdtemp(prefix="tiny-bert-")))
    return _TINY["bert"]


def tiny_gpt2_checkpoint() -> str:
    """A tiny Hugging Face GPT-2 folder, written once per test process."""
    if "gpt2" not in _TINY:
        import tempfile

        from zoo.models.gpt2 import write_tiny_gpt2_checkpoint

        _TINY["gpt2"] = str(write_tiny_gpt2_checkpoint(tempfile.mkdtemp(prefix="tiny-gpt2-")))
    return _TINY["gpt2"]


_TINY_WRITERS = {"<tiny>": tiny_checkpoint, "<tiny-gpt2>": tiny_gpt2_checkpoint}


def offline_overrides(entry) -> dict:
    """Keywords that keep an entry's build offline: no weight downloads, a local checkpoint."""
    out = {}
    defaults = entry.defaults()
    if "weights" in defaults:
        out["weights"] = None
    if "checkpoint" in defaults:
        out["checkpoint"] = _TINY_WRITERS[entry.test_overrides.get("checkpoint", "<tiny>")]()
    return out


def small_overrides(entry) -> dict:
    """The card's test overrides, with ``<tiny...>`` checkpoints made real."""
    overrides = dict(entry.test_overrides)
    if overrides.get("checkpoint") in _TINY_WRITERS:
        overrides["checkpoint"] = _TINY_WRITERS[overrides["checkpoint"]]()
    return overrides


def build_small(name: str, **extra):
    """Build an entry with its card's test overrides (small inputs keep tests fast)."""
    return zoo.build(name, **{**small_overrides(zoo.get_entry(name)), **extra})


def sample_inputs(model, n: int = 4, seed: int = 0):
    """Random inputs for every model input (a list when there are several)."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in model.inputs:
        shape = (n, *spec.shape[1:])
        if "int" in str(spec.dtype):
            out.append(rng.integers(1, 20, size=shape).astype(str(spec.dtype)))
        else:
            out.append(rng.random(shape, dtype="float32"))
    return out[0] if len(out) == 1 else out


def training_batch(entry, model, n: int = 4, seed: int = 0):
    """``(x, y)`` that ``train_on_batch`` takes, as the entry's task defines it."""
    return entry.task_spec.example_batch(model, sample_inputs(model, n, seed), n, seed)


def sample_targets(entry: zoo.registry.Entry, model, n: int = 4, seed: int = 0) -> np.ndarray:
    return entry.task_spec.example_targets(model, n, np.random.default_rng(seed))


def mnist_pixels(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random flattened 28 x 28 images in [0, 1], as ``mnist_mlp`` takes them."""
    return np.random.default_rng(seed).uniform(0, 1, (n, 784)).astype("float32")
