"""Transfer learning: weights, preprocessing inside, fine-tuning phases, augmentation, recipes."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import build_small

import recipes
import zoo
from recipes.augment import augmentation
from recipes.transfer import fine_tune, unfreeze_top
from zoo.models.transfer import BACKBONES

TRANSFER = [b.entry for b in BACKBONES]


def _raw_pixels(shape, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


def test_the_issue_names_are_registered():
    want = {
        "resnet50_transfer",
        "mobilenet_v2_transfer",
        "mobilenet_v3_small_transfer",
        "mobilenet_v3_large_transfer",
        "efficientnet_b0_transfer",
        "vgg16_transfer",
    }
    assert want <= set(zoo.list_models("*_transfer"))
    assert set(TRANSFER) == set(zoo.list_models(tag="transfer"))


@pytest.mark.parametrize("spec", BACKBONES, ids=lambda b: b.entry)
def test_weights_file_and_preprocessing_inside(spec, tmp_path):
    """weights=PATH loads the file; output on raw pixels == head(backbone(preprocess_input(x)))."""
    first = build_small(spec.entry)
    base = first.get_layer("backbone")
    assert not base.trainable
    base.trainable = True  # give the file non-initial values to find again
    for w in base.weights:
        w.assign(w + np.float32(0.01))
    base.trainable = False
    path = tmp_path / "backbone.weights.h5"
    base.save_weights(path)

    model = build_small(spec.entry, weights=str(path))
    loaded = model.get_layer("backbone")
    for a, b in zip(base.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    x = _raw_pixels(model.input_shape[1:])
    preprocess = importlib.import_module(f"keras.applications.{spec.module}").preprocess_input
    features = loaded(preprocess(x.copy()), training=False)
    h = model.get_layer("avg_pool")(features)
    h = model.get_layer("head_dense")(h)
    expected = model.get_layer("predictions")(h)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("spec", BACKBONES, ids=lambda b: b.entry)
def test_cache_file_table_matches_what_keras_asks_for(spec):
    import fnmatch

    from zoo.backbones import WEIGHTS_FILES, WEIGHTS_URLS
    from zoo.models.transfer import requested_weights_file

    name, url = requested_weights_file(spec.entry)
    assert fnmatch.fnmatch(name, WEIGHTS_FILES[spec.entry])
    assert fnmatch.fnmatch(url, WEIGHTS_URLS[spec.entry])  # the offline message's full URL


def test_card_shows_backbone_facts():
    card = zoo.info("resnet50_transfer")
    assert card["backbone"]["imagenet_top1"] == 74.9
    assert card["backbone"]["parameters_millions"] == 25.6
    assert card["backbone"]["size_mb"] == 98
    assert card["input"]["raw_pixels"] is True
    assert card["defaults"]["weights"] == "imagenet"
    assert card["defaults"]["num_classes"] == 5


def test_head_keywords():
    model = build_small("mobilenet_v2_transfer", head_units=0, dropout=0.0, pooling="max")
    names = [la.name for la in model.layers]
    assert "max_pool" in names and "head_dense" not in names and "head_dropout" not in names
    with pytest.raises(zoo.InvalidArgumentError, match="at least 32x32"):
        zoo.build("resnet50_transfer", weights=None, input_shape=(16, 16, 3))
    with pytest.raises(zoo.InvalidArgumentError, match="RGB images"):
        zoo.build("resnet50_transfer", weights=None, input_shape=(32, 32, 1))
    with pytest.raises(zoo.InvalidArgumentError, match="no file at"):
        zoo.build("resnet50_transfer", weights="/nowhere/w.h5", input_shape=(32, 32, 3))


def test_offline_imagenet_weights_fail_fast_naming_file_and_folder(offline_home, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsUnavailableError) as err:
        zoo.build("resnet50_transfer", input_shape=(32, 32, 3))
    assert time.perf_counter() - start < 10
    msg = str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in msg
    assert str(offline_home / "keras" / "models") in msg


def test_cli_train_offline_without_weights_fails_in_seconds(tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "k"), "TFDS_DATA_DIR": str(tmp_path / "t")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "resnet50_transfer"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in proc.stderr
    assert str(tmp_path / "k" / "models") in proc.stderr
    assert elapsed < 10, elapsed
    assert "import tensorflow" not in proc.stderr  # it failed before loading TensorFlow


def _tiny_transfer_data(model, n=16, seed=0):
    x = _raw_pixels(model.input_shape[1:], n=n, seed=seed)
    y = np.arange(n) % model.output_shape[-1]
    return x, y


def test_fine_tune_phase_two(tmp_path):
    model = build_small("mobilenet_v2_transfer", num_classes=3)
    x, y = _tiny_transfer_data(model)
    base = model.get_layer("backbone")
    body = [la for la in base.layers if not isinstance(la, keras.layers.InputLayer)]
    n = 12
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if base.trainable:  # phase 2 begins: record where it starts from
                seen["start"] = [w.numpy().copy() for w in self.model.weights]
                seen["lr"] = float(self.model.optimizer.learning_rate)

        def on_epoch_begin(self, epoch, logs=None):
            seen.setdefault("epochs", []).append(epoch)

        def on_train_end(self, logs=None):
            if not base.trainable:
                seen["end1"] = [w.numpy().copy() for w in self.model.weights]

    result = fine_tune(
        model,
        (x, y),
        (x, y),
        epochs=2,
        fine_tune_epochs=2,
        fine_tune_layers=n,
        callbacks=[Probe()],
        verbose=0,
    )
    top = body[-n:]
    bn = [la for la in top if isinstance(la, keras.layers.BatchNormalization)]
    assert bn, "the top layers of MobileNetV2 include batch norm"
    assert {la.name for la in body if la.trainable} == {
        la.name for la in top if not isinstance(la, keras.layers.BatchNormalization)
    }
    assert sorted(result.unfrozen) == sorted(la.name for la in top if la not in bn)
    assert not any(la.trainable for la in bn)
    assert seen["lr"] == pytest.approx(1e-4)  # a tenth of the 1e-3 of phase 1
    assert result.fine_tune_lr == pytest.approx(1e-4)
    for a, b in zip(seen["end1"], seen["start"]):
        np.testing.assert_array_equal(a, b)  # phase 2 starts from phase 1's weights
    assert seen["epochs"] == [0, 1, 2, 3]  # epoch numbering carries on
    assert len(result.history["loss"]) == 4


def test_unfreeze_top_rejects_bad_counts():
    model = build_small("vgg16_transfer")
    with pytest.raises(zoo.InvalidArgumentError, match="between 1 and 18"):
        unfreeze_top(model, 50)
    with pytest.raises(zoo.InvalidArgumentError, match="no nested backbone"):
        unfreeze_top(zoo.build("mnist_mlp"), 3)


@pytest.mark.parametrize("name", ["keras", "cifar"])
def test_augmentation_properties(name):
    x = np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 3)).astype("float32")
    aug = augmentation(name, (32, 32, 3), seed=1)
    a = np.asarray(aug(x, training=True))
    b = np.asarray(aug(x, training=True))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0.0 and a.max() <= 1.0 + 1e-6
    assert not np.allclose(a, b), "two draws should differ"
    again = np.asarray(augmentation(name, (32, 32, 3), seed=1)(x, training=True))
    np.testing.assert_allclose(a, again, atol=1e-6)  # the same seed repeats
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)  # inference: untouched
    raw = augmentation(name, (32, 32, 3), value_range=(0, 255), seed=1)(x * 255, training=True)
    assert float(np.max(raw)) <= 255.0 + 1e-3 and float(np.max(raw)) > 1.0


def test_pipeline_augments_training_split_only():
    aug = augmentation("keras", (28, 28, 1), seed=0)
    plain = zoo.data.load("mnist_5k", batch_size=16, input_shape=(28, 28, 1), shuffle_buffer=1)
    augmented = zoo.data.load(
        "mnist_5k", batch_size=16, input_shape=(28, 28, 1), shuffle_buffer=1, augment=aug
    )
    xp, yp = next(iter(plain.train))
    xa, ya = next(iter(augmented.train))
    np.testing.assert_array_equal(yp, ya)
    assert xa.shape == xp.shape and not np.allclose(xa, xp)
    np.testing.assert_array_equal(next(iter(plain.val))[0], next(iter(augmented.val))[0])
    np.testing.assert_array_equal(next(iter(plain.test))[0], next(iter(augmented.test))[0])


def test_trained_models_hold_no_augmentation_layers(tmp_path):
    res = recipes.train("mnist_cnn", epochs=1, augment="keras", out_dir=tmp_path, verbose=0)
    kinds = {type(la).__name__ for la in res.model._flatten_layers()}
    assert not any(k.startswith("Random") for k in kinds), kinds
    assert res.files["metrics"].exists()


def test_recipes_table():
    assert recipes.get("cifar10_cnn").augment == "cifar"
    r = recipes.get("resnet50_transfer")
    assert (r.augment, r.fine_tune_layers, r.fine_tune_epochs) == ("keras", 20, 5)
    assert recipes.get("mnist_mlp").augment is None
    assert r.replace(augment="none").augment is None
    with pytest.raises(zoo.InvalidArgumentError, match="Unknown augmentation"):
        r.replace(augment="mixup")


def _mock_tfds(monkeypatch, n):
    import tensorflow_datasets as tfds

    from zoo.data import remote

    monkeypatch.setattr(remote, "network_available", lambda *a, **k: True)
    return tfds.testing.mock_data(num_examples=n)


@pytest.mark.slow
def test_tf_flowers_transfer_recipe_two_phases(tmp_path, monkeypatch, offline_home):
    with _mock_tfds(monkeypatch, 24):
        res = recipes.train(
            "mobilenet_v2_transfer",
            epochs=1,
            fine_tune_layers=10,
            fine_tune_epochs=1,
            batch_size=8,
            out_dir=tmp_path,
            verbose=0,
            overrides={"weights": None, "input_shape": (32, 32, 3), "head_units": 16},
        )
    report = json.loads(res.files["metrics"].read_text())
    assert report["recipe"]["augment"] == "keras"
    assert report["phases"]["phase1_epochs"] == 1
    assert report["phases"]["fine_tune_lr"] == pytest.approx(1e-4)
    assert report["epochs_run"] == 2
    assert res.model.output_shape[-1] == 5 and "test_accuracy" in res.metrics


def test_cifar10_cnn_recipe_augments_and_trains(tmp_path, monkeypatch, offline_home):
    with _mock_tfds(monkeypatch, 32):
        res = recipes.train("cifar10_cnn", epochs=1, batch_size=16, out_dir=tmp_path, verbose=0)
    report = json.loads(res.files["metrics"].read_text())
    assert report["recipe"]["augment"] == "cifar"
    assert np.isfinite(res.history["loss"][0])


@pytest.mark.slow
def test_cli_fine_tune_flags(tmp_path, monkeypatch, offline_home, capsys):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    with _mock_tfds(monkeypatch, 16):
        rc = main(
            [
                "train",
                "mobilenet_v3_small_transfer",
                "--epochs",
                "1",
                "--fine-tune-layers",
                "5",
                "--fine-tune-epochs",
                "1",
                "--augment",
                "none",
                "--batch-size",
                "8",
                "--verbose",
                "0",
                "--set",
                "weights=null",
                "--set",
                "input_shape=[32,32,3]",
            ]
        )
    assert rc == 0, capsys.readouterr().err
    report = json.loads(
        (tmp_path / "saved_models/mobilenet_v3_small_transfer/metrics.json").read_text()
    )
    assert report["recipe"]["augment"] is None and report["epochs_run"] == 2
