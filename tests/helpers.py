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


#: Steps in the masked-RNN tests' batches (tests/test_unmasked_rnn*.py).
RNN_STEPS = 12
#: Kept steps per row: a full row, an empty one and everything between.
RNN_LENGTHS = (12, 0, 1, 5, 11, 3, 12, 7)


def padded_ids(lengths=RNN_LENGTHS, shift_row: int | None = None) -> np.ndarray:
    """Token ids padded with 0 at the end; ``shift_row`` moves one row's padding to its
    front, which is no longer right padding."""
    x = np.random.default_rng(0).integers(1, 50, (len(lengths), RNN_STEPS)).astype("int32")
    for row, n in enumerate(lengths):
        x[row, n:] = 0
    if shift_row is not None:
        x[shift_row] = np.roll(x[shift_row], RNN_STEPS - lengths[shift_row])
    return x


def rnn_batches() -> dict[str, np.ndarray]:
    """The batches a masked RNN's shortcut must get right, by what they show."""
    return {
        "right-padded": padded_ids(),
        "padding in front": padded_ids(shift_row=3),
        "all padding": np.zeros((4, RNN_STEPS), "int32"),
        "short": padded_ids((4, 2, 0, 3)),
    }


def masked_rnn_model(cell: str, return_sequences: bool, zero_output: bool,
                     bidirectional: bool, mask: bool = True):  # fmt: skip
    """Embedding (masking id 0), two ``cell`` layers (the second optionally
    bidirectional), Dense: the same weights on every call."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((RNN_STEPS,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=mask)(inputs)
    rnn = getattr(keras.layers, cell)
    x = rnn(6, return_sequences=True, zero_output_for_mask=zero_output)(x)
    last = rnn(5, return_sequences=return_sequences, zero_output_for_mask=zero_output)
    x = (keras.layers.Bidirectional(last) if bidirectional else last)(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def assert_shortcut_matches_keras(shape: tuple[str, bool, bool, bool], outputs_and_gradients,
                                  atol: float) -> None:  # fmt: skip
    """A :func:`masked_rnn_model` of ``shape`` (cell, return_sequences, zero_output,
    bidirectional) with the zoo's RNN shortcut gives Keras' outputs and gradients on every
    batch of :func:`rnn_batches` (``outputs_and_gradients(model, x)``: the backend's)."""
    from zoo.models._recurrent import is_unmasking, skip_right_padding

    keras_model = masked_rnn_model(*shape)
    ours = skip_right_padding(masked_rnn_model(*shape))
    assert sum(map(is_unmasking, ours._flatten_layers())) == (3 if shape[3] else 2)
    for what, x in rnn_batches().items():
        for a, b in zip(
            outputs_and_gradients(keras_model, x), outputs_and_gradients(ours, x), strict=True
        ):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, err_msg=what)
