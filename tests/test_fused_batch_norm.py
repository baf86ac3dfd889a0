"""The zoo's batch norm: TensorFlow's fused kernel in training, Keras' numbers everywhere."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models._layers import BatchNormalization


def _pair(shape, **kw):
    """Keras' layer and the zoo's, built with the same (non-trivial) weights."""
    ours, theirs = BatchNormalization(**kw), keras.layers.BatchNormalization(**kw)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") for w in theirs.weights]
    weights[-1] = np.abs(weights[-1])  # moving variance
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _train_once(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.sin(y) * tf.range(y.shape[-1], dtype=y.dtype))
    return y, tape.gradient(loss, [x, *layer.trainable_weights])


def _ops_traced(layer, shape, training=True) -> set[str]:
    fn = tf.function(lambda x: layer(x, training=training))
    graph = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize(
    ("shape", "kw"),
    [((16, 6, 5, 8), {}), ((32, 12), {"momentum": 0.8}), ((8, 4, 4, 3), {"center": False}),
     ((8, 4, 4, 3), {"scale": False, "epsilon": 1e-3})],
)  # fmt: skip
def test_training_step_matches_keras(shape, kw):
    ours, theirs = _pair(shape, **kw)
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    y_ours, grads_ours = _train_once(ours, x)
    y_theirs, grads_theirs = _train_once(theirs, x)
    np.testing.assert_allclose(y_ours, y_theirs, atol=2e-5)
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.non_trainable_weights, theirs.non_trainable_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # moving mean and variance
    assert "FusedBatchNormV3" in _ops_traced(ours, shape)


def test_inference_and_frozen_layers_take_keras_path():
    ours, theirs = _pair((4, 3, 3, 2))
    x = np.random.default_rng(0).normal(size=(4, 3, 3, 2)).astype("float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-6)
    assert "FusedBatchNormV3" not in _ops_traced(ours, (4, 3, 3, 2), training=False)
    ours.trainable = False  # fine-tuning a frozen backbone: moving statistics, no update
    before = [w.numpy() for w in ours.non_trainable_weights]
    ours(x, training=True)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, ours.non_trainable_weights))


def test_environment_variable_turns_it_off(monkeypatch):
    layer, _ = _pair((4, 3, 3, 2))
    monkeypatch.setenv("ZOO_FUSED_BATCH_NORM", "0")
    assert "FusedBatchNormV3" not in _ops_traced(layer, (4, 3, 3, 2))
    monkeypatch.setenv("ZOO_FUSED_BATCH_NORM", "1")
    assert "FusedBatchNormV3" in _ops_traced(layer, (4, 3, 3, 2))


def test_channels_first_and_float64_take_keras_path():
    layer = BatchNormalization(axis=1)
    layer.build((4, 2, 3, 3))
    assert "FusedBatchNormV3" not in _ops_traced(layer, (4, 2, 3, 3))
    ours, theirs = (
        BatchNormalization(dtype="float64"),
        keras.layers.BatchNormalization(dtype="float64"),
    )
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float64")
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-12)


def test_mixed_bfloat16_trains_in_float32_and_returns_bfloat16():
    ours, theirs = _pair((8, 4, 4, 3), dtype="mixed_bfloat16")
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 4, 4, 3)), tf.bfloat16)
    y = ours(x, training=True)
    assert y.dtype == tf.bfloat16
    np.testing.assert_allclose(
        tf.cast(y, tf.float32), tf.cast(theirs(x, training=True), tf.float32), atol=2e-2
    )


def test_zoo_models_use_it_and_round_trip_through_a_file(tmp_path):
    model = zoo.build("cifar10_cnn", **zoo.get_entry("cifar10_cnn").test_overrides)
    assert any(isinstance(la, BatchNormalization) for la in model.layers)
    x = np.random.default_rng(0).uniform(0, 255, (16, *model.input_shape[1:])).astype("float32")
    model.fit(x, np.arange(16) % 10, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert any(type(la) is BatchNormalization for la in loaded.layers)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
