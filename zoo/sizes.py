"""How big a model is: parameters, and forward FLOPs per sample counted from its layers.

FLOPs count a multiply-add as 2, the convention of most published FLOP figures
(timm's and keras-hub's among them, which call them "GMACs x 2"). Each layer's
count comes from its input and output shapes; layers that only move or scale
values (normalization, activation, pooling, adding) count one or two per output
value. Layers this module does not know are listed under ``uncounted`` rather
than silently taken as free.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

#: FLOPs per output value of the element-wise layers
ELEMENTWISE = {
    "BatchNormalization": 2,  # inference: one scale, one shift
    "LayerNormalization": 5,  # mean, variance, normalize, scale, shift
    "GroupNormalization": 5,
    "Normalization": 2,
    "Activation": 1,
    "ReLU": 1,
    "LeakyReLU": 1,
    "Softmax": 3,
    "Add": 1,
    "Subtract": 1,
    "Multiply": 1,
    "Average": 1,
    "Rescaling": 2,
    "LayerScale": 1,  # ConvNeXt: one multiply per value
    "TokenAndPositionEmbedding": 1,  # the lookup is free; adding the positions is not
    "MaxPooling1D": 1,
    "MaxPooling2D": 1,
    "AveragePooling2D": 1,
    "GlobalAveragePooling1D": 1,
    "GlobalAveragePooling2D": 1,
    "GlobalMaxPooling2D": 1,
}

#: Layers that move values without arithmetic
FREE = {
    "InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "Flatten", "Reshape",
    "Permute", "Concatenate", "ZeroPadding2D", "Cropping2D", "Embedding", "Identity",
    "UpSampling2D", "RepeatVector", "Masking", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomContrast", "RandomTranslation",
}  # fmt: skip


def _shape(t: Any) -> tuple:
    return tuple(d or 1 for d in t.shape[1:])


def _elements(shape: tuple) -> int:
    return int(math.prod(shape))


def _dense(layer: Any, inp: tuple, out: tuple) -> int:
    rows = _elements(inp[:-1])
    return rows * (2 * inp[-1] * layer.units + (layer.units if layer.use_bias else 0))


def _conv(layer: Any, inp: tuple, out: tuple) -> int:
    kernel = math.prod(layer.kernel_size)
    c_in = inp[-1] // getattr(layer, "groups", 1)
    per_output = 2 * kernel * c_in + (1 if layer.use_bias else 0)
    return _elements(out) * per_output


def _conv_transpose(layer: Any, inp: tuple, out: tuple) -> int:
    return _elements(inp) * 2 * math.prod(layer.kernel_size) * layer.filters


def _depthwise(layer: Any, inp: tuple, out: tuple) -> int:
    return _elements(out) * 2 * math.prod(layer.kernel_size)


def _separable(layer: Any, inp: tuple, out: tuple) -> int:
    depthwise = _elements(out[:-1]) * inp[-1] * 2 * math.prod(layer.kernel_size)
    return depthwise + _elements(out[:-1]) * 2 * inp[-1] * layer.filters


def _recurrent(gates: int) -> Callable[[Any, tuple, tuple], int]:
    def count(layer: Any, inp: tuple, out: tuple) -> int:
        steps, features = (inp[0], inp[-1]) if len(inp) > 1 else (1, inp[-1])
        units = layer.units
        return steps * gates * (2 * (features + units) * units + 4 * units)

    return count


def _bidirectional(layer: Any, inp: tuple, out: tuple) -> int:
    half = layer.forward_layer
    count = COUNTERS[type(half).__name__]
    return 2 * count(half, inp, out)


def _attention(layer: Any, inp: tuple, out: tuple) -> int:
    steps, model_dim = inp[0], inp[-1]
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    projections = 2 * steps * model_dim * heads * (2 * key_dim + value_dim)
    scores = 2 * steps * steps * heads * (key_dim + value_dim) + 3 * steps * steps * heads
    output = 2 * steps * heads * value_dim * model_dim
    return projections + scores + output


COUNTERS: dict[str, Callable[[Any, tuple, tuple], int]] = {
    "Dense": _dense,
    "EinsumDense": lambda layer, inp, out: 2 * _elements(inp) * out[-1],
    "Conv1D": _conv,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "Conv2DTranspose": _conv_transpose,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "LSTM": _recurrent(4),
    "GRU": _recurrent(3),
    "SimpleRNN": _recurrent(1),
    "Bidirectional": _bidirectional,
    "MultiHeadAttention": _attention,
}


def count_flops(model: Any) -> tuple[int, list[str]]:
    """Forward FLOPs for one sample, and the layer types that were not counted."""
    total, uncounted = 0, set()
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if kind in FREE:
            continue
        try:
            inp, out = _shape(_first(layer.input)), _shape(_first(layer.output))
        except (AttributeError, ValueError):
            uncounted.add(kind)
            continue
        if kind in COUNTERS:
            total += COUNTERS[kind](layer, inp, out)
        elif kind in ELEMENTWISE:
            total += ELEMENTWISE[kind] * _elements(out)
        elif layer.weights:
            uncounted.add(kind)  # has arithmetic this module does not know
    return int(total), sorted(uncounted)


def _first(t: Any) -> Any:
    return t[0] if isinstance(t, (list, tuple)) else t


def _leaf_layers(model: Any):
    """Every layer, looking inside nested models (a transfer backbone, a wrapped model)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers and type(layer).__name__ != "Bidirectional":
            yield from _leaf_layers(layer)
        else:
            yield layer


def parameters(model: Any) -> dict[str, int]:
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(math.prod(w.shape)) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def default_model(name: str) -> Any:
    """Entry ``name`` built bare at its default keywords, without pretrained weights (a
    model's size and layers do not depend on them, and they may not be on this machine)."""
    import zoo

    overrides = {"weights": None} if "weights" in zoo.get_entry(name).defaults() else {}
    return zoo.build(name, compile=False, **overrides)


@functools.cache
def entry_size(name: str) -> dict[str, Any]:
    """Card keys ``params`` and ``flops`` of a registered entry at its default keywords
    (pretrained weights are not loaded: sizes do not depend on them)."""
    import zoo

    try:
        model = default_model(name)
    except zoo.ZooError as exc:  # e.g. a checkpoint that is not on this machine
        return {"params": None, "flops": None, "size_note": str(exc).split(". ")[0]}
    flops, uncounted = count_flops(model)
    out: dict[str, Any] = {"params": parameters(model), "flops": flops}
    if uncounted:
        out["flops_uncounted_layers"] = uncounted
    return out
