"""Sequence datasets that need no download: two synthetic tasks with a known, learnable
signal, real stock prices shipped by matplotlib, and real English text from Python's
own docstrings (for character language models).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.data.core import DatasetInfo, RawSplits, from_arrays, register_dataset

POSITIVE = ("great", "excellent", "wonderful", "superb", "delightful", "brilliant", "loved")
NEGATIVE = ("awful", "boring", "terrible", "dreadful", "tedious", "hated", "disappointing")


def synthetic_reviews_arrays(n: int = 2000, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """Texts whose label is decided by which sentiment words occur; order and filler random."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "ve", "zu", "da", "fe"]
    filler = sorted({"".join(rng.choice(syllables, size=rng.integers(2, 4))) for _ in range(300)})
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, size=rng.integers(15, 40)))
        cue = POSITIVE if label else NEGATIVE
        for w in rng.choice(cue, size=rng.integers(1, 4)):
            words.insert(int(rng.integers(0, len(words) + 1)), str(w))
        texts.append(" ".join(words))
        labels.append(label)
    return np.asarray(texts, dtype=object), np.asarray(labels, dtype="int32")


@register_dataset(
    "synthetic_reviews",
    summary="2,000 synthetic reviews (binary): the label is which sentiment words occur.",
    offline=True,
    generated=True,
)
def synthetic_reviews(*, seed: int = 0) -> RawSplits:
    x, y = synthetic_reviews_arrays()
    info = DatasetInfo(
        name="synthetic_reviews",
        task="classification",
        modality="text",
        element_shape=(),
        num_classes=2,
        class_names=["negative", "positive"],
        source="zoo.data.sequences (generated, fixed seed)",
        description="Random filler words plus 1-3 positive or negative cue words; "
        "a bag-of-words signal any text classifier should learn to ~100%.",
    )
    return from_arrays(x.astype(str), y, info, seed=seed)


def waveforms_arrays(n: int = 1500, length: int = 64, seed: int = 1234):
    """Noisy sine, square and sawtooth waves with random frequency, phase and amplitude."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length, endpoint=False)
    xs, ys = [], []
    for i in range(n):
        label = i % 3
        freq, phase, amp = rng.uniform(2, 6), rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
        arg = 2 * np.pi * freq * t + phase
        if label == 0:
            wave = np.sin(arg)
        elif label == 1:
            wave = np.sign(np.sin(arg))
        else:
            wave = 2 * ((arg / (2 * np.pi)) % 1.0) - 1
        xs.append(amp * wave + rng.normal(0, 0.2, length))
        ys.append(label)
    return np.asarray(xs, "float32")[..., None], np.asarray(ys, "int32")


@register_dataset(
    "waveforms",
    summary="1,500 synthetic noisy waves (64 steps): sine, square or sawtooth.",
    offline=True,
    generated=True,
)
def waveforms(*, seed: int = 0) -> RawSplits:
    x, y = waveforms_arrays()
    info = DatasetInfo(
        name="waveforms",
        task="classification",
        modality="sequence",
        element_shape=(64, 1),
        num_classes=3,
        class_names=["sine", "square", "sawtooth"],
        source="zoo.data.sequences (generated, fixed seed)",
        description="Time-series classification by wave shape; frequency, phase, amplitude "
        "and noise vary.",
    )
    return from_arrays(x, y, info, seed=seed)


@register_dataset(
    "goog_prices",
    summary="Google's 1,047 real daily closes (2004-2008, shipped by matplotlib): "
    "30-day window -> next day.",
    offline=True,
)
def goog_prices(*, seed: int = 0, window: int = 30) -> RawSplits:
    import os

    import matplotlib
    import tensorflow as tf

    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "goog.npz")
    close = np.load(path)["price_data"]["adj_close"].astype("float64")
    # scale-free: each window and its target relative to the window's last close
    xs = np.stack([close[i : i + window] for i in range(len(close) - window)])
    ys = close[window:]
    last = xs[:, -1:]
    x = (xs / last - 1.0)[..., None].astype("float32") * 10.0
    y = (ys[:, None] / last - 1.0).astype("float32") * 10.0
    n = len(x)  # chronological split: no future leaks into training
    a, b = int(n * 0.8), int(n * 0.9)
    info = DatasetInfo(
        name="goog_prices",
        task="regression",
        modality="sequence",
        element_shape=(window, 1),
        sizes={"train": a, "validation": b - a, "test": n - b},
        source="matplotlib sample_data/goog.npz (Yahoo Finance adjusted closes)",
        description="Inputs and target are 10x the relative change from the window's last "
        "close; chronological 80/10/10 split.",
    )

    def ds(lo, hi):
        return tf.data.Dataset.from_tensor_slices((x[lo:hi], y[lo:hi]))

    return RawSplits(ds(0, a), ds(a, b), ds(b, n), info)


def python_docs_text(max_chars: int = 200_000) -> str:
    """Real English prose: the docstrings of a fixed list of standard-library modules."""
    import importlib
    import inspect

    parts = []
    modules = ["argparse", "collections", "json", "logging", "pathlib", "re", "string"]
    modules += ["textwrap", "typing", "unittest", "functools", "itertools", "subprocess"]
    for name in modules:
        mod = importlib.import_module(name)
        parts.append(inspect.getdoc(mod) or "")
        for _, obj in sorted(vars(mod).items()):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == name:
                parts.append(inspect.getdoc(obj) or "")
    text = "\n\n".join(p for p in parts if p)
    return text[:max_chars]


@register_dataset(
    "python_docs",
    summary="Real English text (~200k characters of Python standard-library docstrings) "
    "for character language models.",
    offline=True,
)
def python_docs(
    *,
    seed: int = 0,
    sequence_length: int = 100,
    stride: int | None = None,
    tokenize: Any = None,
) -> RawSplits:
    """Windows of the docstrings' tokens: see :func:`text_windows`."""
    return text_windows(
        python_docs_text(), "python_docs",
        "docstrings of Python standard-library modules (inspect.getdoc)",
        sequence_length=sequence_length, stride=stride, tokenize=tokenize,
    )  # fmt: skip


def text_windows(
    text: str,
    name: str,
    source: str,
    *,
    sequence_length: int = 100,
    stride: int | None = None,
    tokenize: Any = None,
) -> RawSplits:
    """A language model's data from one text: windows of ``sequence_length`` tokens and
    the same shifted by one. Tokens are characters (``zoo.text``) unless ``tokenize``
    (text -> ids, with a ``vocabulary_size``) says otherwise. The first 80% of the text
    trains, the next 10% validates, the last 10% tests; training windows start every
    ``stride`` tokens (default: no overlap), validation and test windows never overlap,
    so perplexity is measured on each token once."""
    import tensorflow as tf

    from zoo.checks import int_in_range
    from zoo.errors import DataFormatError
    from zoo.text import CHARSET, VOCAB_SIZE, encode

    ids = np.asarray(tokenize(text), "int32") if tokenize is not None else encode(text)
    n = (len(ids) - 1) // sequence_length
    if n < 10:
        raise DataFormatError(
            f"{name}: {len(ids)} tokens make {n} windows of {sequence_length}; a language "
            "model needs at least 10 (8 to train, one each to validate and test). Use a "
            "longer text or a shorter sequence_length."
        )
    stride = int_in_range("stride", stride or sequence_length, 1, sequence_length)
    x = ids[: n * sequence_length].reshape(n, sequence_length)
    y = ids[1 : n * sequence_length + 1].reshape(n, sequence_length)
    a, b = int(n * 0.8), int(n * 0.9)  # contiguous blocks: no overlap between splits
    starts = np.arange(0, (a - 1) * sequence_length + 1, stride)  # inside the training block
    train_x = np.stack([ids[i : i + sequence_length] for i in starts])
    train_y = np.stack([ids[i + 1 : i + sequence_length + 1] for i in starts])
    info = DatasetInfo(
        name=name,
        task="language_model",
        modality="text",
        element_shape=(sequence_length,),
        num_classes=tokenize.vocabulary_size if tokenize is not None else VOCAB_SIZE,
        class_names=None if tokenize is not None else ["<pad>", *CHARSET],
        sizes={"train": len(starts), "validation": b - a, "test": n - b},
        source=source,
        description="Token ids; targets are the inputs shifted by one.",
    )

    def ds(lo, hi):
        return tf.data.Dataset.from_tensor_slices((x[lo:hi], y[lo:hi]))

    train = tf.data.Dataset.from_tensor_slices((train_x, train_y))
    return RawSplits(train, ds(a, b), ds(b, n), info)


#: How ``date_pairs`` writes a date for people: names and numbers, day first.
DATE_FORMATS = (
    "%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%A, %d %B %Y", "%a %d %b %Y",
    "%A %B %d %Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%b %d %Y",
)  # fmt: skip


def date_pair_texts(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """``n`` (written date, ISO date) pairs over 1950-2049 and which split each is in:
    a date in the test or validation split never appears, in any format, in training."""
    import datetime as dt

    rng = np.random.default_rng(seed)
    first, days = dt.date(1950, 1, 1), 36524
    chosen = rng.choice(days, size=n, replace=False)  # n distinct dates
    splits = np.where(np.arange(n) < int(0.8 * n), "train",
                      np.where(np.arange(n) < int(0.9 * n), "validation", "test"))  # fmt: skip
    sources, targets = [], []
    for offset in chosen:
        date = first + dt.timedelta(days=int(offset))
        text = date.strftime(DATE_FORMATS[rng.integers(len(DATE_FORMATS))])
        style = rng.integers(3)  # as written, lower case, upper case
        sources.append(text.lower() if style == 1 else text.upper() if style == 2 else text)
        targets.append(date.isoformat())
    return sources, targets, list(splits)


@register_dataset(
    "date_pairs",
    summary="Generated: dates written for people (12 formats, 1950-2049) and their ISO form, "
    "for sequence-to-sequence models; test dates never appear in training.",
    offline=True,
    generated=True,
)
def date_pairs(
    *, seed: int = 0, size: int = 30_000, source_length: int = 32, target_length: int = 11
) -> RawSplits:
    """Source ids (padded to ``source_length``), the target shifted right behind a newline
    (teacher forcing), and the target followed by a newline, all ``zoo.text`` characters."""
    import tensorflow as tf

    from zoo.text import VOCAB_SIZE, encode

    sources, targets, splits = date_pair_texts(size, seed)
    enc = np.zeros((size, source_length), "int32")
    dec_in = np.zeros((size, target_length), "int32")
    dec_out = np.zeros((size, target_length), "int32")
    for i, (s, t) in enumerate(zip(sources, targets)):
        ids = encode(s)[:source_length]
        enc[i, : len(ids)] = ids
        tgt = encode("\n" + t + "\n")[: target_length + 1]
        dec_in[i, : len(tgt) - 1], dec_out[i, : len(tgt) - 1] = tgt[:-1], tgt[1:]
    where = np.asarray(splits)

    def ds(split: str):
        m = where == split
        return tf.data.Dataset.from_tensor_slices(
            ({"encoder_ids": enc[m], "decoder_ids": dec_in[m]}, dec_out[m])
        )

    info = DatasetInfo(
        name="date_pairs", task="seq2seq", modality="text", element_shape=(source_length,),
        num_classes=VOCAB_SIZE,
        sizes={k: int(np.sum(where == k)) for k in ("train", "validation", "test")},
        source="generated by zoo.data.sequences.date_pair_texts (Python's datetime)",
        description="Synthetic: a written date in, its ISO 8601 form out (YYYY-MM-DD).",
    )  # fmt: skip
    return RawSplits(ds("train"), ds("validation"), ds("test"), info)
