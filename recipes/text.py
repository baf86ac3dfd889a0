"""Raw text in, token ids out: a ``TextVectorization`` adapted on the training split.

The vocabulary is saved beside the model (``text_vectorization.json``), so a
saved model can be used on raw strings again (``recipes.predict`` and
``zoo predict --text``) while the model itself, and its exports, take ids.
"""

from __future__ import annotations

from typing import Any

from zoo.data.vocab import FILENAME, load_vectorizer, save_vectorizer

__all__ = ["FILENAME", "adapt_vectorizer", "load_vectorizer", "save_vectorizer"]


def adapt_vectorizer(train: Any, *, vocab_size: int, sequence_length: int, batch_size: int = 256):
    """A TextVectorization (lower-case, strip punctuation, split on whitespace) fit to ``train``."""
    import keras

    layer = keras.layers.TextVectorization(
        max_tokens=vocab_size, output_sequence_length=sequence_length, name="vectorizer"
    )
    layer.adapt(train.map(lambda x, y: x).batch(batch_size))
    return layer
