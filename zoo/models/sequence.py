"""Sequence models: RNN / LSTM / GRU / bidirectional and Transformer text classifiers,
time-series classifiers and a forecaster, and a character-level LSTM language model.

Text models take token ids (``int32``, ``(sequence_length,)``); recipes turn
raw strings into ids with a ``TextVectorization`` adapted on the training
split and saved beside the model. RNNs take ``unroll`` (unrolled loops export
to TFLite with a dynamic batch and quantize to full int8; docs/PLATFORM_NOTES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import keras
from keras import ops

from zoo.models._blocks import check_positive, check_range, classifier_head
from zoo.models._layers import KeywordConfig, output_dtype
from zoo.registry import register, register_builder
from zoo.tasks import Task, register_task

Cell = Literal["simple_rnn", "lstm", "gru"]
_CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="zoo")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus positions (the tutorial's Transformer input): a learned
    position embedding, or the original paper's fixed sinusoids."""

    def __init__(self, sequence_length: int, vocab_size: int, embedding_dim: int,
                 positional_encoding: str = "learned", **kwargs):  # fmt: skip
        from zoo.models.language import position_layer

        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.positional_encoding = positional_encoding
        self.token = keras.layers.Embedding(vocab_size, embedding_dim, name="token")
        if positional_encoding == "learned":  # as before, so saved models still load
            self.position = keras.layers.Embedding(sequence_length, embedding_dim, name="position")
        else:
            self.position = position_layer(positional_encoding, sequence_length, name="position")

    def build(self, input_shape):
        self.token.build(input_shape)
        if self.positional_encoding == "learned":
            self.position.build((self.sequence_length,))
        self.built = True

    def call(self, x):
        tokens = self.token(x)
        if self.positional_encoding == "learned":
            return tokens + self.position(ops.arange(0, ops.shape(x)[-1], dtype="int32"))
        return tokens + self.position(tokens)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "positional_encoding": self.positional_encoding,
        }


def transformer_encoder(inputs, *, num_heads: int, head_size: int, ff_dim: int, dropout: float,
                        name: str):  # fmt: skip
    """The time-series tutorial's ``transformer_encoder`` (pre-norm): layer norm, attention,
    dropout, residual; layer norm, Conv1D feed-forward, residual. Pre-norm keeps a
    one-feature series alive, where normalizing after the sum would flatten it."""
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(inputs)
    x = keras.layers.MultiHeadAttention(
        num_heads=num_heads, key_dim=head_size, dropout=dropout, name=f"{name}_attention"
    )(x, x)
    x = keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(x)
    res = x + inputs
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(res)
    x = keras.layers.Conv1D(ff_dim, 1, activation="relu", name=f"{name}_ff1")(x)
    x = keras.layers.Dropout(dropout, name=f"{name}_ff_dropout")(x)
    x = keras.layers.Conv1D(inputs.shape[-1], 1, name=f"{name}_ff2")(x)
    return x + res


def transformer_block(x, *, num_heads: int, head_size: int, ff_dim: int, dropout: float, name):
    """The text tutorial's TransformerBlock (post-norm): attention, dropout, residual, layer
    norm; Conv1D feed-forward, dropout, residual, layer norm."""
    width = x.shape[-1]
    attn = keras.layers.MultiHeadAttention(
        num_heads=num_heads, key_dim=head_size, dropout=dropout, name=f"{name}_attention"
    )(x, x)
    attn = keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(attn)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x + attn)
    ff = keras.layers.Conv1D(ff_dim, 1, activation="relu", name=f"{name}_ff1")(x)
    ff = keras.layers.Dropout(dropout, name=f"{name}_ff_dropout")(ff)
    ff = keras.layers.Conv1D(width, 1, name=f"{name}_ff2")(ff)
    return keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x + ff)


# --------------------------------------------------------------------------- text classifiers

_TEXT_SPACE = {
    "embedding_dim": {"choice": [32, 64, 128]},
    "dropout": {"float": [0.0, 0.5], "step": 0.1},
    "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"},
}
_TEXT_FACTS = dict(
    task="classification",
    section="Sequence models: text classification",
    preprocessing="token ids from the TextVectorization vocabulary saved beside the model "
    "(zoo train adapts it on the training split; zoo predict takes raw text)",
    dataset="synthetic_reviews",
    epochs=10,
    batch_size=32,
    exports=("saved_model", "tflite", "onnx"),
    quantizations=("dynamic", "float16"),
    search_space=_TEXT_SPACE,
)


def _text_input(sequence_length: int, vocab_size: int, embedding_dim: int, mask: bool = False):
    check_positive("sequence_length", sequence_length)
    check_positive("vocab_size", vocab_size)
    check_positive("embedding_dim", embedding_dim)
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
    embed = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=mask, name="embedding")
    return inputs, embed(inputs)


def _rnn_stack(x, cell: str, units: tuple[int, ...], *, dropout: float, unroll: bool,
               bidirectional: bool = False):  # fmt: skip
    check_positive("units", units)
    check_range("dropout", dropout, 0.0, 1.0)
    layer_cls = _CELLS[cell]
    for i, width in enumerate(units, start=1):
        last = i == len(units)
        rnn = layer_cls(width, return_sequences=not last, unroll=unroll, name=f"{cell}{i}")
        if bidirectional:
            rnn = keras.layers.Bidirectional(rnn, name=f"bi_{cell}{i}")
        x = rnn(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    return x


def _rnn_classifier(name: str, cell: str, *, bidirectional: bool = False, **kw: Any):
    # id 0 is padding (TextVectorization pads at the end): the mask lets RNNs skip it
    inputs, x = _text_input(kw["sequence_length"], kw["vocab_size"], kw["embedding_dim"], True)
    x = _rnn_stack(x, cell, kw["units"], dropout=kw["dropout"], unroll=kw["unroll"],
                   bidirectional=bidirectional)  # fmt: skip
    if kw["dense_units"]:
        x = keras.layers.Dense(kw["dense_units"], activation="relu", name="dense")(x)
    return keras.Model(inputs, classifier_head(x, kw["num_classes"]), name=name)


_SMALL_TEXT = {"sequence_length": 12, "vocab_size": 60, "embedding_dim": 8}


@dataclass(frozen=True)
class _RNNText:
    """One recurrent text classifier: a table row, not a copy of the builder."""

    name: str
    cell: str
    units: tuple[int, ...]
    summary: str
    why: str
    tags: tuple[str, ...]
    bidirectional: bool = False


RNN_TEXT = (
    _RNNText("simple_rnn_text", "simple_rnn", (64,),
             "Embedding, SimpleRNN, Dense: the first recurrent text classifier.",
             "A plain recurrent layer: shows vanishing gradients on long texts, next to LSTM/GRU.",
             ("rnn", "text")),
    _RNNText("lstm_text", "lstm", (128, 64),
             "The tutorial's LSTM classifier: Embedding, LSTM 128 (sequences), Dropout, LSTM 64, "
             "Dropout, Dense 64, softmax.",
             "Stacked LSTMs: gates keep long-range information the SimpleRNN loses.",
             ("rnn", "lstm", "text")),
    _RNNText("gru_text", "gru", (128, 64),
             "Embedding, stacked GRUs, Dense: the LSTM's lighter cousin.",
             "GRUs: two gates instead of three, fewer parameters, similar accuracy.",
             ("rnn", "gru", "text")),
    _RNNText("bilstm_text", "lstm", (64, 32),
             "Embedding, bidirectional LSTMs, Dense: reads the text both ways.",
             "A forward and a backward LSTM per layer, concatenated.",
             ("rnn", "lstm", "bidirectional", "text"), bidirectional=True),
)  # fmt: skip


def _make_rnn_text(row: _RNNText):
    def builder(
        *,
        num_classes: int = 2,
        vocab_size: int = 20000,
        sequence_length: int = 200,
        embedding_dim: int = 128,
        units: tuple[int, ...] = row.units,
        dense_units: int = 64,
        dropout: float = 0.2,
        unroll: bool = False,
    ) -> keras.Model:
        return _rnn_classifier(
            row.name,
            row.cell,
            bidirectional=row.bidirectional,
            num_classes=num_classes,
            vocab_size=vocab_size,
            sequence_length=sequence_length,
            embedding_dim=embedding_dim,
            units=units,
            dense_units=dense_units,
            dropout=dropout,
            unroll=unroll,
        )

    builder.__name__ = builder.__qualname__ = row.name
    builder.__doc__ = row.why
    return builder


for _row in RNN_TEXT:
    _small_units = (8,) if len(_row.units) == 1 else (8, 4)
    register_builder(
        _row.name,
        _make_rnn_text(_row),
        summary=_row.summary,
        tags=_row.tags,
        test_overrides={**_SMALL_TEXT, "units": _small_units, "dense_units": 4},
        **_TEXT_FACTS,
    )


@register("transformer_text", summary="Token + position embedding, the tutorial's Transformer "
          "encoder blocks, pooling and a softmax head.",
          test_overrides={**_SMALL_TEXT, "num_heads": 2, "ff_dim": 8, "dense_units": 4},
          tags=("transformer", "attention", "text"),
          **{**_TEXT_FACTS, "quantizations": ("dynamic", "float16", "int8"),
             "search_space": {**_TEXT_SPACE, "num_blocks": {"int": [1, 3]},
                              "num_heads": {"choice": [2, 4]}}})  # fmt: skip
def transformer_text(
    *,
    num_classes: int = 2,
    vocab_size: int = 20000,
    sequence_length: int = 200,
    embedding_dim: int = 32,
    num_heads: int = 2,
    ff_dim: int = 32,
    num_blocks: int = 1,
    dense_units: int = 20,
    dropout: float = 0.1,
    positional_encoding: Literal["learned", "sinusoidal"] = "learned",
) -> keras.Model:
    """Self-attention over the whole text at once: no recurrence, parallel over positions."""
    check_positive("num_heads", num_heads)
    check_positive("num_blocks", num_blocks)
    check_range("dropout", dropout, 0.0, 1.0)
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
    x = TokenAndPositionEmbedding(sequence_length, vocab_size, embedding_dim,
                                  positional_encoding, name="embed")(inputs)  # fmt: skip
    for i in range(num_blocks):
        x = transformer_block(x, num_heads=num_heads, head_size=embedding_dim,
                                ff_dim=ff_dim, dropout=dropout, name=f"block{i + 1}")  # fmt: skip
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="transformer_text")


# --------------------------------------------------------------------------- numeric sequences

_SERIES_FACTS = dict(
    section="Sequence models: time series",
    preprocessing="float sequences (timesteps, features), as the dataset gives them",
    epochs=20,
    batch_size=32,
    exports=("saved_model", "tflite", "onnx"),
    quantizations=("dynamic", "float16"),
)


@register("lstm_timeseries", task="classification", summary="LSTM layers then a softmax: "
          "classifies whole sequences (default data: synthetic waveforms).",
          dataset="waveforms", tags=("rnn", "lstm", "timeseries"),
          test_overrides={"input_shape": (10, 2), "units": (8,), "dense_units": 4},
          search_space={"dropout": {"float": [0.0, 0.5], "step": 0.1},
                        "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}},
          **_SERIES_FACTS)  # fmt: skip
def lstm_timeseries(
    *,
    num_classes: int = 3,
    input_shape: tuple[int, ...] = (64, 1),
    units: tuple[int, ...] = (64,),
    dense_units: int = 32,
    dropout: float = 0.1,
    unroll: bool = False,
) -> keras.Model:
    """The LSTM reads the series step by step; its last state classifies it."""
    check_positive("input_shape", input_shape)
    inputs = keras.Input(shape=input_shape, name="series")
    x = _rnn_stack(inputs, "lstm", units, dropout=dropout, unroll=unroll)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="lstm_timeseries")


@register("transformer_timeseries", task="classification", summary="The tutorial's "
          "transformer_encoder blocks for time-series classification.",
          dataset="waveforms", tags=("transformer", "attention", "timeseries"),
          test_overrides={"input_shape": (10, 2), "head_size": 4, "ff_dim": 4,
                          "mlp_units": (4,)},
          search_space={"num_blocks": {"int": [1, 4]},
                        "dropout": {"float": [0.0, 0.4], "step": 0.1},
                        "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}},
          # attention and layer norm over raw float series: the SavedModel's summation order
          # differs from eager Keras by up to ~1.5e-5 under load, as for the other attention
          # entries (bert_classifier, transformer_lm), whose tolerance is 1e-4 too
          export_tolerance=1e-4, **_SERIES_FACTS)  # fmt: skip
def transformer_timeseries(
    *,
    num_classes: int = 3,
    input_shape: tuple[int, ...] = (64, 1),
    head_size: int = 32,
    num_heads: int = 2,
    ff_dim: int = 16,
    num_blocks: int = 2,
    mlp_units: tuple[int, ...] = (64,),
    dropout: float = 0.1,
    embed_dim: int = 16,
    embed_kernel: int = 3,
) -> keras.Model:
    """Self-attention across time steps, pooled per step, then an MLP head.

    ``embed_dim`` > 0 first maps each step and its ``embed_kernel`` neighbours to that many
    features (a Conv1D). The tutorial feeds the raw series, but layer norm over a single
    feature outputs a constant, so its attention sees nothing: on the waveforms it stalls
    near 0.75 test accuracy, and with the embedding it reaches 0.99. ``embed_dim=0`` is
    the tutorial's network.
    """
    check_positive("input_shape", input_shape)
    check_positive("num_blocks", num_blocks)
    inputs = keras.Input(shape=input_shape, name="series")
    x = inputs
    if embed_dim:
        check_positive("embed_dim", embed_dim)
        check_positive("embed_kernel", embed_kernel)
        x = keras.layers.Conv1D(embed_dim, embed_kernel, padding="same", name="embed")(x)
    for i in range(num_blocks):
        x = transformer_encoder(x, num_heads=num_heads, head_size=head_size, ff_dim=ff_dim,
                                dropout=dropout, name=f"block{i + 1}")  # fmt: skip
    # as in the tutorial: average over the feature axis, keeping one value per time step
    x = keras.layers.GlobalAveragePooling1D(data_format="channels_first", name="pool")(x)
    for j, width in enumerate(mlp_units, start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"mlp{j}")(x)
        x = keras.layers.Dropout(dropout, name=f"mlp{j}_dropout")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="transformer_timeseries")


@register("lstm_forecaster", task="regression", summary="An LSTM that predicts the next values "
          "of a series from a window of past ones (default data: Google's daily closes).",
          dataset="goog_prices", tags=("rnn", "lstm", "timeseries", "forecasting"),
          test_overrides={"input_shape": (10, 1), "units": (8,)},
          search_space={"dropout": {"float": [0.0, 0.4], "step": 0.1},
                        "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}},
          **{**_SERIES_FACTS, "export_tolerance": 1e-4})  # fmt: skip
def lstm_forecaster(
    *,
    input_shape: tuple[int, ...] = (30, 1),
    horizon: int = 1,
    units: tuple[int, ...] = (64,),
    dropout: float = 0.0,
    unroll: bool = False,
) -> keras.Model:
    """Window in, ``horizon`` next values out (regression, MSE)."""
    check_positive("input_shape", input_shape)
    check_positive("horizon", horizon)
    inputs = keras.Input(shape=input_shape, name="window")
    x = _rnn_stack(inputs, "lstm", units, dropout=dropout, unroll=unroll)
    outputs = keras.layers.Dense(horizon, dtype=output_dtype(), name="forecast")(x)
    return keras.Model(inputs, outputs, name="lstm_forecaster")


# --------------------------------------------------------------------------- language model


@keras.saving.register_keras_serializable(package="zoo")
class Perplexity(keras.metrics.Mean):
    """exp(mean token cross-entropy): the language model's metric (lower is better).

    Kept instead of ``keras_hub.metrics.Perplexity``, which gives the same number
    (``tests/test_sequence.py``), because importing keras-hub costs seconds on every run.
    """

    def __init__(self, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        return super().update_state(ce, sample_weight=sample_weight)

    def result(self):
        return ops.exp(super().result())


def _next_token_targets(model: Any, n: int, rng: Any) -> Any:
    out = model.outputs[0].shape
    return rng.integers(0, out[-1], size=(n, *out[1:-1])).astype("int32")


def _language_model_output(defaults: Any) -> dict[str, Any]:
    from zoo.text import VOCAB_SIZE

    seq = defaults.get("sequence_length")
    if "checkpoint" in defaults:  # the vocabulary is the checkpoint's (GPT-2's: 50257)
        return {"shape": [None, seq, None],
                "meaning": "next-token probabilities over the checkpoint's vocabulary"}  # fmt: skip
    return {"shape": [None, seq, VOCAB_SIZE], "meaning": "next-character probabilities"}


register_task(
    Task(
        "language_model",
        {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": lambda: [Perplexity()],
        },
        output_spec=_language_model_output,
        data_tasks=("language_model",),
        text_only=True,
        report="language_model",
        recipe_metric="val_perplexity",
        example_targets=_next_token_targets,
    )
)


@keras.saving.register_keras_serializable(package="zoo")
class CharLanguageModel(KeywordConfig, keras.Model):
    """A functional character LSTM with ``generate``: next-character probabilities per step."""

    def __init__(
        self,
        sequence_length: int = 100,
        vocab_size: int = 97,
        embedding_dim: int = 64,
        units: tuple[int, ...] = (256,),
        dropout: float = 0.1,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        units = tuple(units)
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="char_ids")
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
        for i, width in enumerate(units, start=1):
            x = keras.layers.LSTM(width, return_sequences=True, unroll=unroll, name=f"lstm{i}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
        outputs = keras.layers.Dense(
            vocab_size, activation="softmax", dtype=output_dtype(), name="next_char"
        )(x)
        kwargs.setdefault("name", "char_lstm")
        super().__init__(inputs, outputs, **kwargs)
        self.config = {
            "sequence_length": sequence_length,
            "vocab_size": vocab_size,
            "embedding_dim": embedding_dim,
            "units": list(units),
            "dropout": dropout,
            "unroll": unroll,
        }

    def generate(
        self,
        prompt: str,
        length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """``length`` new characters after ``prompt``, sampled at ``temperature`` (0: greedy)
        among the ``top_k`` most probable / the ``top_p`` probability mass."""
        import numpy as np

        from zoo.text import check_sampling, context_window, decode, encode, next_id

        check_sampling(length, temperature, top_k, top_p)
        rng = np.random.default_rng(seed)
        ids = list(encode(prompt))
        out = []
        for _ in range(length):
            x, at = context_window(ids, self.config["sequence_length"])
            probs = ops.convert_to_numpy(self(x, training=False))[0, at]
            ids.append(next_id(probs, temperature, rng, top_k, top_p))
            out.append(ids[-1])
        return decode(out)


@register("char_lstm", task="language_model", summary="A character-level LSTM language model "
          "with generate(prompt, length, temperature); perplexity is its metric.",
          section="Sequence models: text generation",
          preprocessing="character ids from zoo.text.encode (newline and printable ASCII)",
          dataset="python_docs", epochs=5, batch_size=64, tags=("rnn", "lstm", "generation"),
          exports=("saved_model", "tflite", "onnx"), quantizations=("dynamic", "float16"),
          test_overrides={"sequence_length": 12, "embedding_dim": 8, "units": (8,)},
          search_space={"units": {"choice": [[128], [256], [256, 256]]},
                        "learning_rate": {"float": [1e-4, 1e-2], "sampling": "log"}})  # fmt: skip
def char_lstm(
    *,
    sequence_length: int = 100,
    embedding_dim: int = 64,
    units: tuple[int, ...] = (256,),
    dropout: float = 0.1,
    unroll: bool = False,
) -> keras.Model:
    """Predicts each next character; ``model.generate("Return the", 200)`` writes text."""
    from zoo.text import VOCAB_SIZE

    check_positive("sequence_length", sequence_length)
    check_positive("units", units)
    check_range("dropout", dropout, 0.0, 1.0)
    return CharLanguageModel(sequence_length, VOCAB_SIZE, embedding_dim, units, dropout, unroll)
