"""The zoo's Adam and AdamW: Keras' classes whose update is one fused TensorFlow op per
variable, Keras' update where the op does not apply."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.loading import load_keras_file
from zoo.models._optimizers import fused, is_fused
from zoo.registry import make_optimizer


def Adam(*args, **kw):  # noqa: N802 - reads as the class it stands for
    return fused(keras.optimizers.Adam(*args, **kw))


def AdamW(*args, **kw):  # noqa: N802
    return fused(keras.optimizers.AdamW(*args, **kw))


SHAPES = ((6, 4), (4,), (3, 2, 2))


def _run(optimizer, steps: int = 6, sparse: bool = False):
    """Apply ``steps`` fixed gradients to fixed variables; the variables and slots after."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    optimizer.build(variables)
    for _ in range(steps):
        grads = [tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES]
        if sparse:  # an embedding's gradient: rows 0 and 3 looked up twice, row 5 once
            values = tf.constant(rng.normal(size=(5, 4)).astype("float32"))
            grads[0] = tf.IndexedSlices(values, tf.constant([0, 3, 0, 5, 3]), tf.constant([6, 4]))
        optimizer.apply(grads, variables)
    return [v.numpy() for v in variables] + [v.numpy() for v in optimizer.variables]


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("cls", "keras_cls", "kw"),
    [
        (Adam, keras.optimizers.Adam, {}),
        (Adam, keras.optimizers.Adam, {"learning_rate": 0.1, "beta_1": 0.5, "epsilon": 1e-3}),
        (Adam, keras.optimizers.Adam, {"clipnorm": 0.5, "gradient_accumulation_steps": 2}),
        (Adam, keras.optimizers.Adam, {"use_ema": True, "ema_overwrite_frequency": 3}),
        (AdamW, keras.optimizers.AdamW, {"weight_decay": 0.1, "learning_rate": 0.05}),
    ],
)
def test_update_matches_keras(cls, keras_cls, kw):
    _assert_same(_run(cls(**kw)), _run(keras_cls(**kw)))


def test_learning_rate_schedule_is_followed():
    def schedule():
        return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.3)

    _assert_same(_run(Adam(schedule())), _run(keras.optimizers.Adam(schedule())))


def test_sparse_gradient_keeps_keras_update():
    """An embedding row looked up twice in a batch: Keras on TensorFlow adds the square of
    each lookup's gradient to ``v``, not the square of their sum (Adam's formula, and Keras
    on JAX and torch). The recipes were measured with that, so the zoo keeps Keras' update
    for such a step."""

    class Densified(keras.optimizers.Adam):
        def apply(self, grads, variables):
            return super().apply([tf.convert_to_tensor(g) for g in grads], variables)

    ours = _run(Adam(0.1), sparse=True)
    _assert_same(ours, _run(keras.optimizers.Adam(0.1), sparse=True))
    assert not np.allclose(ours[0], _run(Densified(0.1), sparse=True)[0], rtol=1e-3)

    rows = keras.Variable(np.ones((4, 2), "float32"))
    bias = keras.Variable(np.ones((2,), "float32"))
    optimizer = Adam()
    optimizer.build([rows, bias])
    fn = tf.function(lambda g, b: optimizer.apply([g, b], [rows, bias]))
    graph = fn.get_concrete_function(
        tf.IndexedSlices(tf.TensorSpec((3, 2)), tf.TensorSpec((3,), tf.int64), tf.constant([4, 2])),
        tf.TensorSpec((2,)),
    ).graph
    ops = {op.type for op in graph.get_operations()}
    assert "ResourceApplyAdam" not in ops  # a step with a sparse gradient is Keras'
    assert "ResourceApplyAdam" in _ops_traced(Adam())  # a dense one is fused


def _ops_traced(optimizer, strategy=None) -> set[str]:
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        variable = keras.Variable(np.ones((3, 2), "float32"))
        optimizer.build([variable])
    fn = tf.function(lambda g: strategy.run(optimizer.apply, args=([g], [variable])))
    graph = fn.get_concrete_function(tf.TensorSpec((3, 2), tf.float32)).graph
    return {op.type for op in graph.get_operations()}


def test_one_fused_op_per_variable():
    assert "ResourceApplyAdam" in _ops_traced(Adam())
    assert "ResourceApplyAdam" in _ops_traced(AdamW(weight_decay=0.01))


def test_keras_path_for_amsgrad_strategies_and_the_variable(monkeypatch):
    assert "ResourceApplyAdam" not in _ops_traced(Adam(amsgrad=True))
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        optimizer = Adam()
    assert "ResourceApplyAdam" not in _ops_traced(optimizer, strategy)
    monkeypatch.setenv("ZOO_FUSED_OPTIMIZER", "0")
    assert "ResourceApplyAdam" not in _ops_traced(Adam())


def test_amsgrad_and_the_variable_still_match_keras(monkeypatch):
    _assert_same(_run(Adam(amsgrad=True)), _run(keras.optimizers.Adam(amsgrad=True)))
    monkeypatch.setenv("ZOO_FUSED_OPTIMIZER", "0")
    _assert_same(_run(Adam(0.1), sparse=True), _run(keras.optimizers.Adam(0.1), sparse=True))


def test_names_build_fused_adams_and_the_rest_stay_keras():
    adam = make_optimizer("adam", learning_rate=0.01)
    assert type(adam) is keras.optimizers.Adam and is_fused(adam)
    adamw = make_optimizer("AdamW", weight_decay=0.01)
    assert type(adamw) is keras.optimizers.AdamW and is_fused(adamw)
    assert not is_fused(make_optimizer("sgd")) and not is_fused(fused(keras.optimizers.Nadam()))
    mine = keras.optimizers.Adam()
    assert make_optimizer(mine) is mine and not is_fused(mine)  # an instance is the user's
    assert is_fused(zoo.build("mnist_mlp").optimizer)
    gan = zoo.build("gan", image_shape=(8, 8, 1), noise_dim=4)
    assert is_fused(gan.d_optimizer) and is_fused(gan.g_optimizer)


def test_model_trains_saves_as_keras_adam_and_loads_fused(tmp_path):
    model = zoo.build("mnist_mlp", units=(16,), input_shape=(12,), num_classes=3)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 12)).astype("float32"), rng.integers(0, 3, 64)
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before
    model.save(tmp_path / "m.keras")
    plain = keras.saving.load_model(tmp_path / "m.keras")  # no zoo class in the file
    assert type(plain.optimizer) is keras.optimizers.Adam and not is_fused(plain.optimizer)
    loaded = load_keras_file(tmp_path / "m.keras")
    assert is_fused(loaded.optimizer)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a, b)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)  # and it trains on


def test_a_loaded_gan_clones_a_fused_adam(tmp_path):
    zoo.build("gan", image_shape=(8, 8, 1), noise_dim=4).save(tmp_path / "gan.keras")
    gan = load_keras_file(tmp_path / "gan.keras")
    assert is_fused(gan.d_optimizer) and is_fused(gan.g_optimizer)


def test_xla_compiled_step_matches_keras():
    def trained(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        model.compile(optimizer, "mse", jit_compile=True)
        rng = np.random.default_rng(0)
        model.fit(rng.normal(size=(32, 5)), rng.normal(size=(32, 3)), batch_size=8, verbose=0)
        return model.get_weights()

    _assert_same(trained(Adam(0.1)), trained(keras.optimizers.Adam(0.1)))
