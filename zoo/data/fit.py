"""Fit a registry entry to a dataset: the keywords and preprocessing the data implies.

Shared by ``recipes`` (training) and ``zoo.tuning`` (searching), so a model
trained and a model tuned on the same data are built the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.data.core import DatasetInfo
from zoo.errors import InvalidArgumentError


def loader_options(
    entry: Any, dataset: str, window: int | None, keywords: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Options for ``dataset``'s loader so its examples fit ``entry``: a language model
    reads windows as long as its context (``window``), so a wider model gets wider ones,
    and its training windows start every quarter window, so each character is seen in
    four contexts per epoch (a Transformer overfits non-overlapping windows of a small
    text; measured in benchmarks/). A model with its own tokenizer (``entry.tokenizer``,
    built from its ``keywords``: GPT-2's BPE) gets windows of its tokens."""
    from zoo.data.core import list_datasets

    if entry is None or entry.task != "language_model" or not window:
        return {}
    if dataset not in list_datasets() and not str(dataset).lower().endswith(".txt"):
        return {}  # a CSV or image folder: not a language model's text
    options = {"sequence_length": int(window), "stride": max(1, int(window) // 4)}
    if entry.tokenizer is not None:
        options["tokenize"] = entry.tokenizer({**entry.defaults(), **(keywords or {})})
    return options


def model_keywords(entry: Any, info: DatasetInfo, overrides: dict | None = None) -> dict:
    """Builder keywords that make ``entry`` fit ``info``'s data, unless the user set them."""
    defaults = entry.defaults()
    kw = dict(overrides or {})
    task = entry.task_spec
    task.check_data(entry, info)
    text_model = "text" in entry.tags or task.text_only
    if text_model and info.modality != "text":
        raise InvalidArgumentError(
            f"{entry.name} reads text but dataset {info.name!r} holds {info.modality} data; "
            "pick a text dataset (e.g. synthetic_reviews, imdb_reviews, a CSV with a text column)."
        )
    if not text_model and info.modality == "text":
        raise InvalidArgumentError(
            f"Dataset {info.name!r} is text but {entry.name} does not read text; pick a text "
            "model (zoo list --tag text)."
        )
    if info.task == "language_model":  # check_data let only language models through
        if "sequence_length" in defaults and "sequence_length" not in kw:
            kw["sequence_length"] = info.element_shape[0]
        return kw
    if "num_classes" in defaults and "num_classes" not in kw and info.num_classes:
        kw["num_classes"] = info.num_classes
    if "image_shape" in defaults and "image_shape" not in kw and len(info.element_shape) == 3:
        kw["image_shape"] = tuple(info.element_shape)  # generators make images like the data's
    if "input_shape" in defaults and "input_shape" not in kw and info.modality != "text":
        shape = tuple(info.element_shape)
        if None not in shape:
            flat = len(defaults["input_shape"]) == 1
            kw["input_shape"] = (math.prod(shape),) if flat else shape
    return kw


def build_for_data(
    entry: Any,
    info: DatasetInfo,
    keywords: Mapping[str, Any],
    compile_keywords: Mapping[str, Any] | None = None,
) -> Any:
    """Build ``entry`` bare, put the data's normalization inside, then compile.

    The order matters: compiling before wrapping would compile a model that is
    then thrown away. Recipes and tuning both build through here.
    """
    from zoo.registry import build, compile_model

    model = build(entry.name, compile=False, **keywords)
    model = with_normalization(model, info)
    return compile_model(model, entry, **(compile_keywords or {}))


def with_normalization(model: Any, info: DatasetInfo) -> Any:
    """Put the training split's feature statistics inside the model (raw features in).

    Only tabular data with statistics is wrapped; other models are returned as-is.
    """
    if info.modality != "tabular" or info.feature_mean is None:
        return model
    import keras
    import numpy as np

    inputs = keras.Input(shape=model.input_shape[1:], name="features")
    norm = keras.layers.Normalization(
        mean=np.asarray(info.feature_mean, "float32"),
        variance=np.maximum(np.asarray(info.feature_variance, "float32"), 1e-12),
        name="normalization",
    )
    return keras.Model(inputs, model(norm(inputs)), name=model.name)
