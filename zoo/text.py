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
