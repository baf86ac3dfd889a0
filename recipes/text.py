"""Raw text in, token ids out: a ``TextVectorization`` adapted on the training split.

The vocabulary is saved beside the model (``text_vectorization.json``), so a
saved model can be used on raw strings again (``recipes.predict`` and
``zoo predict --text``) while the model itself, and its exports, take ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.artifacts import write_atomic

FILENAME = "text_vectorization.json"


def adapt_vectorizer(train: Any, *, vocab_size: int, sequence_length: int, batch_size: int = 256):
    """A TextVectorization (lower-case, strip punctuation, split on whitespace) fit to ``train``."""
    import keras

    layer = keras.layers.TextVectorization(
        max_tokens=vocab_size, output_sequence_length=sequence_length, name="vectorizer"
    )
    layer.adapt(train.map(lambda x, y: x).batch(batch_size))
    return layer


def save_vectorizer(layer: Any, path: Path) -> None:
    config = {
        "vocabulary": [str(t) for t in layer.get_vocabulary()],
        "sequence_length": int(layer.get_config()["output_sequence_length"]),
        "standardize": layer.get_config()["standardize"],
        "split": layer.get_config()["split"],
    }
    write_atomic(path, lambda p: p.write_text(json.dumps(config)))


def load_vectorizer(path: Path):
    """The vectorizer saved by :func:`save_vectorizer` (ids equal the training run's)."""
    import keras

    config = json.loads(Path(path).read_text())
    vocab = config["vocabulary"]
    # the first two entries are the padding and OOV tokens keras adds itself
    return keras.layers.TextVectorization(
        vocabulary=vocab[2:],
        output_sequence_length=config["sequence_length"],
        standardize=config["standardize"],
        split=config["split"],
    )
