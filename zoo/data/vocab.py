"""The text vocabulary saved beside a trained text model (``text_vectorization.json``).

Here, below ``recipes``, so that ``zoo.export`` can turn a recipe's raw text into
the token ids a text model's artifacts take.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.staging import write_atomic

FILENAME = "text_vectorization.json"


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
