"""The data registry, offline: embedded sets for real, tfds names through mock_data."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import zoo
from zoo.data import remote
from zoo.errors import (
    DataFormatError,
    DatasetUnavailableError,
    ShapeMismatchError,
    UnknownDatasetError,
)


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_mnist_5k_is_real_and_split_held_out():
    splits = zoo.data.load("mnist_5k", batch_size=100)
    assert splits.info.sizes == {"train": 4000, "validation": 500, "test": 500}
    x, y = _all(splits.test)
    assert x.shape == (500, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert np.bincount(y).tolist() == [50] * 10  # stratified
    # The held-out split does not depend on the seed.
    x2, _ = _all(zoo.data.load("mnist_5k", batch_size=100, seed=7).test)
    np.testing.assert_array_equal(
        np.sort(x.reshape(500, -1), axis=0), np.sort(x2.reshape(500, -1), axis=0)
    )
    xtr, _ = _all(splits.train)
    train_rows = {r.tobytes() for r in xtr.reshape(len(xtr), -1)}
    assert not any(r.tobytes() in train_rows for r in x.reshape(500, -1)), "test leaks into train"


def test_pipeline_batches_shuffles_train_only_and_prefetches():
    splits = zoo.data.load("digits", batch_size=16)
    first = [next(iter(splits.train))[1].numpy() for _ in range(2)]
    assert not np.array_equal(first[0], first[1]), "train should reshuffle each epoch"
    v1, v2 = (next(iter(splits.val))[1].numpy() for _ in range(2))
    np.testing.assert_array_equal(v1, v2)
    assert next(iter(splits.train))[0].shape == (16, 8, 8, 1)
    assert "Prefetch" in type(splits.train).__name__


def test_pipelines_run_without_tf_data_autotuning():
    # autotuning made many Keras CPU epochs run single-threaded (zoo.data.core.steady_options)
    splits = zoo.data.load("digits", batch_size=16)
    for ds in (splits.train, splits.val, splits.test):
        assert ds.options().autotune.enabled is False
    pairs = zoo.get_entry("mnist_mlp").task_spec.training_pairs(splits.train)
    assert pairs.options().autotune.enabled is False  # what fit gets keeps them


def _labels(ds) -> list[int]:
    return [int(v) for _, y in ds for v in y.numpy()]


def test_training_batches_are_full_and_evaluation_keeps_every_example():
    raw = zoo.data.load_raw("digits")
    n_train, n_val = len(list(raw.train)), len(list(raw.val))
    splits = zoo.data.pipeline(raw, batch_size=16)
    assert splits.train.element_spec[0].shape[0] == 16  # a fixed shape to build the step for
    first, second = _labels(splits.train), _labels(splits.train)
    assert len(first) == len(second) == n_train - n_train % 16
    assert sorted(first) != sorted(second)  # a different remainder is left out each epoch
    assert len(_labels(splits.val)) == n_val and len(_labels(splits.test)) == len(list(raw.test))
    small = zoo.data.pipeline(raw, batch_size=n_train + 1)  # less than one batch: all of it
    assert len(_labels(small.train)) == n_train


@pytest.mark.parametrize(
    "name, task, shape",
    [
        ("digits", "classification", (8, 8, 1)),
        ("breast_cancer", "binary", (30,)),
        ("diabetes", "regression", (10,)),
    ],
)
def test_embedded_sets_load(name, task, shape):
    splits = zoo.data.load(name, batch_size=8)
    assert splits.info.task == task
    x, y = next(iter(splits.train))
    assert tuple(x.shape[1:]) == shape
    assert np.all(np.isfinite(x.numpy()))


def test_fit_to_model_input_shapes():
    flat = next(iter(zoo.data.load("mnist_5k", input_shape=(784,)).train))[0]
    assert flat.shape[1:] == (784,)
    rgb = next(iter(zoo.data.load("mnist_5k", input_shape=(32, 32, 3)).train))[0]
    assert rgb.shape[1:] == (32, 32, 3)
    with pytest.raises(ShapeMismatchError, match=r"input_shape=\(784,\)"):
        zoo.data.load("mnist_5k", input_shape=(100,))


def test_first_load_in_a_fresh_process_resizes_a_registered_set():
    """``load`` must know the registered names before deciding a name is a user path."""
    import subprocess
    import sys

    code = (
        "import zoo; s = zoo.data.load('mnist_5k', input_shape=(32, 32, 3)); "
        "print(tuple(next(iter(s.train))[0].shape[1:]))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("(32, 32, 3)")


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownDatasetError, match="mnist_5k"):
        zoo.data.load("mnist5k")


@pytest.mark.parametrize(
    "name, shape, dtype",
    [
        ("mnist", (28, 28, 1), np.float32),
        ("cifar10", (32, 32, 3), np.float32),
        ("fashion_mnist", (28, 28, 1), np.float32),
        ("imdb_reviews", (), object),
        ("tf_flowers", (224, 224, 3), np.float32),
    ],
)
def test_tfds_names_through_mock_data(name, shape, dtype, monkeypatch, offline_home):
    # mock_data makes download_and_prepare a no-op and serves random examples with
    # the real feature spec: the "online" branch runs without a network.
    monkeypatch.setattr(remote, "network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=12):
        splits = zoo.data.load(name, batch_size=4)
        x, y = next(iter(splits.train))
    assert tuple(x.shape[1:]) == shape
    assert x.numpy().dtype == dtype
    if dtype == np.float32:
        assert float(tf.reduce_max(x)) <= 1.0
    assert splits.info.source.startswith("tensorflow-datasets")


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb_reviews", "tf_flowers"])
def test_network_names_fail_fast_offline(name, offline_home):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as exc:
        zoo.data.load(name)
    assert time.monotonic() - start < 10
    msg = str(exc.value)
    assert "tfds.load" in msg and str(offline_home / "tfds") in msg


def test_offline_message_names_keras_file(offline_home, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as exc:
        zoo.data.load("mnist")
    assert str(offline_home / "keras" / "datasets" / "mnist.npz") in str(exc.value)
    assert "mnist_5k" in str(exc.value)


def _idx(path, array, magic):
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic))
        for d in array.shape:
            fh.write(struct.pack(">I", d))
        fh.write(array.astype("uint8").tobytes())


def test_keras_cache_copy_is_used_offline(offline_home, monkeypatch):
    """A fashion-mnist copy in the keras cache (as Debian ships it) loads with no network."""
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    folder = offline_home / "keras" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 20)):
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10, 2049)
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 2051)
    splits = zoo.data.load("fashion_mnist", batch_size=10)
    assert splits.info.sizes == {"train": 180, "validation": 20, "test": 20}
    assert "keras.datasets" in splits.info.source
    x, _ = _all(splits.test)
    assert x.shape == (20, 28, 28, 1) and x.max() <= 1.0


# ----------------------------------------------------------------- the user's own files


def _write_images(root, classes=("cat", "dog", "owl"), per_class=10, size=(20, 16)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            arr = np.full((*size[::-1], 3), 40 * k, "uint8") + rng.integers(
                0, 30, (*size[::-1], 3), dtype="uint8"
            )
            Image.fromarray(arr).save(root / cls / f"{i:03d}.png")


def test_image_folder(tmp_path):
    root = tmp_path / "pets"
    _write_images(root)
    splits = zoo.data.load(str(root), batch_size=4, input_shape=(12, 12, 3))
    info = splits.info
    assert info.class_names == ["cat", "dog", "owl"] and info.num_classes == 3
    assert info.sizes == {"train": 24, "validation": 3, "test": 3}
    x, y = _all(splits.train)
    assert x.shape == (24, 12, 12, 3) and 0 <= x.min() and x.max() <= 1
    # labels follow the image content (class k has brightness ~40k): the split kept pairs
    mean = x.mean(axis=(1, 2, 3)) * 255
    assert np.all(np.abs(mean - (40 * y + 15)) < 10)
    _, yt = _all(splits.test)
    assert sorted(yt.tolist()) == [0, 1, 2]


def test_broken_image_is_named(tmp_path):
    root = tmp_path / "pets"
    _write_images(root, per_class=3)
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="broken.png"):
        zoo.data.load(str(root))


def test_csv_numeric_features(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["a,b,label"] + [
        f"{rng.normal():.3f},{rng.normal():.3f},{['x', 'y'][i % 2]}" for i in range(40)
    ]
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines))
    splits = zoo.data.load(str(path), batch_size=8)
    assert splits.info.modality == "tabular" and splits.info.class_names == ["x", "y"]
    assert splits.info.element_shape == (2,)
    assert len(splits.info.feature_mean) == 2


def test_csv_text_column_and_regression(tmp_path):
    text = tmp_path / "reviews.csv"
    text.write_text(
        "text,label\n"
        + "\n".join(f'"review number {i}, {"good" if i % 2 else "bad"}",{i % 2}' for i in range(30))
    )
    splits = zoo.data.load(str(text), batch_size=4)
    x, _ = next(iter(splits.train))
    assert splits.info.modality == "text" and x.dtype == tf.string
    reg = tmp_path / "prices.csv"
    reg.write_text("size,label\n" + "\n".join(f"{i},{i * 1.5 + 0.25}" for i in range(30)))
    assert zoo.data.load(str(reg)).info.task == "regression"


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("a,b,label\n1,2,0\n3,4\n", "row 3: 2 fields, the header has 3"),
        ("a,b,label\n1,2,0\n3,abc,1\n", "row 3, column 'b': 'abc' is not a number"),
        ("a,b,target\n1,2,0\n", "no column 'label'"),
        ("", "empty"),
    ],
)
def test_malformed_csv_names_file_row_and_problem(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    if content and "target" not in content:  # enough good rows after the bad one
        content += "".join(f"{i},{i},{i % 2}\n" for i in range(12))
    path.write_text(content)
    with pytest.raises(DataFormatError) as exc:
        zoo.data.load(str(path))
    assert str(path) in str(exc.value) and fragment in str(exc.value)


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        zoo.data.load(str(tmp_path / "nothing.csv"))


def test_dataset_preflight_needs_no_tensorflow(offline_home, monkeypatch):
    """`zoo train --dataset mnist` offline fails before TensorFlow loads; a local copy passes."""
    from zoo.data.remote import preflight

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(zoo.DatasetUnavailableError, match="mnist.npz"):
        preflight("mnist")
    preflight("mnist_5k")  # embedded: nothing to check
    (offline_home / "keras" / "datasets").mkdir(parents=True)
    (offline_home / "keras" / "datasets" / "mnist.npz").write_bytes(b"")
    preflight("mnist")
    code = (
        "import os, sys, zoo.data.remote as r\n"
        "try:\n    r.preflight('cifar10')\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    env = {**os.environ, "KERAS_HOME": str(offline_home / "k2")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120).stdout.split()  # fmt: skip
    assert out == ["DatasetUnavailableError", "False", "False"]


def test_cifar10_offline_message_names_the_file_keras_reads(offline_home, monkeypatch):
    """Following the offline message puts the archive exactly where keras.datasets.cifar10
    (the real loader) looks for it. Keras then checks the archive's hash, so a test cannot
    feed it a made-up archive: it records where keras would download instead."""
    import re

    from keras.src.utils import file_utils

    from zoo.data.remote import SPECS, _keras_cached, _unavailable

    message = str(_unavailable(SPECS["cifar10"]))
    target = Path(re.search(r"under the name (\S+)\.$", message, flags=re.M).group(1))
    target.parent.mkdir(parents=True)  # as a user saving a file there would
    wanted = []

    def fake_download(url, filename, *args):
        wanted.append(Path(filename))
        raise OSError("offline")

    monkeypatch.setattr(file_utils, "urlretrieve", fake_download)
    import keras

    with pytest.raises(Exception, match="offline"):
        keras.datasets.cifar10.load_data()
    assert wanted == [target]
    assert not _keras_cached(SPECS["cifar10"])
    target.write_bytes(b"archive")
    assert _keras_cached(SPECS["cifar10"])  # the zoo then hands over to keras' loader
