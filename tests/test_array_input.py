"""A zoo model's fit, evaluate and predict feed arrays through Keras' pipeline without
tf.data's autotuning (zoo.data.array_input); other models keep Keras' defaults."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

import zoo
from zoo.data import array_input
from zoo.loading import load_keras_file

_SMALL = {"input_shape": (6,), "units": (8,), "num_classes": 3}


def _arrays(n: int = 48):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


@pytest.fixture
def autotuning(monkeypatch):
    """The autotuning option of every Keras array pipeline made while the test runs."""
    zoo.build("mnist_mlp", **_SMALL)  # installs the zoo's wrapper of Keras' pipeline
    made: list = []
    zoo_pipeline = ArrayDataAdapter.get_tf_dataset

    def recording(self):
        dataset = zoo_pipeline(self)
        made.append(dataset.options().autotune.enabled)
        return dataset

    monkeypatch.setattr(ArrayDataAdapter, "get_tf_dataset", recording)
    return made


def test_a_zoo_models_fit_evaluate_and_predict_run_without_autotuning(autotuning):
    model = zoo.build("mnist_mlp", **_SMALL)
    x, y = _arrays()
    model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
    model.evaluate(x, y, batch_size=8, verbose=0)
    model.predict(x, batch_size=8, verbose=0)
    assert autotuning == [False, False, False, False]  # fit, its validation, evaluate, predict


def test_other_models_keep_keras_defaults(autotuning):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _arrays()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.predict(x, batch_size=8, verbose=0)
    assert len(autotuning) == 2 and False not in autotuning


def test_the_variable_turns_autotuning_back_on(autotuning, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_AUTOTUNE", "1")
    x, y = _arrays()
    zoo.build("mnist_mlp", **_SMALL).fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert autotuning == [True]


def test_training_is_the_same_as_with_keras_pipeline():
    # the data and its order are Keras' own: only the pipeline's threads change
    x, y = _arrays(96)
    models = [zoo.build("mnist_mlp", **_SMALL, dropout=0.0) for _ in range(2)]
    models[1].set_weights(models[0].get_weights())
    histories = []
    for fit in (models[0].fit, lambda *a, **k: keras.Model.fit(models[1], *a, **k)):
        keras.utils.set_random_seed(3)
        histories.append(fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0).history)
    assert histories[0]["loss"] == pytest.approx(histories[1]["loss"], rel=1e-6)
    for ours, keras_own in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(ours, keras_own, rtol=1e-5, atol=1e-7)


def test_an_error_inside_fit_leaves_the_setting_off():
    model = zoo.build("mnist_mlp", **_SMALL)
    with pytest.raises(ValueError):
        model.fit(np.zeros((4, 5), "float32"), np.zeros(4), verbose=0)  # wrong width
    assert array_input._STEADY.get() is False


def test_wrapped_once_per_model_and_keras_pipeline_wrapped_once():
    model = zoo.build("mnist_mlp", **_SMALL)
    fit = model.fit
    assert array_input.steady_array_input(model) is model and model.fit is fit
    assert fit.__func__.__wrapped__ is keras.Model.fit
    zoo.build("mnist_mlp", **_SMALL)
    keras_own = ArrayDataAdapter.get_tf_dataset.__wrapped__
    assert not hasattr(keras_own, "__wrapped__")


def test_a_deep_copy_trains_itself():
    model = zoo.build("mnist_mlp", **_SMALL)
    twin = copy.deepcopy(model)
    assert twin.fit.__self__ is twin  # Keras copies through its file format
    before = [w.copy() for w in model.get_weights()]
    x, y = _arrays()
    twin.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for old, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_a_loaded_model_gets_it_too(tmp_path):
    path = tmp_path / "mlp.keras"
    zoo.build("mnist_mlp", **_SMALL).save(path)
    plain = keras.models.load_model(path)
    assert not array_input.has_steady_array_input(plain)
    assert array_input.has_steady_array_input(load_keras_file(path))
