"""One encoded image (JPEG, PNG, ...) -> a model's input, sized and scaled as its training
data was. Used where a person hands the zoo a single picture: ``zoo serve`` (a ``b64``
value, the page's canvas or upload) and ``zoo explain --input``."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from zoo.errors import DataFormatError

#: The most pixels an image may decode to (a 4096 x 4096 photo).
MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class ImageTarget:
    """What the model takes: size, channels, flattened or not, 0-255 or [0, 1]."""

    height: int
    width: int
    channels: int
    flatten: bool
    raw_pixels: bool  # 0-255 values (the backbone rescales) instead of [0, 1]


def image_target(shape: tuple, name: str, floating: bool, raw_pixels: bool) -> ImageTarget | None:
    """The image a float input of ``shape`` (no batch axis) takes: ``(H, W, 1|3)``, or a
    square image flattened into an input named ``pixels`` (the MLPs'); else None."""
    if not floating:
        return None
    dims = tuple(-1 if d is None else int(d) for d in shape)
    if len(dims) == 3 and dims[2] in (1, 3) and min(dims[:2]) > 0:
        return ImageTarget(dims[0], dims[1], dims[2], False, raw_pixels)
    side = math.isqrt(dims[0]) if len(dims) == 1 and dims[0] > 0 else 0
    if name == "pixels" and side >= 8 and side * side == dims[0]:
        return ImageTarget(side, side, 1, True, raw_pixels)
    return None


def decode_image(data: bytes, target: ImageTarget, source: str = "the image") -> np.ndarray:
    """Decode, convert to the model's channels, resize with the training pipeline's
    bilinear resize and scale; a clear error naming ``source`` when it is no image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise DataFormatError(
                    f"{source} is {im.width}x{im.height} pixels; the limit is "
                    f"{MAX_IMAGE_PIXELS} pixels. Use a smaller image."
                )
            pixels = np.asarray(im.convert("L" if target.channels == 1 else "RGB"), "float32")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise DataFormatError(f"{source} is not a readable image (JPEG, PNG, ...): {exc}") from exc
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[:2] != (target.height, target.width):
        import tensorflow as tf

        pixels = tf.image.resize(pixels, (target.height, target.width)).numpy()
    if not target.raw_pixels:
        pixels = pixels / 255.0
    return pixels.reshape(-1) if target.flatten else pixels
