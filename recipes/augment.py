"""Named augmentation pipelines of Keras preprocessing layers.

They run in the ``tf.data`` training pipeline only (``zoo.data.load(...,
augment=...)``), never inside a model, so inference and exported models see
the inputs untouched. Seeded: the same seed repeats the same draws.
"""

from __future__ import annotations

from collections.abc import Callable

from zoo.errors import InvalidArgumentError


def _keras_set(shape, value_range, seed):
    """The tutorial's Keras set: flip, rotate 0.1, zoom 0.1, contrast 0.1."""
    import keras

    L = keras.layers
    return [
        L.RandomFlip("horizontal", seed=seed),
        L.RandomRotation(0.1, fill_mode="reflect", seed=seed + 1),
        L.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
        L.RandomContrast(0.1, value_range=value_range, seed=seed + 3),
    ]


def _cifar_set(shape, value_range, seed):
    """The tutorial's torchvision CIFAR set: flip, rotate 10 degrees, pad-4 crop, jitter."""
    import keras

    L = keras.layers
    h, w = shape[0], shape[1]
    return [
        L.RandomFlip("horizontal", seed=seed),
        L.RandomRotation(10 / 360, fill_mode="constant", seed=seed + 1),
        # pad 4 + random crop back to h x w == a shift of up to 4 pixels with zero fill;
        # as a translation it is also the identity at inference, which RandomCrop is not
        L.RandomTranslation(
            4 / h, 4 / w, fill_mode="constant", interpolation="nearest", seed=seed + 2
        ),
        L.RandomBrightness(0.2, value_range=value_range, seed=seed + 3),
        L.RandomContrast(0.2, value_range=value_range, seed=seed + 4),
    ]


AUGMENTATIONS: dict[str, Callable] = {"keras": _keras_set, "cifar": _cifar_set}


def augmentation(
    name: str,
    input_shape: tuple[int, ...],
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
):
    """A ``keras.Sequential`` of the named pipeline for images of ``input_shape``.

    ``value_range`` is the pixels' range after the pipeline's scaling: (0, 1)
    for rescaled data, (0, 255) for models that take raw pixels.
    """
    import keras

    if name not in AUGMENTATIONS:
        raise InvalidArgumentError(
            f"Unknown augmentation {name!r}; choose one of {sorted(AUGMENTATIONS)} or 'none'."
        )
    if len(input_shape) != 3:
        raise InvalidArgumentError(
            f"Augmentation {name!r} works on images (height, width, channels); "
            f"the model's input is {tuple(input_shape)}."
        )
    layers = AUGMENTATIONS[name](tuple(input_shape), value_range, seed)
    return keras.Sequential(layers, name=f"augment_{name}")
