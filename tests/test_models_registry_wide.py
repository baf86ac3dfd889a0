"""Every registered entry gets these tests for free by registering.

They run under the Keras backend of the process: CI runs this file under TensorFlow,
JAX and torch (``KERAS_BACKEND=jax pytest tests/test_models_registry_wide.py``).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import build_small, offline_overrides, sample_inputs, training_batch

import zoo
from zoo.registry import COMPILE_KEYWORDS, EXPORT_FORMATS

NAMES = zoo.list_models()
BACKEND = keras.backend.backend()


def test_registry_is_populated():
    assert {"perceptron", "mnist_mlp", "mlp_regressor", "mnist_cnn", "cifar10_cnn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_builds_compiled(name):
    model = build_small(name)
    assert isinstance(model, keras.Model)
    assert model.compiled
    own_step = type(model).train_step is not keras.Model.train_step  # GANs, diffusion
    assert model.optimizer is not None and (model.loss is not None or own_step)


@pytest.mark.parametrize("name", NAMES)
def test_predicts_declared_shapes(name):
    entry = zoo.get_entry(name)
    model = zoo.build(name, **offline_overrides(entry))  # defaults: what the card describes
    card = zoo.info(name)
    assert _listed(model.input_shape) == card["input"]["shape"]
    assert _matches(_listed(model.output_shape), card["output"]["shape"])
    small = build_small(name)
    x = sample_inputs(small, n=3)
    y = small.predict(x, verbose=0)
    assert y.shape == (3, *small.output_shape[1:])
    assert np.all(np.isfinite(y))
    if entry.task == "classification":
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_takes_a_training_step(name):
    entry = zoo.get_entry(name)
    model = build_small(name)
    x, y = training_batch(entry, model, n=8)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs and all(np.isfinite(v) for v in logs.values()), logs
    after = model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "no weight changed"


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip(name, tmp_path):
    entry = zoo.get_entry(name)
    model = build_small(name)
    model.train_on_batch(*training_batch(entry, model, n=4))  # non-initial weights, slots
    x = sample_inputs(model, n=4)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    # bit for bit on TensorFlow; XLA (JAX) may fuse the reloaded graph's sums differently
    atol = 0.0 if BACKEND == "tensorflow" else 1e-6
    np.testing.assert_allclose(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=0, atol=atol
    )
    assert loaded.compiled


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name):
    card = zoo.info(name)
    for key in (
        "name",
        "task",
        "summary",
        "section",
        "input",
        "output",
        "defaults",
        "compile",
        "search_space",
        "exports",
        "recipe",
    ):
        assert key in card, key
    assert card["summary"] and card["section"]
    assert card["task"] in zoo.tasks.task_names()
    assert set(card["exports"]) <= set(EXPORT_FORMATS)
    assert card["recipe"]["dataset"] in zoo.data.list_datasets()
    assert card["recipe"]["epochs"] >= 1 and card["recipe"]["batch_size"] >= 1
    entry = zoo.get_entry(name)
    assert card["defaults"] == {
        k: list(v) if isinstance(v, tuple) else v for k, v in entry.defaults().items()
    }
    for key in card["search_space"]:
        assert key in card["defaults"] or key in COMPILE_KEYWORDS, key


def _matches(shape: list, declared: list) -> bool:
    """Equal, except that the card's None past the batch axis is a size the checkpoint
    sets (gpt2_lm's vocabulary); every other size must be the card's."""
    return len(shape) == len(declared) and all(
        d == s or (i > 0 and d is None) for i, (s, d) in enumerate(zip(shape, declared))
    )


def _listed(shape):
    """A shape (or a list of shapes) as nested lists, as the card writes it."""
    if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
        return [list(s) for s in shape]
    return list(shape)
