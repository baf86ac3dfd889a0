"""Masked recurrent layers that skip the mask's per-step work when a batch is right-padded.

Keras masks an RNN step by step: every step selects, for each sequence, the new output
and state or the previous ones, and runs to the padded length. On TensorFlow's CPU the
selects are about a tenth of ``lstm_text``'s training step (a batch's gradients: 83 ms
with the mask, 72 ms without; benchmarks/README.md). Text padded at the end
(``TextVectorization``'s padding, and the zoo's) needs neither: a sequence's steps up to
its length never see its padding. So a right-padded training batch runs Keras' loop
unmasked, up to its longest sequence, and each sequence's outputs are then set to what
the masked loop leaves: Keras' outputs and gradients to float rounding (the tests compare
them), 8% faster on unpadded text and 2.9x on 10-60-token texts padded to 200.

:func:`skip_right_padding` installs that on the instances of a model's RNN layers; a
layer that reads backwards (a ``Bidirectional``'s second) reads each sequence reversed
within its length. Any other mask takes Keras' masked loop (a ``tf.cond``, so both are
in the graph). Inference, layers that return or keep their state (``return_state``,
``stateful``), unrolled layers, XLA (``jit_compile=True``) and a GPU (where Keras uses
cuDNN) keep Keras' loop, as does everything under ``ZOO_UNMASKED_RIGHT_PADDING=0``. The
layers stay Keras' classes, so saved files load in plain Keras; :mod:`zoo.loading`
installs it again.
"""

from __future__ import annotations

import types
from typing import Any

import keras

#: Where a patched layer keeps Keras' own ``inner_loop``.
_KERAS_LOOP = "_zoo_keras_inner_loop"


def skip_right_padding(model: Any) -> Any:
    """``model`` with :func:`unmask_right_padding` applied to each of its RNN layers, nested
    ones (a ``Bidirectional``'s two) included."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        unmask_right_padding(layer)
    return model


def unmask_right_padding(layer: Any) -> Any:
    """``layer`` (a Keras RNN) running right-padded batches unmasked, on TensorFlow. A cell
    with several outputs (``output_size`` not one number) keeps Keras' loop."""
    if (
        keras.backend.backend() != "tensorflow"
        or not isinstance(layer, keras.layers.RNN)
        or not isinstance(getattr(layer.cell, "output_size", None), int)
        or is_unmasking(layer)
    ):
        return layer
    setattr(layer, _KERAS_LOOP, layer.inner_loop)
    layer.inner_loop = types.MethodType(_inner_loop, layer)
    return layer


def is_unmasking(layer: Any) -> bool:
    """Whether :func:`unmask_right_padding` patched ``layer``."""
    return hasattr(layer, _KERAS_LOOP)


def _inner_loop(self: Any, sequences: Any, initial_state: Any, mask: Any, training=False):
    keras_loop = getattr(self, _KERAS_LOOP)
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if mask is None or not training or not _applies(self):
        return keras_loop(sequences, initial_state, mask, training=training)
    import tensorflow as tf

    mask = tf.cast(mask, "bool")
    return tf.cond(
        _right_padded(mask),
        lambda: _unmasked(self, sequences, initial_state, mask, training),
        lambda: keras_loop(sequences, initial_state, mask, training=training),
    )


def _applies(layer: Any) -> bool:
    from zoo.runtime import unmasked_right_padding

    if not unmasked_right_padding():
        return False
    if layer.return_state or layer.stateful or layer.unroll:
        return False
    import tensorflow as tf
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext

    # XLA cannot compile the loop's cond (TensorFlow's own ops ask the same question)
    return not tf.config.list_logical_devices("GPU") and not GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    )


def _right_padded(mask: Any) -> Any:
    """True when no sequence has a kept step after a masked one."""
    import tensorflow as tf

    return tf.reduce_all(tf.logical_or(mask[:, :-1], tf.logical_not(mask[:, 1:])))


def _unmasked(self: Any, sequences: Any, initial_state: Any, mask: Any, training: bool):
    """Keras' loop without the mask, and its outputs as the masked loop leaves them.

    The states it returns are the unmasked loop's: :func:`_applies` keeps this path to
    layers that neither return nor keep their state.
    """
    import tensorflow as tf
    from keras.src import backend as keras_backend

    cell_kwargs = {"training": training} if self.cell._call_has_training_arg else {}

    def step(inputs, states):
        output, new_states = self.cell(inputs, states, **cell_kwargs)
        return output, new_states if isinstance(new_states, (list, tuple)) else [new_states]

    lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)
    # steps past the longest sequence are padding in all; the loop needs one step to start
    longest = tf.maximum(tf.reduce_max(lengths), 1)
    if self.go_backwards:  # each sequence read from its last kept step; padding stays last
        sequences = tf.reverse_sequence(sequences, lengths, seq_axis=1, batch_axis=0)
    _, outputs, states = keras_backend.rnn(
        step,
        sequences[:, :longest],
        list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state],
        mask=None,
        unroll=False,
        input_length=None,
        return_all_outputs=True,
    )
    outputs = tf.pad(outputs, [[0, 0], [0, tf.shape(mask)[1] - longest], [0, 0]])
    if self.go_backwards:
        outputs = _as_read_backwards(outputs, mask, lengths)
    else:
        outputs = _held_through_padding(outputs, mask, lengths, self.zero_output_for_mask)
    last_output = outputs[:, -1]
    if not self.return_sequences:
        outputs = last_output[:, None, :]
    return last_output, outputs, states


def _held_through_padding(outputs: Any, mask: Any, lengths: Any, zero_output: bool) -> Any:
    """A forward masked loop's outputs: each sequence's output at its last kept step held
    through its padding (zeros with ``zero_output_for_mask``, and for an empty sequence)."""
    import tensorflow as tf

    last = tf.gather(outputs, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
    last = tf.where(lengths[:, None] > 0, last, tf.zeros_like(last))
    held = tf.zeros_like(last) if zero_output else last
    return tf.where(mask[:, :, None], outputs, held[:, None, :])


def _as_read_backwards(outputs: Any, mask: Any, lengths: Any) -> Any:
    """A backward masked loop's outputs, in its reading order, from the unmasked loop's
    over the reversed sequences: the padding comes first and yields zeros (nothing kept
    has been read yet), then the sequence's outputs."""
    import tensorflow as tf

    outputs = tf.where(mask[:, :, None], outputs, tf.zeros_like(outputs))
    return tf.reverse(tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0), [1])
