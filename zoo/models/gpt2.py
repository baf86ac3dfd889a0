"""GPT-2 fine-tuning from Hugging Face checkpoints, converted by keras-hub.

``zoo.build("gpt2_lm", checkpoint=DIR_OR_HF_HANDLE, sequence_length=128)``: the
checkpoint's decoder with its tied output embedding. The model takes token ids (so its
exports do); ``fit`` also takes raw strings (causal-LM fine-tuning: the BPE tokenizer
travels inside) and ``generate(prompt, ...)`` returns text, through the key/value cache
``transformer_lm`` uses. ``sequence_length`` is always the caller's (default 128), never
the checkpoint's 1024 positions silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from zoo.errors import InvalidArgumentError
from zoo.models import sequence  # noqa: F401 (registers the language_model task first)
from zoo.models._blocks import check_positive
from zoo.models._huggingface import check_checkpoint, conversion_errors
from zoo.models._layers import output_dtype
from zoo.models.language import CachedDecoding, decoder_cache, run_decoder_blocks
from zoo.registry import register

END_OF_TEXT = "<|endoftext|>"


@keras.saving.register_keras_serializable(package="zoo")
class GPT2LanguageModel(CachedDecoding, keras.Model):
    """Token ids -> GPT-2 -> next-token probabilities; raw strings in ``fit``, text out of
    ``generate``."""

    never_sample = None  # every BPE id is a real token
    default_length = 50

    def __init__(
        self,
        backbone: Any,
        vocabulary: dict[str, int],
        merges: list[str],
        sequence_length: int = 128,
        **kwargs: Any,
    ) -> None:
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        # causal attention: padding on the right is never read by the tokens before it
        hidden = backbone({"token_ids": token_ids, "padding_mask": ops.ones_like(token_ids)})
        logits = backbone.token_embedding(hidden, reverse=True)
        softmax = keras.layers.Activation("softmax", dtype=output_dtype(), name="next_token")
        outputs = softmax(logits)
        kwargs.setdefault("name", "gpt2_lm")
        super().__init__(token_ids, outputs, **kwargs)
        self.backbone = backbone
        self.vocabulary, self.merges = dict(vocabulary), list(merges)
        self.sequence_length = sequence_length
        self._text = _TextTools(self.vocabulary, self.merges, sequence_length)

    @property
    def tokenizer(self) -> Any:
        """keras-hub's ``GPT2Tokenizer`` for this checkpoint's BPE."""
        return self._text.tokenizer

    @property
    def preprocessor(self) -> Any:
        """Strings -> (ids, next ids, weights): keras-hub's ``GPT2CausalLMPreprocessor``."""
        return self._text.preprocessor

    def get_config(self) -> dict[str, Any]:
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "vocabulary": self.vocabulary,
            "merges": self.merges,
            "sequence_length": self.sequence_length,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GPT2LanguageModel:
        return cls(**config)

    # ---------------------------------------------------------------- tokens

    def token_ids(self, text: str) -> list[int]:
        """The BPE ids of ``text`` (no start or end token), as ``transformers`` gives them.

        Not named ``tokenize``: the training pipeline would take that for a vectorizer,
        while ``zoo train`` already reads its data as these ids (``zoo.data.loader_options``).
        """
        return [int(i) for i in ops.convert_to_numpy(self.tokenizer(text))]

    def detokenize(self, ids: list[int]) -> str:
        text = self.tokenizer.detokenize(np.asarray(ids, "int32"))
        return text.numpy().decode("utf-8", "replace") if hasattr(text, "numpy") else str(text)

    def logits(self, token_ids: Any) -> np.ndarray:
        """Next-token logits per position (what ``transformers`` returns as ``.logits``)."""
        ids = ops.convert_to_tensor(np.asarray(token_ids, "int32"))
        hidden = self.backbone({"token_ids": ids, "padding_mask": ops.ones_like(ids)})
        return ops.convert_to_numpy(self.backbone.token_embedding(hidden, reverse=True))

    # ---------------------------------------------------------------- raw text in

    def _causal_pairs(self, x: Any, y: Any = None, sample_weight: Any = None) -> tuple:
        """Strings -> (ids, next ids, weights that skip the padding); ids pass through."""
        import tensorflow as tf

        if _is_text(x):
            ids, y, sample_weight = self.preprocessor(tf.constant(np.asarray(x).reshape(-1)))
            return ids["token_ids"], y, sample_weight
        spec = getattr(x, "element_spec", None)
        if spec is not None and getattr(spec, "dtype", None) == tf.string:
            pairs = x.map(self.preprocessor).map(lambda d, t, w: (d["token_ids"], t, w))
            return pairs, None, None
        return x, y, sample_weight

    def fit(self, x=None, y=None, *args, sample_weight=None, validation_data=None, **kwargs):
        x, y, sample_weight = self._causal_pairs(x, y, sample_weight)
        if validation_data is not None and not isinstance(validation_data, tuple):
            validation_data = self._causal_pairs(validation_data)[0]
        elif isinstance(validation_data, tuple):
            vx, vy, vw = self._causal_pairs(*validation_data)
            validation_data = (vx, vy, vw) if vw is not None else (vx, vy)
        return super().fit(x, y, *args, sample_weight=sample_weight,
                           validation_data=validation_data, **kwargs)  # fmt: skip

    def evaluate(self, x=None, y=None, *args, sample_weight=None, **kwargs):
        x, y, sample_weight = self._causal_pairs(x, y, sample_weight)
        return super().evaluate(x, y, *args, sample_weight=sample_weight, **kwargs)

    # ---------------------------------------------------------------- generation

    @property
    def window(self) -> int:
        return self.sequence_length

    def empty_cache(self) -> Any:
        b = self.backbone
        return decoder_cache(b.num_layers, self.sequence_length, b.num_heads,
                             b.hidden_dim // b.num_heads, self.compute_dtype)  # fmt: skip

    def call_with_cache(self, token_ids: Any, cache: Any, index: Any) -> tuple[Any, Any]:
        """GPT-2's forward pass from ``index`` on, over the key/value cache (as keras-hub's
        ``GPT2CausalLM.call_with_cache``), returning probabilities."""
        b = self.backbone
        tokens = b.token_embedding(token_ids)
        x = b.embeddings_add((tokens, b.position_embedding(tokens, start_index=index)))
        x, cache = run_decoder_blocks(b.transformer_layers, x, cache, index)
        logits = b.token_embedding(b.layer_norm(x), reverse=True)
        return ops.softmax(ops.cast(logits, "float32")), cache

    def encode_prompt(self, prompt: str) -> list[int]:
        return self.token_ids(prompt) or [self.vocabulary[END_OF_TEXT]]

    def decode_ids(self, ids: list[int]) -> str:
        return self.detokenize(ids)


class _TextTools:
    """The tokenizer and its packer, held in a plain object so that the model's tracked
    state, and so its exports, hold only the network (the BPE's lookup tables would
    need TensorFlow's flex ops in TFLite)."""

    def __init__(self, vocabulary: dict[str, int], merges: list[str], sequence_length: int):
        import keras_hub

        self.tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
        self.preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
            self.tokenizer, sequence_length=sequence_length
        )


class CheckpointTokenizer:
    """Text -> the checkpoint's BPE ids: how ``python_docs`` tokenizes for ``gpt2_lm``."""

    def __init__(self, keywords: dict[str, Any]):
        import keras_hub

        checkpoint = keywords["checkpoint"]
        check_checkpoint(checkpoint, "gpt2", ("config.json", "vocab.json", "merges.txt"))
        with conversion_errors(checkpoint):
            self._tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(checkpoint)
        self.vocabulary_size = int(self._tokenizer.vocabulary_size())

    def __call__(self, text: str) -> np.ndarray:
        return np.asarray(ops.convert_to_numpy(self._tokenizer(text)), "int32")


def _is_text(x: Any) -> bool:
    if isinstance(x, str):
        return True
    if isinstance(x, (list, tuple, np.ndarray)) and len(x):
        return isinstance(np.asarray(x, object).reshape(-1)[0], str)
    return False


@register(
    "gpt2_lm",
    task="language_model",
    summary="GPT-2 from a Hugging Face checkpoint (keras-hub conversion): causal-LM "
    "fine-tuning on raw text, generate() on a key/value cache.",
    section="Transformers: GPT-2 from Hugging Face checkpoints",
    preprocessing="BPE token ids from the checkpoint's tokenizer (<|endoftext|> first); "
    "fit also takes raw strings",
    dataset="python_docs",
    epochs=2,
    batch_size=8,
    tags=("transformer", "gpt2", "generation", "huggingface", "decoder"),
    tokenizer=CheckpointTokenizer,
    exports=("saved_model", "tflite"),
    quantizations=("dynamic", "float16"),
    export_tolerance=1e-4,
    compile_defaults={"learning_rate": 5e-5},
    test_overrides={"checkpoint": "<tiny-gpt2>", "sequence_length": 16},
    search_space={"learning_rate": {"float": [1e-5, 1e-4], "sampling": "log"}},
)
def gpt2_lm(
    *,
    checkpoint: str = "hf://openai-community/gpt2",
    sequence_length: int = 128,
) -> keras.Model:
    """Fine-tune GPT-2 on your text: low learning rate (5e-5), a few epochs."""
    check_positive("sequence_length", sequence_length)
    check_checkpoint(checkpoint, "gpt2", ("config.json", "vocab.json", "merges.txt"))
    import keras_hub

    with conversion_errors(checkpoint):
        backbone = keras_hub.models.GPT2Backbone.from_preset(checkpoint)
        tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(checkpoint)
    if sequence_length > backbone.max_sequence_length:
        raise InvalidArgumentError(
            f"sequence_length={sequence_length} exceeds the checkpoint's "
            f"{backbone.max_sequence_length} positions; use at most that."
        )
    return GPT2LanguageModel(backbone, tokenizer.vocabulary, tokenizer.merges, sequence_length)


# --------------------------------------------------------------------------- tiny checkpoints


def _tiny_gpt2_tensors(vocab_size, hidden, layers, max_positions, seed) -> dict:
    """Random weights under the Hugging Face ``GPT2LMHeadModel`` tensor names."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.normal(0, 0.02, shape).astype("float32")

    ones, zeros = np.ones(hidden, "float32"), np.zeros(hidden, "float32")
    t = {"transformer.wte.weight": w(vocab_size, hidden),
         "transformer.wpe.weight": w(max_positions, hidden),
         "transformer.ln_f.weight": ones, "transformer.ln_f.bias": zeros}  # fmt: skip
    for i in range(layers):
        p = f"transformer.h.{i}."
        t.update({
            f"{p}ln_1.weight": ones, f"{p}ln_1.bias": zeros,
            f"{p}ln_2.weight": ones, f"{p}ln_2.bias": zeros,
            f"{p}attn.c_attn.weight": w(hidden, 3 * hidden), f"{p}attn.c_attn.bias": w(3 * hidden),
            f"{p}attn.c_proj.weight": w(hidden, hidden), f"{p}attn.c_proj.bias": w(hidden),
            f"{p}mlp.c_fc.weight": w(hidden, 4 * hidden), f"{p}mlp.c_fc.bias": w(4 * hidden),
            f"{p}mlp.c_proj.weight": w(4 * hidden, hidden), f"{p}mlp.c_proj.bias": w(hidden),
        })  # fmt: skip
    return t


def write_tiny_gpt2_checkpoint(
    path: str | os.PathLike,
    *,
    corpus: list[str] | None = None,
    vocab_size: int = 400,
    hidden: int = 16,
    layers: int = 2,
    heads: int = 2,
    max_positions: int = 128,
    seed: int = 0,
) -> Path:
    """A tiny random GPT-2 in the Hugging Face format: ``config.json``, ``model.safetensors``
    under HF tensor names, and a byte-level BPE tokenizer trained on ``corpus``
    (``vocab.json``, ``merges.txt`` and ``tokenizer.json``). For tests and offline demos."""
    from safetensors.numpy import save_file
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    corpus = corpus or _default_corpus()
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1,
                            special_tokens=[END_OF_TEXT])  # fmt: skip
    bpe.save_model(str(out))  # vocab.json and merges.txt: what keras-hub reads
    fast = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=END_OF_TEXT,
                             eos_token=END_OF_TEXT, unk_token=END_OF_TEXT)  # fmt: skip
    fast.save_pretrained(str(out))  # tokenizer.json: what transformers reads
    bpe.save_model(str(out))  # save_pretrained may rewrite them; keep the BPE's own
    real_vocab = bpe.get_vocab_size()
    eos = bpe.token_to_id(END_OF_TEXT)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
              "vocab_size": real_vocab, "n_layer": layers, "n_head": heads, "n_embd": hidden,
              "n_positions": max_positions, "n_ctx": max_positions, "resid_pdrop": 0.0,
              "embd_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-5,
              "activation_function": "gelu_new", "bos_token_id": eos,
              "eos_token_id": eos}  # fmt: skip
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tensors = _tiny_gpt2_tensors(real_vocab, hidden, layers, max_positions, seed)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _default_corpus() -> list[str]:
    from zoo.data.sequences import python_docs_text

    return [line for line in python_docs_text(20_000).splitlines() if line.strip()]
