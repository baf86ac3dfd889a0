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

On Keras' torch backend the same shortcut feeds torch's fused LSTM and GRU kernel (the
one PyTorch's own ``nn.LSTM`` runs), which Keras uses only on a GPU and without a mask;
on the CPU Keras steps through time in Python. Masks that are not right padding, cells
torch does not compute (dropout inside the cell, other activations, a GRU that resets
before its matmul), states returned or kept, mixed precision, tracing and a GPU keep
Keras' loop. ``lstm_text`` trains about 5x faster on torch that way (benchmarks/README.md).
"""

from __future__ import annotations

import importlib
import types
from typing import Any

import keras
from keras import ops

#: Where a patched layer keeps Keras' own ``inner_loop``.
_KERAS_LOOP = "_zoo_keras_inner_loop"


def skip_right_padding(model: Any) -> Any:
    """``model`` with :func:`unmask_right_padding` applied to each of its RNN layers, nested
    ones (a ``Bidirectional``'s two) included."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        unmask_right_padding(layer)
    return model


def unmask_right_padding(layer: Any) -> Any:
    """``layer`` (a Keras RNN) running right-padded batches unmasked: on TensorFlow through
    Keras' loop (a cell with several outputs, ``output_size`` not one number, keeps Keras'
    masked loop), on torch through torch's fused LSTM or GRU (other cells keep Keras' loop)."""
    if not isinstance(layer, keras.layers.RNN) or is_unmasking(layer):
        return layer
    backend = keras.backend.backend()
    if backend == "tensorflow" and isinstance(getattr(layer.cell, "output_size", None), int):
        loop = _inner_loop
    elif backend == "torch" and torch_kernel(layer) is not None:
        loop = _torch_inner_loop
    else:
        return layer
    setattr(layer, _KERAS_LOOP, layer.inner_loop)
    layer.inner_loop = types.MethodType(loop, layer)
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


def _may_skip(layer: Any) -> bool:
    """What both backends ask first: the shortcut is on, and ``layer`` neither returns nor
    keeps its state (the unmasked loop's states are not the masked loop's) nor unrolls."""
    from zoo.runtime import unmasked_right_padding

    return unmasked_right_padding() and not (layer.return_state or layer.stateful or layer.unroll)


def _applies(layer: Any) -> bool:
    if not _may_skip(layer):
        return False
    import tensorflow as tf
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext

    # XLA cannot compile the loop's cond (TensorFlow's own ops ask the same question)
    return not tf.config.list_logical_devices("GPU") and not GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    )


def _right_padded(mask: Any) -> Any:
    """True when no sequence has a kept step after a masked one (a boolean tensor)."""
    return ops.all(ops.logical_or(mask[:, :-1], ops.logical_not(mask[:, 1:])))


def _unmasked(self: Any, sequences: Any, initial_state: Any, mask: Any, training: bool):
    """Keras' loop without the mask, and its outputs as the masked loop leaves them.

    The states it returns are the unmasked loop's: :func:`_may_skip` keeps this path to
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
        sequences = _reversed_within(sequences, lengths)
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
    return (*_as_masked_loop_returns(self, outputs, mask, lengths), states)


# --------------------------------------------------------------------------- torch


def torch_kernel(layer: Any) -> str | None:
    """``"lstm"`` or ``"gru"`` when torch's fused kernel computes ``layer``'s cell exactly
    (Keras' default activations, no dropout inside the cell, a GRU that resets after the
    matmul as torch's does, ``use_cudnn`` not False), else None. Keras' torch backend uses
    that kernel only on a GPU and without a mask; on the CPU it steps through time in
    Python."""
    cell = getattr(layer, "cell", None)
    if isinstance(layer, keras.layers.LSTM):
        kind = "lstm"
    elif isinstance(layer, keras.layers.GRU) and cell.reset_after:
        kind = "gru"
    else:
        return None
    standard = (
        getattr(layer, "use_cudnn", "auto") is not False  # Keras' "auto" or True
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and not cell.dropout
        and not cell.recurrent_dropout
    )
    return kind if standard and _keras_torch_params(kind) is not None else None


def _keras_torch_params(kind: str) -> Any:
    """Keras' own conversion of an LSTM's or GRU's weights to torch's layout (gate order,
    transposes), or None if this Keras has none."""
    try:
        module = importlib.import_module("keras.src.backend.torch.rnn")
    except ImportError:
        return None
    return getattr(module, f"prepare_{kind}_params", None)


def _torch_inner_loop(self: Any, sequences: Any, initial_state: Any, mask: Any, training=False):
    keras_loop = getattr(self, _KERAS_LOOP)
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if not _torch_applies(self, sequences):
        return keras_loop(sequences, initial_state, mask, training=training)
    import torch

    if mask is None:
        mask = torch.ones(sequences.shape[:2], dtype=torch.bool, device=sequences.device)
    mask = mask.bool()
    if not bool(_right_padded(mask)):
        return keras_loop(sequences, initial_state, mask, training=training)
    return _fused(self, sequences, initial_state, mask)


def _torch_applies(layer: Any, sequences: Any) -> bool:
    if not _may_skip(layer):
        return False
    if layer.compute_dtype != layer.variable_dtype:  # mixed precision: Keras' casts
        return False
    import torch

    # Keras builds models on torch's meta device, and uses cuDNN on a GPU itself when there
    # is no mask (this path was measured and tested on CPUs only); tracing and compiling
    # keep Keras' loop too
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    return sequences.device.type == "cpu" and not torch.jit.is_tracing() and not compiling


def _fused(self: Any, sequences: Any, initial_state: Any, mask: Any):
    """torch's fused kernel over the batch's steps up to its longest sequence, and the
    outputs as Keras' masked loop leaves them. The states it returns are the kernel's:
    :func:`_may_skip` keeps this path to layers that neither return nor keep them."""
    import torch

    kind = torch_kernel(self)
    cell = self.cell
    lengths = mask.sum(1)
    longest = max(int(lengths.max()), 1)
    if self.go_backwards:
        sequences = _reversed_within(sequences, lengths)
    kernel, recurrent_kernel = (
        ops.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel)
    )
    bias = ops.convert_to_tensor(cell.bias) if cell.use_bias else None
    params = _keras_torch_params(kind)(kernel, recurrent_kernel, bias, sequences.device)
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    states = [ops.convert_to_tensor(s)[None] for s in states]
    run = torch._VF.lstm if kind == "lstm" else torch._VF.gru
    outputs, *states = run(
        sequences[:, :longest].to(kernel.dtype),
        tuple(states) if kind == "lstm" else states[0],
        params,
        bias is not None,
        1,  # layers
        0.0,  # dropout
        torch.is_grad_enabled(),
        False,  # bidirectional
        True,  # batch first
    )
    outputs = torch.nn.functional.pad(outputs, (0, 0, 0, mask.shape[1] - longest))
    return (*_as_masked_loop_returns(self, outputs, mask, lengths), [s[0] for s in states])


# --------------------------------------------------------------------------- both


def _as_masked_loop_returns(layer: Any, outputs: Any, mask: Any, lengths: Any) -> tuple:
    """``(last_output, outputs)`` as Keras' masked loop returns them to ``layer``, from the
    unmasked loop's ``outputs`` over the padded length."""
    if layer.go_backwards:
        outputs = _as_read_backwards(outputs, mask, lengths)
    else:
        outputs = _held_through_padding(outputs, mask, lengths, layer.zero_output_for_mask)
    last_output = outputs[:, -1]
    if not layer.return_sequences:
        outputs = last_output[:, None, :]
    return last_output, outputs


def _held_through_padding(outputs: Any, mask: Any, lengths: Any, zero_output: bool) -> Any:
    """A forward masked loop's outputs: each sequence's output at its last kept step held
    through its padding (zeros with ``zero_output_for_mask``, and for an empty sequence)."""
    last_step = ops.maximum(lengths - 1, 0)[:, None, None]
    last = ops.take_along_axis(outputs, ops.broadcast_to(last_step, ops.shape(outputs[:, :1])), 1)
    last = ops.where(lengths[:, None, None] > 0, last, ops.zeros_like(last))
    held = ops.zeros_like(last) if zero_output else last
    return ops.where(mask[:, :, None], outputs, held)


def _as_read_backwards(outputs: Any, mask: Any, lengths: Any) -> Any:
    """A backward masked loop's outputs, in its reading order, from the unmasked loop's
    over the reversed sequences: the padding comes first and yields zeros (nothing kept
    has been read yet), then the sequence's outputs."""
    outputs = ops.where(mask[:, :, None], outputs, ops.zeros_like(outputs))
    return ops.flip(_reversed_within(outputs, lengths), 1)


def _reversed_within(sequences: Any, lengths: Any) -> Any:
    """Each sequence's first ``length`` steps in reverse order, the steps after them kept
    in place (``tf.reverse_sequence``, in Keras' ops)."""
    steps = ops.arange(ops.shape(sequences)[1], dtype=lengths.dtype)[None, :]
    order = ops.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return ops.take_along_axis(
        sequences, ops.broadcast_to(order[:, :, None], ops.shape(sequences)), 1
    )
