"""The whole Transformer: an encoder, and a decoder with masked self-attention and
encoder-decoder (cross) attention, trained with teacher forcing; greedy and beam-search
decoding. Characters in, characters out (``zoo.text``); default data: ``date_pairs``.
"""

from __future__ import annotations

import heapq
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from zoo.models._blocks import check_heads, check_positive, check_range
from zoo.models._layers import KeywordConfig, output_dtype
from zoo.models.language import position_layer
from zoo.registry import register
from zoo.tasks import Task, register_task

#: The start-of-target and end-of-target token: a newline, which targets never contain.
BOUNDARY = "\n"


def _seq2seq_input(defaults: Any) -> dict[str, Any]:
    return {"shape": [[None, defaults["source_length"]], [None, defaults["target_length"]]],
            "dtype": "int32", "names": ["encoder_ids", "decoder_ids"]}  # fmt: skip


def _seq2seq_output(defaults: Any) -> dict[str, Any]:
    from zoo.text import VOCAB_SIZE

    return {"shape": [None, defaults["target_length"], VOCAB_SIZE],
            "meaning": "next-character probabilities of the target, teacher-forced"}  # fmt: skip


def _next_target_chars(model: Any, n: int, rng: Any) -> Any:
    out = model.outputs[0].shape
    return rng.integers(0, out[-1], size=(n, out[1])).astype("int32")


register_task(
    Task(
        "seq2seq",
        {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": lambda: ["accuracy"],
        },  # fmt: skip
        output_spec=_seq2seq_output,
        input_spec=_seq2seq_input,
        data_tasks=("seq2seq",),
        text_only=True,
        report="seq2seq",
        example_targets=_next_target_chars,
    )
)


def _embedded(ids: Any, vocab: int, width: int, length: int, positions: str, name: str) -> Any:
    tokens = keras.layers.Embedding(vocab, width, name=f"{name}_tokens")(ids)
    where = position_layer(positions, length, name=f"{name}_positions")(tokens)
    return keras.layers.Add(name=f"{name}_embedding")([tokens, where])


@keras.saving.register_keras_serializable(package="zoo")
class Seq2SeqTransformer(KeywordConfig, keras.Model):
    """(source ids, target ids shifted right) -> target probabilities; ``translate``."""

    def __init__(
        self,
        source_length: int = 32,
        target_length: int = 11,
        vocab_size: int = 97,
        embedding_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        ff_dim: int = 128,
        dropout: float = 0.1,
        positional_encoding: str = "learned",
        **kwargs: Any,
    ) -> None:
        import keras_hub

        source = keras.Input(shape=(source_length,), dtype="int32", name="encoder_ids")
        target = keras.Input(shape=(target_length,), dtype="int32", name="decoder_ids")
        padding = ops.not_equal(source, 0)  # the source's padding is never attended to
        x = _embedded(source, vocab_size, embedding_dim, source_length, positional_encoding,
                      "source")  # fmt: skip
        for i in range(1, num_layers + 1):
            block = keras_hub.layers.TransformerEncoder(
                ff_dim, num_heads, dropout=dropout, normalize_first=True, name=f"encoder{i}"
            )
            x = block(x, padding_mask=padding)
        y = _embedded(target, vocab_size, embedding_dim, target_length, positional_encoding,
                      "target")  # fmt: skip
        for i in range(1, num_layers + 1):  # masked self-attention, then cross-attention
            y = keras_hub.layers.TransformerDecoder(ff_dim, num_heads, dropout=dropout,
                                                    normalize_first=True, name=f"decoder{i}")(
                y, encoder_sequence=x, encoder_padding_mask=padding, use_causal_mask=True
            )  # fmt: skip
        y = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(y)
        outputs = keras.layers.Dense(vocab_size, activation="softmax", dtype=output_dtype(),
                                     name="next_char")(y)  # fmt: skip
        kwargs.setdefault("name", "transformer_seq2seq")
        super().__init__([source, target], outputs, **kwargs)
        self.config = {
            "source_length": source_length, "target_length": target_length,
            "vocab_size": vocab_size, "embedding_dim": embedding_dim,
            "num_layers": num_layers, "num_heads": num_heads, "ff_dim": ff_dim,
            "dropout": dropout, "positional_encoding": positional_encoding,
        }  # fmt: skip

    # ------------------------------------------------------------------ parts

    def parts(self) -> dict[str, keras.Model]:
        """The encoder (source ids -> states) and one decoder step (target prefix, states,
        source ids -> next-character probabilities), sharing this model's layers: what a
        phone runs, the encoder once and the step once per output character."""
        layers = self.config["num_layers"]
        source = self.inputs[0]
        encoder = keras.Model(source, self.get_layer(f"encoder{layers}").output, name="encoder")
        states = keras.Input(shape=encoder.output.shape[1:], name="encoder_states")
        source_ids = keras.Input(shape=source.shape[1:], dtype="int32", name="encoder_ids")
        target = keras.Input(shape=self.inputs[1].shape[1:], dtype="int32", name="decoder_ids")
        padding = ops.not_equal(source_ids, 0)
        y = self.get_layer("target_embedding")(
            [self.get_layer("target_tokens")(target),
             self.get_layer("target_positions")(self.get_layer("target_tokens")(target))]
        )  # fmt: skip
        for i in range(1, layers + 1):
            block = self.get_layer(f"decoder{i}")
            y = block(y, encoder_sequence=states, encoder_padding_mask=padding,
                      use_causal_mask=True)  # fmt: skip
        probs = self.get_layer("next_char")(self.get_layer("final_norm")(y))
        step = keras.Model([target, states, source_ids], probs, name="decoder_step")
        return {"encoder": encoder, "decoder_step": step}

    def export_parts(self, out_dir: Any, formats: tuple[str, ...] = ("saved_model", "tflite"),
                     **options: Any) -> dict[str, Any]:  # fmt: skip
        """``zoo.export`` of each part into ``out_dir/encoder`` and ``out_dir/decoder_step``,
        each checked against Keras (parity)."""
        from pathlib import Path

        from zoo.exporting import export

        return {name: export(part, Path(out_dir) / name, formats=formats, name=name, **options)
                for name, part in self.parts().items()}  # fmt: skip

    # ------------------------------------------------------------------ decoding

    def encode_sources(self, texts: list[str]) -> np.ndarray:
        from zoo.text import encode

        out = np.zeros((len(texts), self.config["source_length"]), "int32")
        for i, text in enumerate(texts):
            ids = encode(text)[: self.config["source_length"]]
            out[i, : len(ids)] = ids
        return out

    def _probabilities(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return ops.convert_to_numpy(self([sources, targets], training=False)).astype("float64")

    def greedy(self, sources: np.ndarray) -> np.ndarray:
        """Target ids for a batch of source ids, one most probable character at a time."""
        from zoo.text import encode

        start = int(encode(BOUNDARY)[0])
        steps = self.config["target_length"]
        targets = np.zeros((len(sources), steps), "int32")
        targets[:, 0] = start
        out = np.zeros_like(targets)
        for i in range(steps):
            out[:, i] = self._probabilities(sources, targets)[:, i].argmax(-1)
            if i + 1 < steps:
                targets[:, i + 1] = out[:, i]
        ended = np.cumsum(out == start, axis=1) - (out == start) > 0  # past the first end
        return np.where(ended, 0, out)

    def beam(self, source: np.ndarray, width: int = 4) -> np.ndarray:
        """The most probable target of one source among ``width`` beams (log-probabilities
        summed; a finished beam keeps its score)."""
        from zoo.text import encode

        end = start = int(encode(BOUNDARY)[0])
        steps = self.config["target_length"]
        beams: list[tuple[float, list[int]]] = [(0.0, [])]
        for i in range(steps):
            open_beams = [b for b in beams if not (b[1] and b[1][-1] == end)]
            if not open_beams:
                break
            targets = np.zeros((len(open_beams), steps), "int32")
            targets[:, 0] = start
            for row, (_, seq) in enumerate(open_beams):
                targets[row, 1 : len(seq) + 1] = seq[: steps - 1]
            sources = np.repeat(source[None], len(open_beams), axis=0)
            logp = np.log(np.maximum(self._probabilities(sources, targets)[:, i], 1e-12))
            grown = [(score + logp[row, c], seq + [int(c)])
                     for row, (score, seq) in enumerate(open_beams)
                     for c in np.argsort(-logp[row])[:width]]  # fmt: skip
            done = [b for b in beams if b[1] and b[1][-1] == end]
            beams = heapq.nlargest(width, grown + done, key=lambda b: b[0])
        best = max(beams, key=lambda b: b[0])[1]
        return np.asarray(best + [0] * (steps - len(best)), "int32")

    def translate(self, texts: str | list[str], beam_width: int = 1) -> list[str]:
        """Decode each text: greedy (``beam_width=1``) or beam search."""
        from zoo.text import decode

        texts = [texts] if isinstance(texts, str) else list(texts)
        sources = self.encode_sources(texts)
        if beam_width <= 1:
            ids = self.greedy(sources)
        else:
            ids = np.stack([self.beam(s, beam_width) for s in sources])
        return [decode(row).split(BOUNDARY)[0] for row in ids]


@register("transformer_seq2seq", task="seq2seq", summary="The whole Transformer: encoder, "
          "decoder with masked self-attention and cross-attention; greedy and beam-search "
          "decoding. Default data: dates between formats.",
          section="Transformers: encoder-decoder", dataset="date_pairs", epochs=6,
          batch_size=64, preprocessing="character ids from zoo.text.encode: the source padded "
          "to source_length; the target starts and ends with a newline",
          tags=("transformer", "attention", "seq2seq", "text"),
          exports=("saved_model",), compile_defaults={"learning_rate": 1e-3},
          test_overrides={"source_length": 12, "target_length": 6, "embedding_dim": 8,
                          "num_layers": 1, "num_heads": 2, "ff_dim": 16},
          search_space={"num_layers": {"choice": [1, 2, 3]},
                        "embedding_dim": {"choice": [32, 64, 128]},
                        "learning_rate": {"float": [3e-4, 3e-3], "sampling": "log"}})  # fmt: skip
def transformer_seq2seq(
    *,
    source_length: int = 32,
    target_length: int = 11,
    embedding_dim: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    ff_dim: int = 128,
    dropout: float = 0.1,
    positional_encoding: Literal["learned", "sinusoidal"] = "learned",
) -> keras.Model:
    """``model.translate(["25 November 2026"])`` -> ``["2026-11-25"]`` once trained."""
    from zoo.text import VOCAB_SIZE

    check_positive("source_length", source_length)
    check_positive("target_length", target_length)
    check_positive("num_layers", num_layers)
    check_range("dropout", dropout, 0.0, 1.0)
    check_heads(embedding_dim, num_heads)
    return Seq2SeqTransformer(
        source_length, target_length, VOCAB_SIZE, embedding_dim, num_layers, num_heads,
        ff_dim, dropout, positional_encoding,
    )  # fmt: skip
