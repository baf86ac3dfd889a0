"""Masked RNNs that train a right-padded batch unmasked, to its longest sequence: the same
outputs and gradients as Keras' masked loop, fewer steps, and Keras' loop wherever the
shortcut would not be exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import RNN_STEPS, assert_shortcut_matches_keras, padded_ids

import zoo
from zoo.loading import load_keras_file
from zoo.models._recurrent import is_unmasking, unmask_right_padding


def _outputs_and_gradients(model, x):
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_sum(y * y)
    gradients = tape.gradient(loss, model.trainable_variables)
    return [y.numpy(), *(tf.convert_to_tensor(g).numpy() for g in gradients)]  # dense embedding


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_outputs_and_gradients_as_keras_masked_loop(
    cell, return_sequences, zero_output, bidirectional
):
    shape = (cell, return_sequences, zero_output, bidirectional)
    assert_shortcut_matches_keras(shape, _outputs_and_gradients, atol=1e-6)


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
    x = tf.constant(np.ones((3, RNN_STEPS, 2), "float32"))
    kept = np.arange(RNN_STEPS)[None, :] < np.array([[4], [2], [3]])
    mask = tf.constant(kept[:, ::-1] if padding_in_front else kept)
    tf.function(lambda: layer(x, mask=mask, training=training), jit_compile=jit_compile)()
    return int(layer.cell.steps.numpy())


def test_a_right_padded_training_batch_runs_to_its_longest_sequence_only():
    assert _steps_run(patch=False) == 1 + RNN_STEPS
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
    assert keras_steps >= RNN_STEPS, why
    assert _steps_run(**kwargs) == keras_steps, why


def test_a_zoo_text_model_trains_with_jit_compile():
    model = zoo.build("lstm_text", jit_compile=True, **zoo.get_entry("lstm_text").test_overrides)
    x = padded_ids()[:, : model.inputs[0].shape[1]]
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
    assert _steps_run() == 1 + RNN_STEPS


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
    x = padded_ids()[:, : loaded.inputs[0].shape[1]]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))
    history = loaded.fit(x, np.zeros(len(x), "int64"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
