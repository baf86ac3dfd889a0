"""Datasets that need a download: tensorflow-datasets first, keras.datasets second.

``tfds.load`` retries for minutes when offline, so nothing here calls it
blindly: a local copy (a prepared tfds folder, or keras's cache) is used when
present; otherwise a download is tried only after a quick reachability check,
and the user gets a message saying what to download and where to put it.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from zoo.data.core import DatasetInfo, RawSplits, register_dataset
from zoo.errors import DatasetUnavailableError

DOWNLOAD_HOST = "storage.googleapis.com"
PROBE_TIMEOUT_S = 3.0


_HELD_OUT_TEST = ("train[:90%]", "train[90%:]", "test")


@dataclass(frozen=True)
class RemoteSpec:
    """A downloadable dataset; ``name`` is its tensorflow-datasets name too."""

    name: str
    task: str
    modality: str
    element_shape: tuple
    num_classes: int
    summary: str
    splits: tuple[str, str, str] = _HELD_OUT_TEST  # train / validation / test
    keras_files: tuple[str, ...] = ()  # under $KERAS_HOME/datasets: keras.datasets.<name>
    keras_url: str | None = None
    resize: tuple[int, int] | None = None  # variable-size images are resized on load
    pixel_range: float | None = 255.0

    @property
    def keras_loader(self) -> str | None:
        """The ``keras.datasets`` module that reads the cached files, if any."""
        return self.name if self.keras_files else None


_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FASHION = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)

SPECS = {
    s.name: s
    for s in [
        RemoteSpec(
            "mnist", "classification", "image", (28, 28, 1), 10,
            "MNIST, 60k + 10k handwritten digits.",
            keras_files=("mnist.npz",),
            keras_url=_KERAS_URL + "mnist.npz",
        ),
        RemoteSpec(
            "fashion_mnist", "classification", "image", (28, 28, 1), 10,
            "Fashion-MNIST, 60k + 10k 28x28 clothing images "
            "(Debian's dataset-fashion-mnist ships it).",
            keras_files=tuple(f"fashion-mnist/{f}" for f in _FASHION),
            keras_url=_KERAS_URL + "fashion-mnist/",
        ),
        RemoteSpec(
            "cifar10", "classification", "image", (32, 32, 3), 10,
            "CIFAR-10, 50k + 10k 32x32 colour images in 10 classes.",
            # keras.datasets.cifar10 reads the .tar.gz under this name and extracts it itself
            keras_files=("cifar-10-batches-py-target_archive",),
            keras_url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        ),
        RemoteSpec(
            "imdb_reviews", "binary", "text", (), 2,
            "IMDB movie reviews as raw text, positive vs negative.",
            pixel_range=None,
        ),
        RemoteSpec(
            "tf_flowers", "classification", "image", (224, 224, 3), 5,
            "3,670 flower photos in 5 classes (resized to 224x224).",
            splits=("train[:80%]", "train[80%:90%]", "train[90%:]"),
            resize=(224, 224),
        ),
    ]
}  # fmt: skip


def keras_home() -> Path:
    """The folder keras.utils.get_file caches into (KERAS_HOME, read once by keras)."""
    if "keras" in sys.modules:  # preflight checks stay free of the TensorFlow import
        from zoo.compat import keras_cache_home

        return keras_cache_home()
    return Path(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")))


def tfds_data_dir() -> Path:
    return Path(os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets"))


def network_available(host: str = DOWNLOAD_HOST, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``host`` answers on port 443 within ``timeout`` (DNS included).

    ``ZOO_OFFLINE=1`` forces False. The lookup runs in a thread because
    ``getaddrinfo`` itself ignores socket timeouts.
    """
    if os.environ.get("ZOO_OFFLINE", "") not in ("", "0"):
        return False

    def probe() -> bool:
        with socket.create_connection((host, 443), timeout=timeout):
            return True

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(probe).result(timeout=timeout + 0.5)
    except Exception:
        return False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _unavailable(spec: RemoteSpec) -> DatasetUnavailableError:
    lines = [
        f"Dataset {spec.name!r} is not on this machine and {DOWNLOAD_HOST} cannot be reached "
        "(offline). Provide a local copy, then rerun:",
        f"  - tensorflow-datasets: on a machine with network run "
        f"`python -c \"import tensorflow_datasets as tfds; tfds.load('{spec.name}')\"` "
        f"and copy its ~/tensorflow_datasets/{spec.name}/ folder to "
        f"{tfds_data_dir() / spec.name}/ (or set TFDS_DATA_DIR).",
    ]
    if spec.keras_files and spec.keras_url:
        where = ", ".join(str(keras_home() / "datasets" / f) for f in spec.keras_files)
        lines.append(
            f"  - keras.datasets: download {spec.keras_url} and save it, as downloaded, "
            f"under the name {where}."
        )
    if spec.name == "fashion_mnist":
        lines.append(
            "  - Debian: `apt-get install dataset-fashion-mnist`, then copy "
            f"/usr/share/datasets/fashion-mnist/*.gz to {keras_home() / 'datasets/fashion-mnist'}/."
        )
    if spec.modality == "image" and spec.num_classes == 10 and spec.element_shape[-1] == 1:
        lines.append("  - Or train offline on the embedded sample: --dataset mnist_5k.")
    return DatasetUnavailableError("\n".join(lines))


def _info(spec: RemoteSpec, source: str, class_names: list[str] | None) -> DatasetInfo:
    return DatasetInfo(
        name=spec.name,
        task=spec.task,
        modality=spec.modality,
        element_shape=spec.element_shape,
        num_classes=spec.num_classes,
        class_names=class_names,
        pixel_range=spec.pixel_range,
        source=source,
        description=spec.summary,
    )


def _from_tfds(spec: RemoteSpec, builder, *, seed: int) -> RawSplits:
    import tensorflow as tf

    train, val, test = builder.as_dataset(split=list(spec.splits), as_supervised=True)
    label = builder.info.features["label"]
    names = list(getattr(label, "names", []) or []) or None
    if spec.resize:
        size = spec.resize

        def resize(x, y):
            return tf.cast(tf.image.resize(x, size), tf.uint8), y

        train, val, test = (d.map(resize) for d in (train, val, test))
    if spec.task == "binary":

        def to_float(x, y):
            return x, tf.cast(y, tf.float32)

        train, val, test = (d.map(to_float) for d in (train, val, test))
    info = _info(spec, f"tensorflow-datasets {spec.name} ({builder.data_dir})", names)
    for key, split, ds in zip(("train", "validation", "test"), spec.splits, (train, val, test)):
        try:
            info.sizes[key] = int(builder.info.splits[split].num_examples)
        except KeyError:  # split metadata absent (e.g. under tfds.testing.mock_data)
            n = int(ds.cardinality())
            if n >= 0:
                info.sizes[key] = n
    return RawSplits(train, val, test, info)


def _keras_cached(spec: RemoteSpec) -> bool:
    return bool(spec.keras_loader) and all(
        (keras_home() / "datasets" / f).exists() for f in spec.keras_files
    )


def _from_keras(spec: RemoteSpec, *, seed: int) -> RawSplits:
    import keras
    import tensorflow as tf

    (x, y), (x_test, y_test) = getattr(keras.datasets, spec.keras_loader).load_data()
    x = x.reshape((-1, *spec.element_shape))
    x_test = x_test.reshape((-1, *spec.element_shape))
    y, y_test = y.reshape(-1).astype("int32"), y_test.reshape(-1).astype("int32")
    (xtr, ytr), (xva, yva) = _train_val(x, y, seed)
    info = _info(spec, f"keras.datasets.{spec.keras_loader} ({keras_home()})", None)
    info.sizes = {"train": len(xtr), "validation": len(xva), "test": len(x_test)}

    def ds(a, b):
        return tf.data.Dataset.from_tensor_slices((a, b))

    return RawSplits(ds(xtr, ytr), ds(xva, yva), ds(x_test, y_test), info)


def _train_val(x, y, seed):
    """Stratified train / validation split of keras's training arrays (test stays official)."""
    from sklearn.model_selection import train_test_split

    xtr, xva, ytr, yva = train_test_split(x, y, test_size=0.1, random_state=seed, stratify=y)
    return (xtr, ytr), (xva, yva)


def preflight(name: str) -> None:
    """Fail at once, before TensorFlow loads, for a download-only dataset with no way to get it.

    A no-op for other names, and when a local copy may exist (``load_remote``
    then decides) or the download host answers.
    """
    spec = SPECS.get(name)
    if spec is None or (tfds_data_dir() / spec.name).exists() or _keras_cached(spec):
        return
    if not network_available():
        raise _unavailable(spec)


def load_remote(spec: RemoteSpec, *, seed: int = 0) -> RawSplits:
    """Local tfds copy, then keras cache, then a download if reachable, else a fast error."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(spec.name, data_dir=str(tfds_data_dir()), try_gcs=False)
    if builder.is_prepared():
        return _from_tfds(spec, builder, seed=seed)
    if _keras_cached(spec):
        return _from_keras(spec, seed=seed)
    if not network_available():
        raise _unavailable(spec)
    builder.download_and_prepare()
    return _from_tfds(spec, builder, seed=seed)


def _make_loader(spec: RemoteSpec):
    def loader(*, seed: int = 0) -> RawSplits:
        return load_remote(spec, seed=seed)

    loader.__name__ = spec.name
    return loader


for _spec in SPECS.values():
    register_dataset(_spec.name, summary=_spec.summary, offline=False)(_make_loader(_spec))
