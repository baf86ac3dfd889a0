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


def context_window(ids: list[int], window: int) -> tuple[np.ndarray, int]:
    """The last ``window`` ids as a batch of one, right-padded with 0, and the position of
    the newest id. A causal model's output there depends on the real ids only, so a
    short prompt reads as it would alone."""
    ctx = list(ids[-window:]) or [_INDEX["\n"]]  # an empty prompt starts a new line
    x = np.zeros((1, window), "int32")
    x[0, : len(ctx)] = ctx
    return x, len(ctx) - 1


def next_id(
    probs: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
    top_k: int | None = None,
    top_p: float | None = None,
    never: int | None = 0,
) -> int:
    """Sample the next id from ``probs`` at ``temperature`` (0, or ``top_k=1``: the most
    probable), among the ``top_k`` most probable and the smallest set whose mass reaches
    ``top_p``. Id ``never`` (the characters' padding, 0) is never chosen."""
    probs = np.asarray(probs, "float64").copy()
    if never is not None:
        probs[never] = 0.0
    if temperature == 0 or top_k == 1:
        return int(np.argmax(probs))
    logits = np.log(np.maximum(probs, 1e-12)) / temperature
    p = np.exp(logits - logits.max())
    if never is not None:
        p[never] = 0.0
    order = np.argsort(-p)
    keep = np.zeros(len(p), bool)
    keep[order[: top_k or len(p)]] = True
    if top_p is not None:
        mass = np.cumsum(p[order]) / p.sum()
        keep[order[np.searchsorted(mass, top_p) + 1 :]] = False  # past the first reaching top_p
    p = np.where(keep, p, 0.0)
    return int(rng.choice(len(p), p=p / p.sum()))


def check_sampling(length: int, temperature: float, top_k: int | None, top_p: float | None):
    """The sampling keywords every ``generate`` takes, checked with clear errors."""
    from zoo.checks import int_in_range, positive_float

    int_in_range("length", length, 0)
    positive_float("temperature", temperature, allow_zero=True)
    if top_k is not None:
        int_in_range("top_k", top_k, 1)
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(f"top_p must be in (0, 1], got {top_p!r}")
