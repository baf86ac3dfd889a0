"""Dataset registry and the shared ``tf.data`` pipeline.

A loader returns *unbatched* train / validation / test datasets of
``(features, label)`` plus a :class:`DatasetInfo`; :func:`load` then applies
one pipeline to all of them: fit to the model's input, scale, cache,
shuffle (train only), batch and prefetch, without tf.data's autotuning (see
:func:`steady_options`).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from zoo.errors import ShapeMismatchError, UnknownDatasetError


@dataclass
class DatasetInfo:
    """What a dataset holds; recipes read it to fit a model to the data."""

    name: str
    task: str  # "classification" | "binary" | "regression"
    modality: str  # "image" | "tabular" | "text"
    element_shape: tuple[int | None, ...]
    num_classes: int | None = None
    class_names: list[str] | None = None
    pixel_range: float | None = None  # 255.0 for 0-255 images: divide to scale to [0, 1]
    feature_mean: list[float] | None = None  # tabular: training-split statistics
    feature_variance: list[float] | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["element_shape"] = list(self.element_shape)
        d.pop("feature_mean", None)
        d.pop("feature_variance", None)
        return d


@dataclass
class RawSplits:
    """What a loader returns: unbatched ``(x, y)`` datasets and their info."""

    train: Any
    val: Any
    test: Any
    info: DatasetInfo


@dataclass
class Splits:
    """Batched, prefetched pipelines ready for ``fit`` / ``evaluate``."""

    train: Any
    val: Any
    test: Any
    info: DatasetInfo
    batch_size: int

    def __iter__(self):  # allows ``train, val, test = zoo.data.load(...)``
        return iter((self.train, self.val, self.test))


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    loader: Callable[..., RawSplits]
    summary: str
    offline: bool  # True when it needs no download at all
    generated: bool = False  # made by code, not measured: results on it say so


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str, *, summary: str, offline: bool, generated: bool = False
) -> Callable[[Callable[..., RawSplits]], Callable[..., RawSplits]]:
    """Decorator registering ``loader(seed=...) -> RawSplits`` under ``name``.

    ``generated``: the data is made by code (synthetic), so a result on it is not
    a result on real data; the results table marks it.
    """

    def deco(loader: Callable[..., RawSplits]) -> Callable[..., RawSplits]:
        _DATASETS[name] = DatasetEntry(name, loader, summary, offline, generated)
        return loader

    return deco


def list_datasets() -> dict[str, str]:
    """Registered dataset names with a one-line summary each."""
    _ensure_loaded()
    return {
        n: e.summary + ("" if e.offline else " (needs a download or a local copy)")
        for n, e in sorted(_DATASETS.items())
    }


def dataset_kind(name: str) -> str:
    """``real``, ``generated`` or ``download`` (real, but needs a download or a local copy)."""
    _ensure_loaded()
    if name not in _DATASETS:
        raise UnknownDatasetError(f"No dataset named {name!r}; see zoo.data.list_datasets().")
    entry = _DATASETS[name]
    return "generated" if entry.generated else "real" if entry.offline else "download"


def _ensure_loaded() -> None:
    import zoo.data.embedded  # noqa: F401
    import zoo.data.remote  # noqa: F401
    import zoo.data.sequences  # noqa: F401


def load_raw(name_or_path: str, *, seed: int = 0, **options: Any) -> RawSplits:
    """The unbatched splits of a registered dataset or a user path (folder or CSV)."""
    _ensure_loaded()
    if name_or_path in _DATASETS:
        return _DATASETS[name_or_path].loader(seed=seed, **options)
    if os.path.sep in name_or_path or os.path.exists(name_or_path):
        from zoo.data import files

        return files.load_path(name_or_path, seed=seed, **options)
    close = difflib.get_close_matches(name_or_path, list(_DATASETS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownDatasetError(
        f"No dataset named {name_or_path!r} and no such file or folder.{hint} "
        f"Registered datasets: {', '.join(sorted(_DATASETS))}. "
        "A path may be a folder of images with one subfolder per class, or a CSV file."
    )


def load(
    name_or_path: str,
    *,
    batch_size: int = 32,
    input_shape: Sequence[int | None] | None = None,
    rescale: bool = True,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
    seed: int = 0,
    augment: Callable | None = None,
    **options: Any,
) -> Splits:
    """Train / validation / test ``tf.data`` pipelines for a dataset name or a path.

    ``input_shape`` (a model's input shape without the batch axis) reshapes,
    resizes or converts channels where that is unambiguous, and raises
    :class:`ShapeMismatchError` otherwise. ``rescale`` divides 0-255 pixels
    by 255; models that carry their own preprocessing pass ``False``.
    ``augment`` (a callable on a batch of images, such as a Sequential of
    Keras random layers) runs on the training split only, after caching.
    """

    _ensure_loaded()  # the registered names must be known before telling them from paths
    if (
        input_shape is not None
        and len(input_shape) == 3
        and None not in tuple(input_shape)[:2]
        and name_or_path not in _DATASETS
    ):
        options.setdefault("image_size", tuple(input_shape)[:2])  # a user's image folder
    raw = load_raw(name_or_path, seed=seed, **options)
    return pipeline(
        raw,
        batch_size=batch_size,
        input_shape=input_shape,
        rescale=rescale,
        shuffle_buffer=shuffle_buffer,
        cache=cache,
        seed=seed,
        augment=augment,
    )


def steady_options() -> Any:
    """``tf.data`` options for the zoo's pipelines: tf.data's autotuning off.

    With it on, Keras on TensorFlow trained many CPU epochs at about half speed, every
    oneDNN kernel on one thread and the other core idle (``cifar10_cnn`` on 2 cores:
    19 of 55 epochs took 2.55 s instead of 1.35 s); with it off, none of 88 did. The
    parallel maps then use every core and prefetch keeps a batch ready, which still
    feeds training several times faster than it consumes (benchmarks/RESULTS.md).
    ``ZOO_DATA_AUTOTUNE=1`` turns autotuning back on.
    """
    import tensorflow as tf

    from zoo.runtime import data_autotune

    options = tf.data.Options()
    options.autotune.enabled = data_autotune()
    return options


def pipeline(
    raw: RawSplits,
    *,
    batch_size: int = 32,
    input_shape: Sequence[int | None] | None = None,
    rescale: bool = True,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
    seed: int = 0,
    augment: Callable | None = None,
    vectorize: Callable | None = None,
) -> Splits:
    """Batched pipelines from a loader's unbatched splits (see :func:`load`).

    ``vectorize`` (a ``TextVectorization`` layer) maps each batch of strings to
    token ids, in every split.
    """
    import tensorflow as tf

    if batch_size < 1:
        from zoo.errors import InvalidArgumentError

        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}.")
    info = raw.info
    fit = _fitter(info, input_shape)
    scale = info.pixel_range if (rescale and info.pixel_range) else None

    def prepare(x, y):
        if info.modality != "text":
            x = tf.cast(x, tf.float32)
            if scale:
                x = x / scale
        return fit(x), y

    autotune = tf.data.AUTOTUNE

    def build(ds, training: bool):
        ds = ds.map(prepare, num_parallel_calls=autotune, deterministic=True)
        if cache:
            ds = ds.cache()
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=training and _full_batches(ds, batch_size))
        if vectorize is not None:
            ds = ds.map(lambda x, y: (vectorize(x), y), num_parallel_calls=autotune)
        if training and augment is not None:  # after the cache, so every epoch draws anew
            ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=autotune)
        return ds.with_options(steady_options()).prefetch(autotune)

    return Splits(
        train=build(raw.train, True),
        val=build(raw.val, False),
        test=build(raw.test, False),
        info=info,
        batch_size=batch_size,
    )


def _full_batches(ds: Any, batch_size: int) -> bool:
    """Whether training batches can all be full: the last partial batch of an epoch is then
    left out, a different one each epoch since the order reshuffles.

    A fixed batch shape lets TensorFlow build the training step for that shape: on 2
    cores ``lstm_text`` trained an epoch in 1.23 s against 1.60 s with an unknown batch
    size (and 2.3 CPU s against 3.0). Only when the split's length is known and at least
    one batch; validation and test keep every example.
    """
    examples = int(ds.cardinality())
    return examples >= batch_size


def _fitter(info: DatasetInfo, input_shape: Sequence[int | None] | None) -> Callable:
    """A function mapping one example to ``input_shape``, or a clear error."""
    import tensorflow as tf

    if input_shape is None or info.modality == "text":
        return lambda x: x
    target = tuple(input_shape)
    src = tuple(info.element_shape)
    if src == target:
        return lambda x: x
    known = all(d is not None for d in src) and all(d is not None for d in target)
    if known and math.prod(src) == math.prod(target):
        return lambda x: tf.reshape(x, target)
    if len(src) == 3 and len(target) == 3 and target[-1] in (1, 3) and src[-1] in (1, 3):
        size = target[:2]

        def resize(x):
            if size[0] is not None and tuple(x.shape[:2]) != tuple(size):
                x = tf.image.resize(x, size)
            if src[-1] == 1 and target[-1] == 3:
                x = tf.image.grayscale_to_rgb(x)
            elif src[-1] == 3 and target[-1] == 1:
                x = tf.image.rgb_to_grayscale(x)
            return x

        return resize
    if len(src) == 3 and len(target) == 1 and known:
        raise ShapeMismatchError(
            f"Dataset {info.name!r} has examples of shape {src} ({math.prod(src)} values) but the "
            f"model takes {target}. Build the model with input_shape=({math.prod(src)},)."
        )
    raise ShapeMismatchError(
        f"Dataset {info.name!r} has examples of shape {src}, which cannot be fitted to the "
        f"model's input shape {target}. Build the model with input_shape={src}."
    )


def head(dataset: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` examples of a batched ``(x, y)`` dataset, as arrays.

    The whole dataset is read: a cached ``tf.data`` pipeline that is read in part drops
    what it cached and says so on stderr.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for x, y in dataset:
        if sum(len(a) for a in xs) < n:
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def split_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    stratify: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Deterministic (stratified) train / val / test split of arrays.

    The test split depends only on the data, never on ``seed``, so a held-out
    score is comparable across runs; ``seed`` varies the validation split.
    """
    from sklearn.model_selection import train_test_split

    n_test, n_val = round(test_fraction * len(x)), round(val_fraction * len(x))
    if stratify:
        counts = np.unique(y, return_counts=True)[1]
        stratify = counts.min() >= 3 and min(n_test, n_val) >= len(counts)
    strat = y if stratify else None
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=n_test, random_state=1234, stratify=strat
    )
    strat = y_rest if stratify else None
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=n_val,
        random_state=seed,
        stratify=strat,
    )
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    info: DatasetInfo,
    *,
    seed: int,
    stratify: bool = True,
) -> RawSplits:
    """RawSplits from in-memory arrays (embedded datasets and CSV files)."""
    import tensorflow as tf

    from zoo.checks import finite_features

    finite_features(np.asarray(x), source=f"dataset {info.name!r} features")
    if info.task == "regression":
        finite_features(np.asarray(y), source=f"dataset {info.name!r} labels")
    (xtr, ytr), (xva, yva), (xte, yte) = split_arrays(x, y, seed=seed, stratify=stratify)
    info.sizes = {"train": len(xtr), "validation": len(xva), "test": len(xte)}
    if info.modality == "tabular":
        info.feature_mean = xtr.mean(axis=0).astype("float64").tolist()
        info.feature_variance = xtr.var(axis=0).astype("float64").tolist()

    def ds(a, b):
        return tf.data.Dataset.from_tensor_slices((a, b))

    return RawSplits(ds(xtr, ytr), ds(xva, yva), ds(xte, yte), info)
