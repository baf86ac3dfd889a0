"""Transfer learning from ``keras.applications``: one table row per backbone.

Each entry is the backbone with ``include_top=False``, frozen, behind its own
ImageNet preprocessing (inside the model, so the model and its exports take
raw 0-255 RGB pixels), then the tutorial's head: global pooling, Dense 256
relu, Dropout 0.5, Dense ``num_classes`` softmax. ``recipes.transfer``
fine-tunes the top of the backbone in a second phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import keras

from zoo.errors import InvalidArgumentError
from zoo.models._blocks import check_positive, check_range, classifier_head
from zoo.models._layers import ImagePreprocess
from zoo.models._weights import imagenet_weights, requested_download
from zoo.registry import register_builder

#: Name of the nested backbone model inside every transfer model (fine-tuning finds it).
BACKBONE = "backbone"


@dataclass(frozen=True)
class Backbone:
    """A keras.applications backbone and the published facts its card shows."""

    entry: str
    app: str  # class name in keras.applications
    preprocess: str  # ImagePreprocess mode that equals the module's preprocess_input
    module: str  # keras.applications submodule holding preprocess_input (tests compare)
    top1: float  # published ImageNet top-1 (%), keras.applications table
    params_m: float  # published parameters (millions), with the classification top
    size_mb: float  # published weights size (MB), with the classification top
    min_size: int = 32
    default_size: int = 224
    mobile: bool = False  # a phone backbone: claims the TFLite quantizations below
    onnx: bool = False  # claims ONNX: verified to convert with tf2onnx and run in onnxruntime
    quantizations: tuple[str, ...] = ()  # TFLite variants the test suite verifies


BACKBONES: tuple[Backbone, ...] = (
    Backbone("resnet50_transfer", "ResNet50", "caffe", "resnet50", 74.9, 25.6, 98, onnx=True,
             quantizations=("dynamic",)),
    Backbone("resnet50_v2_transfer", "ResNet50V2", "tf", "resnet_v2", 76.0, 25.6, 98),
    Backbone("mobilenet_v2_transfer", "MobileNetV2", "tf", "mobilenet_v2", 71.3, 3.5, 14,
             mobile=True, onnx=True, quantizations=("dynamic", "float16", "int8")),
    Backbone("mobilenet_v3_small_transfer", "MobileNetV3Small", "none", "mobilenet_v3", 68.1,
             2.9, 12, mobile=True, onnx=True, quantizations=("dynamic", "float16", "int8")),
    Backbone("mobilenet_v3_large_transfer", "MobileNetV3Large", "none", "mobilenet_v3", 75.6,
             5.4, 22, mobile=True, onnx=True, quantizations=("dynamic", "float16", "int8")),
    Backbone("efficientnet_b0_transfer", "EfficientNetB0", "none", "efficientnet", 77.1, 5.3,
             29, mobile=True, quantizations=("dynamic", "float16")),
    Backbone("efficientnet_v2_b0_transfer", "EfficientNetV2B0", "none", "efficientnet_v2",
             78.7, 7.2, 29, mobile=True, quantizations=("dynamic", "float16")),
    Backbone("densenet121_transfer", "DenseNet121", "torch", "densenet", 75.0, 8.1, 33),
    Backbone("convnext_tiny_transfer", "ConvNeXtTiny", "none", "convnext", 81.3, 28.6, 109),
    Backbone("xception_transfer", "Xception", "tf", "xception", 79.0, 22.9, 88, min_size=71,
             default_size=299),
    Backbone("inception_v3_transfer", "InceptionV3", "tf", "inception_v3", 77.9, 23.9, 92,
             min_size=75, default_size=299),
    Backbone("vgg16_transfer", "VGG16", "caffe", "vgg16", 71.3, 138.4, 528,
             quantizations=("dynamic",)),
)  # fmt: skip


def build_transfer(
    spec: Backbone,
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    head_units: int,
    dropout: float,
    pooling: str,
    weights: str | None,
) -> keras.Model:
    """Raw pixels -> backbone preprocessing -> frozen backbone -> pooling -> the tutorial's head."""
    check_positive("input_shape", input_shape)
    check_range("dropout", dropout, 0.0, 1.0)
    if head_units < 0:
        raise InvalidArgumentError(
            f"head_units must be 0 (no hidden layer) or more, got {head_units}."
        )
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise InvalidArgumentError(
            f"{spec.entry} takes RGB images (height, width, 3); got input_shape={input_shape}. "
            "Grayscale data is converted to RGB by zoo.data when you pass input_shape."
        )
    if min(input_shape[:2]) < spec.min_size:
        raise InvalidArgumentError(
            f"{spec.app} needs images of at least {spec.min_size}x{spec.min_size}; "
            f"got input_shape={input_shape}."
        )
    app = getattr(keras.applications, spec.app)
    base = imagenet_weights(app, weights, entry=spec.entry, **_app_options(spec, input_shape))
    base.name = BACKBONE  # some apps derive block names from name=, so rename afterwards
    base.trainable = False

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = ImagePreprocess(spec.preprocess, name="preprocess")(inputs)
    x = base(x, training=False)  # batch norm stays in inference mode, also when unfrozen
    pool = (
        keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
    )
    x = pool(name=f"{pooling}_pool")(x)
    if head_units:
        x = keras.layers.Dense(head_units, activation="relu", name="head_dense")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name=spec.entry)


def _make_builder(spec: Backbone):
    size = spec.default_size

    def builder(
        *,
        num_classes: int = 5,
        input_shape: tuple[int, ...] = (size, size, 3),
        head_units: int = 256,
        dropout: float = 0.5,
        pooling: Literal["avg", "max"] = "avg",
        weights: str | None = "imagenet",
    ) -> keras.Model:
        return build_transfer(
            spec,
            num_classes=num_classes,
            input_shape=input_shape,
            head_units=head_units,
            dropout=dropout,
            pooling=pooling,
            weights=weights,
        )

    builder.__name__ = spec.entry
    builder.__qualname__ = spec.entry
    builder.__doc__ = (
        f"{spec.app} (ImageNet top-1 {spec.top1}%, {spec.params_m}M parameters, "
        f"{spec.size_mb} MB) frozen under the tutorial's head. weights: 'imagenet' (keras "
        "cache, downloaded when online), None, or the path of a weights file."
    )
    return builder


def requested_weights_file(name: str) -> tuple[str, str]:
    """The no-top weights file and its URL that keras.applications asks for to build ``name``."""
    spec = next(b for b in BACKBONES if b.entry == name)
    small = (spec.min_size, spec.min_size, 3)
    return requested_download(getattr(keras.applications, spec.app), entry=name,
                              **_app_options(spec, small))  # fmt: skip


def _app_options(spec: Backbone, input_shape: tuple[int, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {"include_top": False, "input_shape": input_shape}
    if spec.app.startswith(("MobileNetV3", "EfficientNetV2")):
        options["include_preprocessing"] = True  # their rescaling lives inside the backbone
    return options


_SPACE = {
    "head_units": {"choice": [128, 256, 512]},
    "dropout": {"float": [0.2, 0.6], "step": 0.1},
    "learning_rate": {"float": [1e-4, 3e-3], "sampling": "log"},
}

for _spec in BACKBONES:
    register_builder(
        _spec.entry,
        _make_builder(_spec),
        task="classification",
        summary=(
            f"{_spec.app} from keras.applications, frozen, with the tutorial's head "
            f"(ImageNet top-1 {_spec.top1}%, {_spec.params_m}M params, {_spec.size_mb} MB)."
        ),
        section="Transfer learning: pretrained backbones and fine-tuning",
        preprocessing=(
            "raw RGB pixels 0-255; the backbone's ImageNet preprocessing is inside the model"
        ),
        raw_pixels=True,
        dataset="tf_flowers",
        epochs=10,
        batch_size=32,
        tags=("transfer", "vision", "mobile") if _spec.mobile else ("transfer", "vision"),
        # tf2onnx cannot convert EfficientNet's Normalization nor ConvNeXt's depthwise convs;
        # the other large backbones are not claimed to keep the suite's time in bounds.
        exports=("saved_model", "tflite", "onnx") if _spec.onnx else ("saved_model", "tflite"),
        quantizations=_spec.quantizations,
        search_space=_SPACE,
        test_overrides={
            "weights": None,
            "input_shape": (_spec.min_size, _spec.min_size, 3),
            "head_units": 16,
        },
        compile_defaults={"learning_rate": 1e-3},
        extra_card={
            "backbone": {
                "application": f"keras.applications.{_spec.app}",
                "imagenet_top1": _spec.top1,
                "parameters_millions": _spec.params_m,
                "size_mb": _spec.size_mb,
                "preprocess_input": f"keras.applications.{_spec.module}.preprocess_input",
            }
        },
    )
