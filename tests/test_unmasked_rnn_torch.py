"""On Keras' torch backend, the zoo's LSTMs and GRUs run through torch's fused kernel,
masked right-padded batches included: the same outputs and gradients as Keras' loop.

Run under torch: ``KERAS_BACKEND=torch pytest tests/test_unmasked_rnn_torch.py`` (the
torch tier of ``.ci/run``); under another backend there is nothing of this to test.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

if keras.backend.backend() != "torch":
    pytest.skip("torch backend only: the torch tier runs it", allow_module_level=True)

import torch  # noqa: E402
from helpers import (  # noqa: E402
    RNN_LENGTHS,
    assert_shortcut_matches_keras,
    build_small,
    masked_rnn_model,
    padded_ids,
)

import zoo  # noqa: E402
from zoo.models._recurrent import is_unmasking, skip_right_padding, torch_kernel  # noqa: E402


def _outputs_and_gradients(model, x):
    for v in model.trainable_variables:
        v.value.grad = None
    y = model(x, training=True)
    (y * y).sum().backward()
    return [y.detach().numpy()] + [v.value.grad.numpy() for v in model.trainable_variables]


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_outputs_and_gradients_as_keras_loop(cell, return_sequences, zero_output,
                                                   bidirectional):  # fmt: skip
    shape = (cell, return_sequences, zero_output, bidirectional)
    assert_shortcut_matches_keras(shape, _outputs_and_gradients, atol=2e-6)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_unmasked_layers_and_inference_match_keras_too(cell):
    keras_model = masked_rnn_model(cell, True, False, True, mask=False)
    ours = skip_right_padding(masked_rnn_model(cell, True, False, True, mask=False))
    x = padded_ids((12,) * 5)
    for a, b in zip(_outputs_and_gradients(keras_model, x), _outputs_and_gradients(ours, x)):
        np.testing.assert_allclose(a, b, atol=2e-6)
    x = padded_ids()
    with torch.no_grad():
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(masked_rnn_model(cell, False, False, False)(x)),
            keras.ops.convert_to_numpy(
                skip_right_padding(masked_rnn_model(cell, False, False, False))(x)
            ),
            atol=2e-6,
        )


def test_the_fused_kernel_runs_and_keras_loop_where_it_cannot(monkeypatch):
    calls = []
    fused_lstm = torch._VF.lstm

    def counting(*args, **kwargs):
        calls.append(1)
        return fused_lstm(*args, **kwargs)

    monkeypatch.setattr(torch._VF, "lstm", counting)
    model = skip_right_padding(masked_rnn_model("LSTM", False, False, False))
    model(padded_ids(), training=True)
    assert len(calls) == 2  # both layers
    model(padded_ids(shift_row=3), training=True)
    assert len(calls) == 2  # padding in front: Keras' masked loop
    monkeypatch.setenv("ZOO_UNMASKED_RIGHT_PADDING", "0")
    model(padded_ids(), training=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.LSTM(4, dropout=0.2),
        keras.layers.LSTM(4, recurrent_dropout=0.2),
        keras.layers.LSTM(4, activation="relu"),
        keras.layers.GRU(4, reset_after=False),
        keras.layers.SimpleRNN(4),
        keras.layers.LSTM(4, use_cudnn=False),
    ],
    ids=["dropout", "recurrent dropout", "relu", "GRU reset before", "SimpleRNN", "no fused"],
)
def test_cells_torch_does_not_compute_keep_keras_loop(layer):
    assert torch_kernel(layer) is None
    assert not is_unmasking(skip_right_padding(keras.Sequential([keras.Input((3, 2)), layer])))


def test_a_zoo_text_model_trains_on_torch():
    model = build_small("lstm_text")
    assert sum(map(is_unmasking, model._flatten_layers())) == 2
    x, y = padded_ids(), np.arange(len(RNN_LENGTHS)) % 2
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]


def test_onnx_export_traces_keras_loop_and_matches(tmp_path):
    # torch.onnx traces the model: the tracer sees Keras' loop, and the file computes what
    # the fused kernel does (zoo.export checks parity and writes nothing otherwise)
    model = build_small("bilstm_text")
    x = padded_ids()
    model.fit(x, np.arange(len(RNN_LENGTHS)) % 2, epochs=1, verbose=0)
    report = zoo.export(model, tmp_path / "out", name="bilstm_text")
    assert report.manifest["artifacts"]["onnx"]["parity"]["max_abs_diff"] < 1e-5
    assert (tmp_path / "out" / "bilstm_text.onnx").is_file()
