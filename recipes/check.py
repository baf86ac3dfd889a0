"""Sanity checks before a long run, as the curriculum's debugging section lists them.

- ``gradient_check``: backpropagation against central finite differences, in float64,
  layer by layer, on any Keras model (it differentiates ``sum(output * R)`` for a fixed
  random ``R``, so no labels or loss are needed).
- ``overfit_one_batch``: a network that cannot drive the loss of one small batch near zero
  has a bug (or no capacity); one that can is at least wired right.
- ``data_checks``: label balance, non-finite values, and whether the input range matches
  what the model expects (raw 0-255 pixels against [0, 1]).

``check(name)`` (``zoo check NAME``) runs all three on a registry entry and its recipe data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Relative error above which a layer's gradient is called wrong. A wrong gradient (a
#: flipped sign, a missing term) errs by 1e-1 to 1 (the planted test measures ~1). Right
#: gradients measured up to 1.1e-4 (float64 LSTM cells on TensorFlow's CPU kernels) and
#: 1.2e-3 (the ReLU head of a random-weight EfficientNetB0, whose kinks every step
#: crossed), so the line sits at 1e-2, where CS231n's notes put "probably wrong".
GRADIENT_TOLERANCE = 1e-2
#: The one-batch loss must fall below this fraction of where it started ...
OVERFIT_FRACTION = 0.05
#: ... within this many steps.
OVERFIT_STEPS = 300


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- gradients


def float64_copy(model: Any) -> Any:
    """The same architecture in float64 with the same weights (from the model's config)."""
    import keras

    config = _float64_config(model.get_config())
    previous, floatx = keras.config.dtype_policy().name, keras.config.floatx()
    keras.config.set_dtype_policy("float64")
    keras.config.set_floatx("float64")  # inputs of nested models (a VAE's decoder) too
    try:
        copy = type(model).from_config(config)
    finally:
        keras.config.set_dtype_policy(previous)
        keras.config.set_floatx(floatx)
    copy.set_weights([np.asarray(w, "float64") for w in model.get_weights()])
    return copy


def _float64_config(value: Any) -> Any:
    if isinstance(value, dict):
        if (
            value.get("class_name") == "DTypePolicy"
            or value.get("class_name") == "FloatDTypePolicy"
        ):
            return "float64"
        out = {}
        for k, v in value.items():
            if k == "dtype" and isinstance(v, (str, dict)) and _is_float_dtype(v):
                out[k] = "float64"
            else:
                out[k] = _float64_config(v)
        return out
    if isinstance(value, list):
        return [_float64_config(v) for v in value]
    return value


def _is_float_dtype(v: Any) -> bool:
    name = v if isinstance(v, str) else (v.get("config") or {}).get("name", "")
    return "float" in str(name) or str(name).startswith("mixed")


def gradient_check(
    model: Any, inputs: Any, *, samples: int = 3, seed: int = 0,
    tolerance: float = GRADIENT_TOLERANCE,
) -> CheckResult:  # fmt: skip
    """Autodiff against central differences for each layer's largest trainable weight (its
    ``samples`` largest gradient entries and ``samples`` random ones), in a float64 copy of
    ``model``; names the first failing layer.

    Each entry is differenced with steps 1e-5, 1e-6 and 1e-7 and the closest agreement
    counts: rounding spoils the smallest step and a ReLU kink or max-pool tie crossed by
    a step spoils that step only, while a wrong gradient disagrees at every step.
    """
    import tensorflow as tf

    from zoo.backends import require_tensorflow

    require_tensorflow("The gradient check (zoo check)")
    m64 = float64_copy(model)
    xs = [np.asarray(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    xs = [x.astype("float64") if x.dtype.kind == "f" else x for x in xs]
    feed = xs if len(xs) > 1 else xs[0]
    rng = np.random.default_rng(seed)
    project = rng.normal(size=np.asarray(m64(feed, training=False)).shape)

    @tf.function  # one trace; weights are variables, so every call sees their new values
    def objective() -> Any:
        return tf.reduce_sum(tf.cast(m64(feed, training=False), tf.float64) * project)

    with tf.GradientTape() as tape:
        value = objective()
    weights = _one_weight_per_layer(m64)
    grads = tape.gradient(value, weights)
    errors: dict[str, float] = {}
    for weight, grad in zip(weights, grads):
        layer = weight.path.rsplit("/", 1)[0]
        errors[layer] = _weight_error(weight, grad, objective, samples, rng)
    failing = [name for name, err in errors.items() if err > tolerance]
    if failing:
        detail = (
            f"layer {failing[0]!r}: relative error {errors[failing[0]]:.2e} > {tolerance:g}; "
            "its gradient does not match finite differences"
        )
    else:
        worst = max(errors.values(), default=0.0)
        detail = f"{len(errors)} layers, worst relative error {worst:.2e} <= {tolerance:g}"
    return CheckResult("gradient check", not failing, detail,
                       {"relative_error": errors, "tolerance": tolerance})  # fmt: skip


def _one_weight_per_layer(model: Any) -> list[Any]:
    largest: dict[str, Any] = {}
    for weight in model.trainable_weights:
        layer = weight.path.rsplit("/", 1)[0]
        if layer not in largest or np.prod(weight.shape) > np.prod(largest[layer].shape):
            largest[layer] = weight
    return list(largest.values())


def _weight_error(weight: Any, grad: Any, objective, samples: int, rng) -> float:
    import tensorflow as tf

    values = np.asarray(weight.numpy(), "float64")
    analytic = (
        np.zeros_like(values) if grad is None else np.asarray(tf.convert_to_tensor(grad), "float64")
    )  # embeddings' gradients come as IndexedSlices
    # the largest gradients (relative errors mean most there) and as many random entries;
    # a gradient far below the weight's largest is compared against that scale instead
    flat = np.abs(analytic).ravel()
    chosen = set(np.argsort(-flat)[:samples].tolist())
    chosen |= set(rng.integers(values.size, size=samples).tolist())
    floor = max(1e-8, 1e-4 * float(flat.max(initial=0.0)))
    worst = 0.0
    for flat_index in sorted(chosen):
        index = np.unravel_index(flat_index, values.shape)
        a = float(analytic[index])
        best = np.inf
        for eps in (1e-5, 1e-6, 1e-7):
            numeric = _central_difference(weight, values, index, objective, eps)
            best = min(best, abs(a - numeric) / max(abs(a), abs(numeric), floor))
        worst = max(worst, best)
    return float(worst)


def _central_difference(weight, values, index, objective, eps: float) -> float:
    shifted = values.copy()
    shifted[index] = values[index] + eps
    weight.assign(shifted)
    up = float(objective())
    shifted[index] = values[index] - eps
    weight.assign(shifted)
    down = float(objective())
    weight.assign(values)
    return (up - down) / (2 * eps)


# --------------------------------------------------------------------------- one batch


def overfit_one_batch(model: Any, x: Any, y: Any, *, steps: int = OVERFIT_STEPS) -> CheckResult:
    """Train on one batch until its loss is below ``OVERFIT_FRACTION`` of the start."""
    first = _loss(model.train_on_batch(x, y))
    last, taken = first, 1
    while taken < steps and last > OVERFIT_FRACTION * first:
        last = _loss(model.train_on_batch(x, y))
        taken += 1
    passed = bool(np.isfinite(last) and last <= OVERFIT_FRACTION * first)
    detail = (
        f"loss {first:.4f} -> {last:.4f} in {taken} steps "
        f"({'below' if passed else 'not below'} {OVERFIT_FRACTION:.0%} of the start "
        f"within {steps})"
    )
    return CheckResult("overfit one batch", passed, detail,
                       {"first_loss": first, "last_loss": last, "steps": taken})  # fmt: skip


def _loss(result: Any) -> float:
    return float(np.asarray(result[0] if isinstance(result, (list, tuple)) else result))


# --------------------------------------------------------------------------- data


def data_checks(x: np.ndarray, y: np.ndarray | None, *, raw_pixels: bool, image: bool,
                classifier: bool) -> list[CheckResult]:  # fmt: skip
    """Non-finite values, input range against what the model expects, label balance."""
    out = []
    if x.dtype.kind == "f":
        bad = int((~np.isfinite(x)).sum())
        out.append(CheckResult("finite inputs", bad == 0,
                               f"{bad} non-finite values" if bad else "all finite"))  # fmt: skip
    if image and x.dtype.kind in "fiu":
        low, high = float(np.nanmin(x)), float(np.nanmax(x))
        expected = (0.0, 255.0) if raw_pixels else (0.0, 1.0)
        fits = high <= expected[1] * 1.01 and low >= expected[0] - 1e-6
        fits = fits and (high > 2.0 if raw_pixels else True)  # 0-255 models fed [0, 1]
        out.append(CheckResult(
            "input range", fits,
            f"inputs span [{low:.3g}, {high:.3g}]; the model expects "
            f"{'raw 0-255 pixels' if raw_pixels else 'values in [0, 1]'}",
        ))  # fmt: skip
    if classifier and y is not None:
        labels, counts = np.unique(np.asarray(y).reshape(-1), return_counts=True)
        ratio = float(counts.max() / counts.min())
        out.append(CheckResult(
            "label balance", ratio <= 10,
            f"{len(labels)} classes, largest/smallest = {ratio:.1f}"
            + ("" if ratio <= 10 else "; consider --class-weight balanced"),
            {"counts": {str(k): int(c) for k, c in zip(labels, counts)}},
        ))  # fmt: skip
    return out


# --------------------------------------------------------------------------- all of it


def _kink_free(x: np.ndarray, seed: int) -> np.ndarray:
    """Random inputs in the data's range: real images have exact zeros, which put ReLUs on
    their kink, where finite differences and autodiff rightly disagree."""
    if x.dtype.kind != "f":
        return x  # token ids
    rng = np.random.default_rng(seed)
    return rng.uniform(float(x.min()), float(x.max()) or 1.0, size=x.shape).astype(x.dtype)


def check(name: str, *, dataset: str | None = None, overrides: dict | None = None,
          seed: int = 0) -> list[CheckResult]:  # fmt: skip
    """Data checks, the gradient check and overfit-one-batch for a registry entry on its
    recipe data (a small batch of it)."""
    from recipes.baselines import arrays
    from recipes.train import build_model, plan, prepare_data

    changes = {"dataset": dataset, "batch_size": 16, "augment": None}
    run = plan(name, changes, dict(overrides or {}), out_dir=None, resume=False, seed=seed,
               strategy=None, task=None, prepare_out=False)  # fmt: skip
    build_model(run)
    prepare_data(run)
    x, y = next(iter(run.splits.train))
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    task = run.entry.task_spec
    _, labels = arrays(run.raw.train, 5000) if task.classifier else (None, None)
    image = run.raw.info.modality == "image"
    results = data_checks(x, labels, raw_pixels=run.entry.raw_pixels, image=image,
                          classifier=task.classifier)  # fmt: skip
    results.append(gradient_check(run.model, _kink_free(x[:4], seed)))
    results.append(overfit_one_batch(run.model, x, y))
    return results
