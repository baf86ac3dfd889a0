"""BERT fine-tuning from Hugging Face checkpoints, converted by keras-hub.

``zoo.build("bert_classifier", checkpoint=DIR_OR_HF_HANDLE, num_classes=2,
sequence_length=128)``: the checkpoint's encoder (safetensors only) under a
fresh classification head. The model itself takes token ids, so its exports
do too; its ``fit``, ``predict`` and ``evaluate`` also take raw strings,
because the checkpoint's WordPiece tokenizer travels inside it. keras-hub is
imported lazily (it takes seconds to import).
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
from zoo.models._blocks import check_positive, check_range
from zoo.models._huggingface import check_checkpoint, conversion_errors
from zoo.models._layers import output_dtype
from zoo.registry import register


@keras.saving.register_keras_serializable(package="zoo")
class BertClassifier(keras.Model):
    """Token ids -> BERT encoder (pooled [CLS]) -> dropout -> softmax.

    ``fit``, ``predict`` and ``evaluate`` also take raw strings (tokenized inside).
    """

    def __init__(
        self,
        backbone: Any,
        vocabulary: list[str],
        lowercase: bool = True,
        sequence_length: int = 128,
        num_classes: int = 2,
        dropout: float = 0.1,
        **kwargs: Any,
    ) -> None:
        import keras_hub

        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        padding_mask = ops.cast(ops.not_equal(token_ids, 0), "int32")
        segment_ids = ops.zeros_like(token_ids)
        features = backbone(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        )
        x = keras.layers.Dropout(dropout, name="head_dropout")(features["pooled_output"])
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype=output_dtype(), name="predictions"
        )(x)
        kwargs.setdefault("name", "bert_classifier")
        super().__init__(token_ids, outputs, **kwargs)
        self.backbone = backbone
        self.vocabulary = list(vocabulary)
        self.lowercase = lowercase
        self.sequence_length = sequence_length
        self.num_classes = num_classes
        self.dropout = dropout
        self.tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=self.vocabulary, lowercase=lowercase
        )
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "vocabulary": self.vocabulary,
            "lowercase": self.lowercase,
            "sequence_length": self.sequence_length,
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertClassifier:
        return cls(**config)

    # ---------------------------------------------------------------- raw text in

    def tokenize(self, texts: Any) -> Any:
        """Strings -> ``[CLS] wordpieces [SEP] [PAD]...`` ids of length ``sequence_length``."""
        import tensorflow as tf

        ids = self.packer(self.tokenizer(tf.convert_to_tensor(texts)))
        return tf.cast(ids, "int32")

    def _with_ids(self, x: Any, y: Any = None) -> tuple[Any, Any]:
        if isinstance(x, str) or (
            isinstance(x, (list, tuple, np.ndarray)) and len(x) and isinstance(_first(x), str)
        ):
            return np.asarray(self.tokenize(list(np.asarray(x).reshape(-1)))), y
        spec = getattr(x, "element_spec", None)
        if spec is not None:
            first = spec[0] if isinstance(spec, tuple) else spec
            if getattr(first, "dtype", None) == "string":
                if isinstance(spec, tuple):
                    return x.map(lambda a, *rest: (self.tokenize(a), *rest)), y
                return x.map(self.tokenize), y
        return x, y

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x, y = self._with_ids(x, y)
        if isinstance(validation_data, tuple):
            validation_data = self._with_ids(*validation_data)
        elif validation_data is not None:
            validation_data = self._with_ids(validation_data)[0]
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._with_ids(x)[0], *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self._with_ids(x, y)
        return super().evaluate(x, y, *args, **kwargs)


def _first(x: Any) -> Any:
    return np.asarray(x, dtype=object).reshape(-1)[0]


@register(
    "bert_classifier",
    task="classification",
    summary="BERT from a Hugging Face checkpoint (keras-hub conversion) with a fresh "
    "softmax head; fit and predict take raw strings.",
    section="Transformers: BERT fine-tuning from Hugging Face checkpoints",
    preprocessing="token ids from the checkpoint's WordPiece tokenizer ([CLS] ... [SEP], "
    "padded with 0); fit/predict/evaluate also take raw strings",
    dataset="synthetic_reviews",
    epochs=3,
    batch_size=16,
    tags=("transformer", "bert", "text", "huggingface"),
    exports=("saved_model", "tflite"),
    quantizations=("dynamic", "float16"),
    export_tolerance=1e-4,
    compile_defaults={"learning_rate": 3e-5},
    test_overrides={"checkpoint": "<tiny>", "sequence_length": 16},
    search_space={
        "dropout": {"float": [0.0, 0.3], "step": 0.1},
        "learning_rate": {"float": [2e-5, 5e-5], "sampling": "log"},
    },
)
def bert_classifier(
    *,
    checkpoint: str = "hf://google-bert/bert-base-uncased",
    num_classes: int = 2,
    sequence_length: int = 128,
    dropout: float = 0.1,
) -> keras.Model:
    """Fine-tune a pretrained encoder: low learning rate (3e-5), short training (2-4 epochs)."""
    check_positive("num_classes", num_classes)
    check_positive("sequence_length", sequence_length)
    check_range("dropout", dropout, 0.0, 1.0)
    check_checkpoint(checkpoint, "bert", ("config.json", "vocab.txt", "tokenizer_config.json"))
    import keras_hub

    with conversion_errors(checkpoint):
        backbone = keras_hub.models.BertBackbone.from_preset(checkpoint)
        tokenizer = keras_hub.models.BertTokenizer.from_preset(checkpoint)
    if sequence_length > backbone.max_sequence_length:
        raise InvalidArgumentError(
            f"sequence_length={sequence_length} exceeds the checkpoint's "
            f"{backbone.max_sequence_length} position embeddings; use at most that."
        )
    return BertClassifier(
        backbone,
        tokenizer.get_vocabulary(),
        lowercase=tokenizer.lowercase,
        sequence_length=sequence_length,
        num_classes=num_classes,
        dropout=dropout,
    )


def _tiny_bert_tensors(vocab_size, hidden, layers, intermediate, max_positions, seed) -> dict:
    """Random weights under the Hugging Face ``BertModel`` tensor names."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (rng.normal(0, 0.02, shape)).astype("float32")

    t = {
        "bert.embeddings.word_embeddings.weight": w(vocab_size, hidden),
        "bert.embeddings.position_embeddings.weight": w(max_positions, hidden),
        "bert.embeddings.token_type_embeddings.weight": w(2, hidden),
        "bert.embeddings.LayerNorm.weight": np.ones(hidden, "float32"),
        "bert.embeddings.LayerNorm.bias": np.zeros(hidden, "float32"),
        "bert.pooler.dense.weight": w(hidden, hidden),
        "bert.pooler.dense.bias": np.zeros(hidden, "float32"),
    }
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            t[f"{p}attention.self.{name}.weight"] = w(hidden, hidden)
            t[f"{p}attention.self.{name}.bias"] = w(hidden)
        t[f"{p}attention.output.dense.weight"] = w(hidden, hidden)
        t[f"{p}attention.output.dense.bias"] = w(hidden)
        t[f"{p}attention.output.LayerNorm.weight"] = np.ones(hidden, "float32")
        t[f"{p}attention.output.LayerNorm.bias"] = np.zeros(hidden, "float32")
        t[f"{p}intermediate.dense.weight"] = w(intermediate, hidden)
        t[f"{p}intermediate.dense.bias"] = w(intermediate)
        t[f"{p}output.dense.weight"] = w(hidden, intermediate)
        t[f"{p}output.dense.bias"] = w(hidden)
        t[f"{p}output.LayerNorm.weight"] = np.ones(hidden, "float32")
        t[f"{p}output.LayerNorm.bias"] = np.zeros(hidden, "float32")
    return t


def write_tiny_checkpoint(
    path: str | os.PathLike,
    *,
    vocabulary: list[str] | None = None,
    hidden: int = 16,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 32,
    max_positions: int = 128,
    seed: int = 0,
) -> Path:
    """A tiny random BERT in the Hugging Face format (config.json, model.safetensors under
    HF tensor names, vocab.txt, tokenizer_config.json): for tests and offline demos."""
    from safetensors.numpy import save_file

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    words = (
        vocabulary
        or (
            "the a an is was it this that movie film great awful boring excellent good bad "
            "loved hated and or not very plot acting story ##s ##ed ##ing"
        ).split()
    )
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tensors = _tiny_bert_tensors(len(vocab), hidden, layers, intermediate, max_positions, seed)
    save_file(tensors, str(out / "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": len(vocab),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "max_position_embeddings": max_positions,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (out / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"})
    )
    return out
