"""The Transformer's decoder: a GPT-style language model with a key/value cache.

Blocks are keras-hub's ``TransformerDecoder`` (pre-norm, causal, with the cache
GPT-2 uses) over keras-hub's tied ``ReversibleEmbedding``; the positions are
sinusoidal (the original paper's) or learned (GPT's).
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from zoo.models import sequence  # noqa: F401 (registers the language_model task first)
from zoo.models._blocks import check_heads, check_positive, check_range
from zoo.models._layers import KeywordConfig
from zoo.registry import register

POSITIONAL_ENCODINGS = ("learned", "sinusoidal")


def position_layer(kind: str, sequence_length: int, name: str = "positions") -> keras.layers.Layer:
    """keras-hub's position encoding of ``kind``; ``layer(x, start_index=i)`` -> positions."""
    import keras_hub

    if kind == "learned":
        return keras_hub.layers.PositionEmbedding(sequence_length, name=name)
    if kind == "sinusoidal":
        return keras_hub.layers.SinePositionEncoding(name=name)
    from zoo.errors import InvalidArgumentError

    raise InvalidArgumentError(
        f"positional_encoding must be one of {list(POSITIONAL_ENCODINGS)}, got {kind!r}"
    )


def compiled(fn):
    """``fn`` compiled with XLA on TensorFlow and JAX (one compile per input shape, so
    callers keep shapes fixed); eager on torch."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


class CachedDecoding:
    """``generate`` for a decoder with ``call_with_cache(ids, cache, index)``,
    ``empty_cache()``, ``window`` and its own ``encode_prompt`` / ``decode_ids``: prefill
    the prompt, then one position per new token; when the window fills, the last half is
    re-read. Shared by ``transformer_lm`` and ``gpt2_lm``."""

    #: The id never sampled (the characters' padding); None: any id may come next.
    never_sample: int | None = 0
    #: ``generate``'s default number of new tokens.
    default_length = 200

    def generate(
        self,
        prompt: str,
        length: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        use_cache: bool = True,
    ) -> str:
        """``length`` tokens after ``prompt``, as text, sampled at ``temperature`` (0 or
        ``top_k=1``: greedy) among the ``top_k`` most probable / the ``top_p`` mass."""
        length = self.default_length if length is None else length
        ids = self.encode_prompt(prompt)
        return self.decode_ids(
            self.generate_ids(ids, length, temperature, top_k, top_p, seed, use_cache)
        )

    def _step(self, token_ids: np.ndarray, cache: Any, index: int) -> tuple[np.ndarray, Any]:
        if getattr(self, "_step_fn", None) is None:
            self._step_fn = compiled(self.call_with_cache)
        probs, cache = self._step_fn(
            ops.convert_to_tensor(token_ids, "int32"), cache, ops.convert_to_tensor(index, "int32")
        )
        return ops.convert_to_numpy(probs), cache

    def generate_ids(self, ids: list[int], length: int, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None,
                     seed: int | None = None, use_cache: bool = True) -> list[int]:  # fmt: skip
        """``length`` new ids after ``ids``. ``use_cache=False`` re-reads the whole context
        for every token (the benchmark's comparison)."""
        from zoo.text import check_sampling, next_id

        check_sampling(length, temperature, top_k, top_p)
        rng = np.random.default_rng(seed)
        window = self.window
        ids, out = list(ids), []
        cache, position = None, 0
        while len(out) < length:
            if cache is None or position >= window or not use_cache:
                context = ids[-(window if cache is None or not use_cache else window // 2) :]
                padded = np.zeros((1, window), "int32")  # one shape: one compiled graph
                padded[0, : len(context)] = context  # causal: the padding is never read
                probs, cache = self._step(padded, self.empty_cache(), 0)
                position, at = len(context), len(context) - 1
            else:
                probs, cache = self._step(np.asarray([[ids[-1]]]), cache, position)
                position, at = position + 1, 0
            ids.append(next_id(probs[0, at], temperature, rng, top_k, top_p, self.never_sample))
            out.append(ids[-1])
        return out


def decoder_cache(layers: int, window: int, heads: int, head_size: int, dtype: str) -> Any:
    """Keys and values of every block, as keras-hub's decoders read them."""
    return ops.zeros((1, layers, 2, window, heads, head_size), dtype=dtype)


def run_decoder_blocks(blocks: list, x: Any, cache: Any, index: Any) -> tuple[Any, Any]:
    """``x`` through keras-hub ``TransformerDecoder`` blocks at ``index``, updating ``cache``."""
    caches = []
    for i, block in enumerate(blocks):
        x, layer_cache = block(
            x, self_attention_cache=cache[:, i], self_attention_cache_update_index=index
        )
        caches.append(layer_cache)
    return x, ops.stack(caches, axis=1)


@keras.saving.register_keras_serializable(package="zoo")
class TransformerLanguageModel(KeywordConfig, CachedDecoding, keras.Model):
    """Next-token probabilities per position, with ``generate`` over a key/value cache."""

    def __init__(
        self,
        sequence_length: int = 256,
        vocab_size: int = 97,
        embedding_dim: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_dim: int = 512,
        dropout: float = 0.1,
        positional_encoding: str = "learned",
        **kwargs: Any,
    ) -> None:
        import keras_hub

        embedding = keras_hub.layers.ReversibleEmbedding(
            vocab_size, embedding_dim, tie_weights=True, name="token_embedding"
        )
        position = position_layer(positional_encoding, sequence_length)
        blocks = [
            keras_hub.layers.TransformerDecoder(ff_dim, num_heads, dropout=dropout,
                                                activation="gelu", normalize_first=True,
                                                name=f"block{i}")
            for i in range(1, num_layers + 1)
        ]  # fmt: skip
        final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = embedding(inputs)
        x = keras.layers.Add(name="add_positions")([x, position(x)])
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
        for block in blocks:
            x = block(x)  # causal self-attention and feed-forward, each pre-norm
        logits = embedding(final_norm(x), reverse=True)  # the input embedding, transposed
        outputs = keras.layers.Activation("softmax", dtype="float32", name="next_token")(logits)
        kwargs.setdefault("name", "transformer_lm")
        super().__init__(inputs, outputs, **kwargs)
        self.token_embedding, self.positions = embedding, position
        self.blocks, self.final_norm = blocks, final_norm
        self.config = {
            "sequence_length": sequence_length,
            "vocab_size": vocab_size,
            "embedding_dim": embedding_dim,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "ff_dim": ff_dim,
            "dropout": dropout,
            "positional_encoding": positional_encoding,
        }

    # ------------------------------------------------------------------ the cache

    @property
    def window(self) -> int:
        return self.config["sequence_length"]

    def empty_cache(self) -> Any:
        c = self.config
        return decoder_cache(c["num_layers"], c["sequence_length"], c["num_heads"],
                             c["embedding_dim"] // c["num_heads"], self.compute_dtype)  # fmt: skip

    def call_with_cache(self, token_ids: Any, cache: Any, index: Any) -> tuple[Any, Any]:
        """Probabilities for ``token_ids`` placed at ``index`` onwards, reading and updating
        ``cache`` (as keras-hub's GPT-2 does): each new token costs one position's work."""
        x = self.token_embedding(token_ids)
        x, cache = run_decoder_blocks(
            self.blocks, ops.add(x, self.positions(x, start_index=index)), cache, index
        )
        logits = self.token_embedding(self.final_norm(x), reverse=True)
        return ops.softmax(ops.cast(logits, "float32")), cache

    def encode_prompt(self, prompt: str) -> list[int]:
        from zoo.text import encode

        return list(encode(prompt)) or [int(encode("\n")[0])]  # an empty prompt: a new line

    def decode_ids(self, ids: list[int]) -> str:
        from zoo.text import decode

        return decode(ids)


@register("transformer_lm", task="language_model", summary="A decoder-only, GPT-style "
          "Transformer: causal self-attention, pre-norm blocks, tied embeddings; generate() "
          "runs on a key/value cache.", section="Transformers: language models",
          preprocessing="character ids from zoo.text.encode (newline and printable ASCII, 97 "
          "ids): character tokens, so its perplexity compares directly with char_lstm's",
          dataset="python_docs", epochs=15, batch_size=64,
          compile_defaults={"learning_rate": 2e-3},
          tags=("transformer", "attention", "generation", "decoder"),
          exports=("saved_model", "tflite"), quantizations=("dynamic", "float16"),
          export_tolerance=1e-4,
          test_overrides={"sequence_length": 12, "embedding_dim": 8, "num_layers": 1,
                          "num_heads": 2, "ff_dim": 16},
          search_space={"num_layers": {"choice": [2, 4, 6]},
                        "embedding_dim": {"choice": [64, 128, 256]},
                        "positional_encoding": {"choice": list(POSITIONAL_ENCODINGS)},
                        "learning_rate": {"float": [1e-4, 3e-3], "sampling": "log"}})  # fmt: skip
def transformer_lm(
    *,
    sequence_length: int = 64,
    embedding_dim: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    ff_dim: int = 256,
    dropout: float = 0.1,
    positional_encoding: Literal["learned", "sinusoidal"] = "learned",
) -> keras.Model:
    """Predicts each next character; ``model.generate("Return the", 200, top_k=10)``.

    The defaults are sized for a 2-core CPU and ~100k characters of text: at equal
    training time they reach a lower perplexity than ``char_lstm`` (benchmarks/).
    A longer ``sequence_length`` reads more context at more cost per token.
    """
    from zoo.text import VOCAB_SIZE

    check_positive("sequence_length", sequence_length)
    check_positive("num_layers", num_layers)
    check_positive("ff_dim", ff_dim)
    check_range("dropout", dropout, 0.0, 1.0)
    check_heads(embedding_dim, num_heads)
    return TransformerLanguageModel(sequence_length, VOCAB_SIZE, embedding_dim, num_layers,
                                    num_heads, ff_dim, dropout, positional_encoding)  # fmt: skip
