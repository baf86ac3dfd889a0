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

import zoo  # noqa: E402
from zoo.models._recurrent import is_unmasking, skip_right_padding, torch_kernel  # noqa: E402

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


def _model(cell: str, return_sequences: bool, zero_output: bool, bidirectional: bool,
           mask: bool = True):  # fmt: skip
    keras.utils.set_random_seed(1)
    inputs = keras.Input((STEPS,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=mask)(inputs)
    rnn = getattr(keras.layers, cell)
    x = rnn(6, return_sequences=True, zero_output_for_mask=zero_output)(x)
    last = rnn(5, return_sequences=return_sequences, zero_output_for_mask=zero_output)
    x = (keras.layers.Bidirectional(last) if bidirectional else last)(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


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
            np.testing.assert_allclose(a, b, atol=2e-6, err_msg=what)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_unmasked_layers_and_inference_match_keras_too(cell):
    keras_model = _model(cell, True, False, True, mask=False)
    ours = skip_right_padding(_model(cell, True, False, True, mask=False))
    x = _ids((12,) * 5)
    for a, b in zip(_outputs_and_gradients(keras_model, x), _outputs_and_gradients(ours, x)):
        np.testing.assert_allclose(a, b, atol=2e-6)
    x = _ids()
    with torch.no_grad():
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(_model(cell, False, False, False)(x)),
            keras.ops.convert_to_numpy(skip_right_padding(_model(cell, False, False, False))(x)),
            atol=2e-6,
        )


def test_the_fused_kernel_runs_and_keras_loop_where_it_cannot(monkeypatch):
    calls = []
    fused_lstm = torch._VF.lstm

    def counting(*args, **kwargs):
        calls.append(1)
        return fused_lstm(*args, **kwargs)

    monkeypatch.setattr(torch._VF, "lstm", counting)
    model = skip_right_padding(_model("LSTM", False, False, False))
    model(_ids(), training=True)
    assert len(calls) == 2  # both layers
    model(_ids(shift_row=3), training=True)
    assert len(calls) == 2  # padding in front: Keras' masked loop
    monkeypatch.setenv("ZOO_UNMASKED_RIGHT_PADDING", "0")
    model(_ids(), training=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.LSTM(4, dropout=0.2),
        keras.layers.LSTM(4, recurrent_dropout=0.2),
        keras.layers.LSTM(4, activation="relu"),
        keras.layers.GRU(4, reset_after=False),
        keras.layers.SimpleRNN(4),
    ],
    ids=["dropout", "recurrent dropout", "relu", "GRU reset before", "SimpleRNN"],
)
def test_cells_torch_does_not_compute_keep_keras_loop(layer):
    assert torch_kernel(layer) is None
    assert not is_unmasking(skip_right_padding(keras.Sequential([keras.Input((3, 2)), layer])))


def test_a_zoo_text_model_trains_on_torch():
    small = {"sequence_length": 12, "vocab_size": 50, "embedding_dim": 8, "units": (8, 4)}
    model = zoo.build("lstm_text", **small, dense_units=4)
    assert sum(map(is_unmasking, model._flatten_layers())) == 2
    x, y = _ids(), np.arange(len(LENGTHS)) % 2
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]


def test_onnx_export_traces_keras_loop_and_matches(tmp_path):
    # torch.onnx traces the model: the tracer sees Keras' loop, and the file computes what
    # the fused kernel does (zoo.export checks parity and writes nothing otherwise)
    small = {"sequence_length": 12, "vocab_size": 50, "embedding_dim": 8, "units": (8, 4)}
    model = zoo.build("bilstm_text", **small, dense_units=4)
    x = _ids()
    model.fit(x, np.arange(len(LENGTHS)) % 2, epochs=1, verbose=0)
    report = zoo.export(model, tmp_path / "out", name="bilstm_text")
    assert report.manifest["artifacts"]["onnx"]["parity"]["max_abs_diff"] < 1e-5
    assert (tmp_path / "out" / "bilstm_text.onnx").is_file()
