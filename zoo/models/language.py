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
from zoo.models._layers import KeywordConfig, output_dtype
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

        return tf.function(fn, reduce_retracing=True, jit_compile=True)
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

    def generate_ids(self, ids: list[int], length: int, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None,
                     seed: int | None = None, use_cache: bool = True) -> list[int]:  # fmt: skip
        """``length`` new ids after ``ids``. Each stretch of the window is decoded in one
        compiled loop, sampling included (no Python between tokens); when the window
        fills, its last half is re-read. ``use_cache=False`` re-reads the whole window for
        every token instead (the benchmark's comparison; the same ids come out)."""
        from zoo.text import check_sampling

        check_sampling(length, temperature, top_k, top_p)
        uniforms = np.random.default_rng(seed).random(length)  # one draw per token
        window, ids, out = self.window, list(ids), []
        context = ids[-window:]
        while len(out) < length:
            count = min(length - len(out), window - len(context) + 1)
            draws = np.zeros(window + 1, "float32")
            draws[:count] = uniforms[len(out) : len(out) + count]
            new = self._decode_stretch(context, count, draws, temperature, top_k, top_p,
                                       use_cache)  # fmt: skip
            ids += new
            out += new
            context = ids[-(window // 2) :]
        return out

    def _decode_stretch(self, context: list[int], count: int, draws: np.ndarray,
                        temperature: float, top_k: int | None, top_p: float | None,
                        use_cache: bool) -> list[int]:  # fmt: skip
        """``count`` ids after ``context`` (``count <= window - len(context) + 1``)."""
        key = (use_cache, top_k)
        fns = self.__dict__.setdefault("_stretch_fns", {})
        if key not in fns:  # one compiled loop per cache mode and top_k
            fns[key] = compiled(self._stretch_loop(use_cache, top_k))
        buffer = np.zeros((1, self.window), "int32")  # one shape: one compiled graph
        buffer[0, : len(context)] = context  # causal: the padding is never read
        out = fns[key](
            ops.convert_to_tensor(buffer),
            ops.convert_to_tensor(len(context), "int32"),
            ops.convert_to_tensor(count, "int32"),
            ops.convert_to_tensor(draws),
            ops.convert_to_tensor(float(temperature), "float32"),
            ops.convert_to_tensor(1.0 if top_p is None else float(top_p), "float32"),
        )
        return [int(i) for i in ops.convert_to_numpy(out)[:count]]

    def _stretch_loop(self, use_cache: bool, top_k: int | None):
        """The loop ``_decode_stretch`` compiles: prefill, then per token one cached
        position (or the whole window again) and an in-graph draw."""
        pick = token_sampler(self.never_sample, top_k)

        def loop(buffer, start, count, draws, temperature, top_p):
            probs, cache = self.call_with_cache(buffer, self.empty_cache(), 0)
            first = pick(ops.take(probs[0], start - 1, axis=0), draws[0], temperature, top_p)
            out = ops.slice_update(ops.zeros_like(draws, "int32"), [0], ops.reshape(first, (1,)))

            def body(j, token, buffer, cache, out):
                position = start + j - 1  # where the previous token goes
                if use_cache:
                    probs, cache = self.call_with_cache(ops.reshape(token, (1, 1)), cache,
                                                        position)  # fmt: skip
                    probs = probs[0, 0]
                else:
                    buffer = ops.slice_update(buffer, [0, position], ops.reshape(token, (1, 1)))
                    probs, _ = self.call_with_cache(buffer, self.empty_cache(), 0)
                    probs = ops.take(probs[0], position, axis=0)
                token = pick(probs, ops.take(draws, j), temperature, top_p)
                out = ops.slice_update(out, ops.reshape(j, (1,)), ops.reshape(token, (1,)))
                return j + 1, token, buffer, cache, out

            state = (ops.convert_to_tensor(1, "int32"), first, buffer, cache, out)
            return ops.while_loop(lambda j, *_: j < count, body, state)[-1]

        return loop


def token_sampler(never: int | None, top_k: int | None):
    """In-graph ``zoo.text.next_id``: the id drawn by inverse CDF at ``u`` from ``probs``
    at ``temperature`` (0: the most probable), among the ``top_k`` most probable and the
    smallest set whose mass reaches ``top_p``, never ``never``. With the same uniform
    draw it picks what ``next_id`` picks, up to float32 rounding."""

    def pick(probs: Any, u: Any, temperature: Any, top_p: Any) -> Any:
        vocab = probs.shape[-1]
        allowed = np.ones(vocab, "float32")
        if never is not None:
            allowed[never] = 0.0
        probs = probs * allowed
        greedy = ops.cast(ops.argmax(probs), "int32")
        if top_k == 1:
            return greedy
        logits = ops.log(ops.maximum(probs, 1e-12)) / ops.maximum(temperature, 1e-6)
        p = ops.exp(logits - ops.max(logits)) * allowed
        values, order = ops.top_k(p, top_k or vocab)  # descending
        mass = ops.cumsum(values) / ops.sum(p)
        kept = ops.sum(ops.cast(mass < top_p, "int32")) + 1  # up to the first reaching top_p
        values = ops.where(ops.arange(values.shape[0]) < kept, values, 0.0)
        p = ops.scatter(ops.expand_dims(order, 1), values, (vocab,))  # back in id order
        cdf = ops.cumsum(p)
        drawn = ops.sum(ops.cast(cdf / cdf[-1] <= u, "int32"))  # numpy's choice: same rule
        drawn = ops.minimum(drawn, vocab - 1)
        return ops.where(temperature > 0, drawn, greedy)

    return pick


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
        softmax = keras.layers.Activation("softmax", dtype=output_dtype(), name="next_token")
        outputs = softmax(logits)
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
