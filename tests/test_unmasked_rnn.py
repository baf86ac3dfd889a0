"""Masked RNNs that train a right-padded batch unmasked, to its longest sequence: the same
outputs and gradients as Keras' masked loop, fewer steps, and Keras' loop wherever the
shortcut would not be exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.loading import load_keras_file
from zoo.models._recurrent import is_unmasking, skip_right_padding, unmask_right_padding

STEPS = 12
LENGTHS = (12, 0, 1, 5, 11, 3, 12, 7)  # a full row, an empty one and everything between


def _ids(lengths=LENGTHS, shift_row: int | None = None) -> np.ndarray:
    """Token ids padded with 0 at the end; ``shift_row`` moves one row's padding to its
    front, which is no longer right padding."""
    x = np.random.default_rng(0).integers(1, 50, (len(lengths), STEPS)).astype("int32")
    for row, n in enumerate(lengths):
        x[row, n:] = 0
    if shift_row is not None:
        x[shift_row] = np.roll(x[shift_row], STEPS - lengths[shift_row])
    return x


def _model(cell: str, return_sequences: bool, zero_output: bool, bidirectional: bool):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((STEPS,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(inputs)
    rnn = getattr(keras.layers, cell)
    x = rnn(6, return_sequences=True, zero_output_for_mask=zero_output)(x)
    last = rnn(5, return_sequences=return_sequences, zero_output_for_mask=zero_output)
    x = (keras.layers.Bidirectional(last) if bidirectional else last)(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _outputs_and_gradients(model, x):
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_sum(y * y)
    return [y, *tape.gradient(loss, model.trainable_variables)]


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_outputs_and_gradients_as_keras_masked_loop(
    cell, return_sequences, zero_output, bidirectional
):
    keras_model = _model(cell, return_sequences, zero_output, bidirectional)
    ours = skip_right_padding(_model(cell, return_sequences, zero_output, bidirectional))
    assert sum(map(is_unmasking, ours._flatten_layers())) == (3 if bidirectional else 2)
    batches = {
        "right-padded": _ids(),
        "padding in front": _ids(shift_row=3),
        "all padding": np.zeros((4, STEPS), "int32"),
        "short": _ids((4, 2, 0, 3)),
    }
    for what, x in batches.items():
        for a, b in zip(
            _outputs_and_gradients(keras_model, x), _outputs_and_gradients(ours, x), strict=True
        ):
            np.testing.assert_allclose(
                tf.convert_to_tensor(a), tf.convert_to_tensor(b), atol=1e-6, err_msg=what
            )


class CountingCell(keras.layers.SimpleRNNCell):
    """A SimpleRNN cell that counts the steps it runs."""

    def build(self, input_shape):
        super().build(input_shape)
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="n")

    def call(self, inputs, states, training=False):
        self.steps.assign_add(1.0)
        return super().call(inputs, states, training=training)


def _steps_run(layer_kwargs=None, *, training=True, padding_in_front=False, patch=True,
               jit_compile=False) -> int:  # fmt: skip
    """How many times a counting RNN's cell runs on one batch of 12-step sequences of 4, 2
    and 3 kept steps (Keras' loop also runs it once before the loop, for the shape)."""
    layer = keras.layers.RNN(CountingCell(4), **(layer_kwargs or {}))
    if patch:
        unmask_right_padding(layer)
    x = tf.constant(np.ones((3, STEPS, 2), "float32"))
    kept = np.arange(STEPS)[None, :] < np.array([[4], [2], [3]])
    mask = tf.constant(kept[:, ::-1] if padding_in_front else kept)
    tf.function(lambda: layer(x, mask=mask, training=training), jit_compile=jit_compile)()
    return int(layer.cell.steps.numpy())


def test_a_right_padded_training_batch_runs_to_its_longest_sequence_only():
    assert _steps_run(patch=False) == 1 + STEPS
    assert _steps_run() == 1 + 4
    assert _steps_run({"go_backwards": True}) == 1 + 4


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("inference", {"training": False}),
        ("padding in front", {"padding_in_front": True}),
        ("state returned", {"layer_kwargs": {"return_state": True}}),
        ("unrolled", {"layer_kwargs": {"unroll": True}}),
        ("XLA", {"jit_compile": True}),
    ],
)
def test_keras_masked_loop_runs_where_the_shortcut_does_not_apply(why, kwargs):
    keras_steps = _steps_run(patch=False, **kwargs)
    assert keras_steps >= STEPS, why
    assert _steps_run(**kwargs) == keras_steps, why


def test_a_zoo_text_model_trains_with_jit_compile():
    model = zoo.build("lstm_text", jit_compile=True, **zoo.get_entry("lstm_text").test_overrides)
    x = _ids()[:, : model.inputs[0].shape[1]]
    history = model.fit(x, np.zeros(len(x), "int64"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


class PairCell(keras.layers.Layer):
    """A cell with two outputs a step: the shortcut's reads assume one."""

    state_size = 2
    output_size = (2, 2)

    def call(self, inputs, states):
        return (states[0], states[0]), states


def test_a_cell_with_several_outputs_keeps_keras_loop():
    assert not is_unmasking(unmask_right_padding(keras.layers.RNN(PairCell())))
    assert is_unmasking(unmask_right_padding(keras.layers.RNN(CountingCell(2))))


def test_the_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv("ZOO_UNMASKED_RIGHT_PADDING", "0")
    assert _steps_run() == 1 + STEPS


def test_zoo_models_and_loaded_files_use_it_and_the_file_stays_plain_keras(tmp_path):
    model = zoo.build("lstm_text", **zoo.get_entry("lstm_text").test_overrides)
    patched = [layer.name for layer in model.layers if is_unmasking(layer)]
    assert patched == ["lstm1", "lstm2"]
    path = tmp_path / "m.keras"
    model.save(path)
    plain = keras.saving.load_model(path)
    assert type(plain.get_layer("lstm1")) is keras.layers.LSTM
    assert not any(is_unmasking(layer) for layer in plain.layers)
    loaded = load_keras_file(path)
    assert [layer.name for layer in loaded.layers if is_unmasking(layer)] == patched
    x = _ids()[:, : loaded.inputs[0].shape[1]]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))
    history = loaded.fit(x, np.zeros(len(x), "int64"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
