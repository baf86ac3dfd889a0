"""How good are generated images? A Fréchet distance in a zoo classifier's feature space.

Inception weights are not available offline, so the FID-style score uses the
penultimate layer of a small CNN the zoo trains on the same data (a few
epochs, cached per dataset and image shape for the process). Lower is better;
it compares two sets of images, so only scores from the same extractor compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EXTRACTORS: dict[tuple, Any] = {}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two feature sets.

    Tr((S_a S_b)^1/2) is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S_a^1/2 S_b S_a^1/2 (the same eigenvalues): exact, and with no
    ``LinAlgWarning`` from a general ``sqrtm`` on the rank-deficient covariances of a few
    hundred samples of 128 features.
    """
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(s_a)
    eigenvalues = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_covmean = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * trace_covmean)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def feature_extractor(dataset: str, image_shape: tuple[int, ...], epochs: int = 3) -> Any:
    """A mnist_cnn trained on ``dataset`` (cached); returns its 128-d penultimate features."""
    import keras

    import zoo

    key = (dataset, tuple(image_shape))
    if key not in _EXTRACTORS:
        splits = zoo.data.load(dataset, batch_size=128, input_shape=image_shape, seed=0)
        clf = zoo.build(
            "mnist_cnn", input_shape=tuple(image_shape), num_classes=splits.info.num_classes
        )
        clf.fit(splits.train, epochs=epochs, verbose=0, shuffle=False)  # tf.data shuffles
        _EXTRACTORS[key] = keras.Model(clf.inputs, clf.get_layer("fc_dense").output)
    return _EXTRACTORS[key]


def fid(extractor: Any, generated: np.ndarray, real: np.ndarray) -> float:
    fa = np.asarray(extractor.predict(np.asarray(generated, "float32"), verbose=0))
    fb = np.asarray(extractor.predict(np.asarray(real, "float32"), verbose=0))
    return frechet_distance(fa, fb)


def real_images(dataset: Any, n: int) -> np.ndarray:
    """Up to ``n`` images from a batched ``(x, y)`` dataset."""
    from zoo.data.core import head

    return head(dataset, n)[0]


def generative_report(model: Any, task: str, test: Any, dataset: str, n: int = 300) -> dict:
    """Fréchet distance of samples (GAN, VAE, diffusion) and reconstruction error (AEs)."""
    real = real_images(test, n)
    report: dict[str, Any] = {}
    from zoo.tasks import AUTOENCODE, get_task

    if get_task(task).learns_from == AUTOENCODE:
        recon = np.asarray(model.predict(real, verbose=0))
        report["reconstruction_mse"] = float(np.mean((recon - real) ** 2))
    if hasattr(model, "sample"):
        extractor = feature_extractor(dataset, real.shape[1:])
        samples = model.sample(len(real), seed=0)
        report["frechet_distance"] = fid(extractor, samples, real)
        report["frechet_samples"] = int(len(real))
        report["frechet_features"] = "penultimate layer of a mnist_cnn trained on " + dataset
    return report
