"""Generative models learn on mnist_5k within a CI budget, sample reproducibly, and export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.decomposition import PCA

import recipes
import zoo
from recipes.quality import feature_extractor, fid, frechet_distance, real_images


@pytest.fixture(scope="module")
def mnist():
    splits = zoo.data.load("mnist_5k", batch_size=256, input_shape=(28, 28, 1))
    return splits, real_images(splits.train, 4000), real_images(splits.test, 500)


def test_frechet_distance_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = a + np.array([1.0, 0.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(1.0, rel=1e-3)  # a mean shift of 1


def test_frechet_distance_equals_scipy_sqrtm_without_its_warning():
    """300 samples of 128 features: rank-deficient covariances, where sqrtm warns."""
    import warnings

    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 128)), rng.normal(size=(300, 128)) * 1.3 + 0.2
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = np.real(linalg.sqrtm(s_a @ s_b))
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a + s_b - 2 * root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no LinAlgWarning, no other warning
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow
def test_autoencoder_beats_pca_with_the_same_latent_size(mnist, tmp_path):
    _, train_x, test_x = mnist
    pca = PCA(32).fit(train_x.reshape(len(train_x), -1))
    flat = test_x.reshape(len(test_x), -1)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(flat)) - flat) ** 2))
    res = recipes.train("autoencoder", epochs=30, out_dir=tmp_path, verbose=0)
    ae_mse = res.report["evaluation"]["reconstruction_mse"]
    assert ae_mse < pca_mse, (ae_mse, pca_mse)
    assert (tmp_path / "samples" / "epoch_030.png").is_file()  # reconstructions each epoch
    encoder = res.model.get_layer("encoder")
    assert encoder.predict(test_x[:3], verbose=0).shape == (3, 32)


@pytest.mark.slow
def test_vae_learns_samples_in_range_and_round_trips(tmp_path):
    res = recipes.train("vae", epochs=3, out_dir=tmp_path, verbose=0)
    hist = res.history
    assert hist["loss"][-1] < hist["loss"][0]
    assert {"reconstruction_loss", "kl_loss"} <= set(hist)
    model = res.model
    samples = model.sample(16, seed=3)
    assert samples.shape == (16, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(16, seed=3))  # reproducible
    mean, log_var = model.encode(samples)
    assert mean.shape == log_var.shape == (16, 2)
    assert model.decode(mean).shape == (16, 28, 28, 1)
    loaded = keras.saving.load_model(res.files["model"])
    np.testing.assert_allclose(loaded.sample(4, seed=1), model.sample(4, seed=1), atol=1e-6)
    assert "frechet_distance" in res.report["evaluation"]
    assert (tmp_path / "samples" / "epoch_003.png").is_file()


@pytest.mark.slow
def test_gan_losses_finite_and_frechet_improves(mnist, tmp_path):
    splits, _, test_x = mnist
    extractor = feature_extractor("mnist_5k", (28, 28, 1))
    keras.utils.set_random_seed(0)
    untrained = zoo.build("gan")
    before = fid(extractor, untrained.sample(300, seed=0), test_x[:300])
    res = recipes.train("gan", epochs=4, out_dir=tmp_path, verbose=0)
    for key in ("d_loss", "g_loss"):
        assert all(np.isfinite(res.history[key])), res.history
    after = res.report["evaluation"]["frechet_distance"]
    assert after < before, (after, before)
    np.testing.assert_array_equal(res.model.sample(4, seed=5), res.model.sample(4, seed=5))


@pytest.mark.slow
def test_diffusion_loss_falls_and_beats_noise(mnist, tmp_path):
    _, _, test_x = mnist
    res = recipes.train(
        "diffusion", epochs=4, out_dir=tmp_path, verbose=0, overrides={"widths": (16, 32)}
    )
    assert res.history["loss"][-1] < res.history["loss"][0]
    extractor = feature_extractor("mnist_5k", (28, 28, 1))
    noise = np.random.default_rng(0).random((300, 28, 28, 1)).astype("float32")
    noise_fd = fid(extractor, noise, test_x[:300])
    assert res.report["evaluation"]["frechet_distance"] < noise_fd
    s = res.model.sample(4, steps=5, seed=2)
    assert s.shape == (4, 28, 28, 1) and 0 <= s.min() and s.max() <= 1
    np.testing.assert_array_equal(s, res.model.sample(4, steps=5, seed=2))


@pytest.mark.parametrize("name", ["vae", "gan", "dcgan"])
def test_decoder_and_generator_tflite_match_keras_for_the_same_noise(name, tmp_path):
    from ai_edge_litert.interpreter import Interpreter
    from helpers import build_small

    model = build_small(name)
    part = model.decoder if name == "vae" else model  # the GAN model is its generator
    noise = np.random.default_rng(0).standard_normal((8, part.inputs[0].shape[1]))
    noise = noise.astype("float32")
    report = zoo.export(part, tmp_path / name, formats=["tflite"], validation_data=noise)
    assert report.manifest["artifacts"]["tflite"]["parity"]["max_abs_diff"] <= 1e-5
    runner = Interpreter(str(report.files["tflite"])).get_signature_runner()
    out = next(iter(runner(**{part.inputs[0].name: noise[:1]}).values()))
    np.testing.assert_allclose(out, part.predict(noise[:1], verbose=0), atol=1e-5)
    ops = {o["op_name"] for o in Interpreter(str(report.files["tflite"]))._get_ops_details()}
    assert not any("Random" in op or op.startswith("Flex") for op in ops), ops
