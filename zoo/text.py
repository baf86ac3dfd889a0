"""The character set of the zoo's character-level language models, shared by data and models.

Id 0 is padding / unknown; ids 1.. are newline and printable ASCII.
"""

from __future__ import annotations

import numpy as np

CHARSET = "\n" + "".join(chr(c) for c in range(32, 127))
VOCAB_SIZE = len(CHARSET) + 1  # + the padding / unknown id 0
_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}


def encode(text: str) -> np.ndarray:
    """Character ids (unknown characters -> 0)."""
    return np.asarray([_INDEX.get(c, 0) for c in text], dtype="int32")


def decode(ids) -> str:
    return "".join(
        CHARSET[i - 1] if 0 < i <= len(CHARSET) else "" for i in np.asarray(ids).tolist()
    )


def context_window(ids: list[int], window: int) -> np.ndarray:
    """The last ``window`` ids as a batch of one, left-padded with 0 so the last position
    is the newest character (what a character model predicts the next one from)."""
    x = np.zeros((1, window), "int32")
    ctx = ids[-window:]
    if ctx:
        x[0, -len(ctx) :] = ctx
    return x


def next_id(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Sample the next id from a softmax at ``temperature`` (0: the most probable); never 0."""
    probs = np.asarray(probs, "float64").copy()
    probs[0] = 0.0  # never emit padding
    if temperature == 0:
        return int(np.argmax(probs))
    logits = np.log(np.maximum(probs, 1e-12)) / temperature
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))
