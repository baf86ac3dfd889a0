"""Where keras caches each transfer backbone's ImageNet weights, known without importing keras.

``zoo train`` checks this before TensorFlow is even imported, so an offline
run without cached weights fails in about a second, naming the file and the
folder. ``tests/test_transfer.py`` checks every pattern against the file name
keras itself asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

#: entry name -> glob of the no-top weights file keras downloads (default input size first)
WEIGHTS_FILES: dict[str, str] = {
    "resnet50_transfer": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50_v2_transfer": "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenet_v2_transfer": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_*_no_top.h5",
    "mobilenet_v3_small_transfer": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    "mobilenet_v3_large_transfer": "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
    "efficientnet_b0_transfer": "efficientnetb0_notop.h5",
    "efficientnet_v2_b0_transfer": "efficientnetv2-b0_notop.h5",
    "densenet121_transfer": "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "convnext_tiny_transfer": "convnext_tiny_notop.h5",
    "xception_transfer": "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "inception_v3_transfer": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg16_transfer": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: entry name -> the URL keras.applications downloads its WEIGHTS_FILES entry from
WEIGHTS_URLS: dict[str, str] = {
    "resnet50_transfer": _APPS + "resnet/" + WEIGHTS_FILES["resnet50_transfer"],
    "resnet50_v2_transfer": _APPS + "resnet/" + WEIGHTS_FILES["resnet50_v2_transfer"],
    "mobilenet_v2_transfer": _APPS + "mobilenet_v2/" + WEIGHTS_FILES["mobilenet_v2_transfer"],
    "mobilenet_v3_small_transfer": _APPS
    + "mobilenet_v3/"
    + WEIGHTS_FILES["mobilenet_v3_small_transfer"],
    "mobilenet_v3_large_transfer": _APPS
    + "mobilenet_v3/"
    + WEIGHTS_FILES["mobilenet_v3_large_transfer"],
    "efficientnet_b0_transfer": "https://storage.googleapis.com/keras-applications/"
    + WEIGHTS_FILES["efficientnet_b0_transfer"],
    "efficientnet_v2_b0_transfer": _APPS
    + "efficientnet_v2/"
    + WEIGHTS_FILES["efficientnet_v2_b0_transfer"],
    "densenet121_transfer": _APPS + "densenet/" + WEIGHTS_FILES["densenet121_transfer"],
    "convnext_tiny_transfer": _APPS + "convnext/" + WEIGHTS_FILES["convnext_tiny_transfer"],
    "xception_transfer": _APPS + "xception/" + WEIGHTS_FILES["xception_transfer"],
    "inception_v3_transfer": _APPS + "inception_v3/" + WEIGHTS_FILES["inception_v3_transfer"],
    "vgg16_transfer": _APPS + "vgg16/" + WEIGHTS_FILES["vgg16_transfer"],
}


def cache_folder() -> Path:
    """keras's weights cache: ``$KERAS_HOME/models`` (default ``~/.keras/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def preflight(name: str, weights: object = "imagenet") -> None:
    """Raise WeightsUnavailableError if ``name`` needs ImageNet weights that are neither cached
    nor downloadable now. A no-op for other entries, ``weights=None`` and weight files."""
    pattern = WEIGHTS_FILES.get(name)
    if pattern is None or weights != "imagenet":
        return
    folder = cache_folder()
    if any(folder.glob(pattern)):
        return
    from zoo.data.remote import network_available

    if network_available():
        return
    from zoo.errors import WeightsUnavailableError

    shown = pattern.replace("*", "224")
    raise WeightsUnavailableError(
        f"{name}: ImageNet weights {shown!r} are not cached and the download host cannot be "
        f"reached. Where you are online, download {WEIGHTS_URLS[name].replace('*', '224')} "
        f"and put it in {folder}/; or pass --set weights=path/to/file.h5 for a local copy, "
        "or --set weights=null to start from random weights."
    )
