"""Range checks for the numbers a user types: one rule per kind of value, one message style.

A learning rate of -1 trains by gradient ascent and prints a confident, wrong
accuracy; these checks turn such values into a :class:`InvalidArgumentError`
that names the keyword, the value and the valid range, at ``build``,
``recipes.train`` and CLI parsing alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import DataFormatError, InvalidArgumentError

#: Seeds seed NumPy, Python and TensorFlow: NumPy takes 0 .. 2**32 - 1.
SEED_RANGE = (0, 2**32 - 1)
FLOAT32_MAX = float(np.finfo("float32").max)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``): learning rates, clip norms."""
    low = ">= 0" if allow_zero else "> 0"
    example = f"Example: {name}={'0.001' if 'lr' in name or 'rate' in name else '1.0'}."
    if not _is_number(value) or not math.isfinite(float(value)):
        raise InvalidArgumentError(
            f"{name} must be a finite number {low}, got {value!r}. {example}"
        )
    if float(value) < 0 or (float(value) == 0 and not allow_zero):
        why = ""
        if "lr" in name or "rate" in name:
            why = (
                " (a negative learning rate climbs the loss)"
                if float(value) < 0
                else " (a zero learning rate never moves the weights)"
            )
        raise InvalidArgumentError(f"{name} must be {low}, got {value!r}{why}. {example}")
    return float(value)


def int_in_range(name: str, value: Any, low: int, high: int | None = None) -> int:
    """A whole number in ``[low, high]``: epochs, batch sizes, seeds, layer counts."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise InvalidArgumentError(
            f"{name} must be a whole number {_range_text(low, high)}, got {value!r}."
        )
    if value < low or (high is not None and value > high):
        raise InvalidArgumentError(f"{name} must be {_range_text(low, high)}, got {value}.")
    return int(value)


def _range_text(low: int, high: int | None) -> str:
    return f">= {low}" if high is None else f"between {low} and {high}"


def seed(value: Any, name: str = "seed") -> int:
    return int_in_range(name, value, *SEED_RANGE)


#: The rule for each training keyword that ``check_training_numbers`` knows.
_RULES = {
    "epochs": lambda k, v: int_in_range(k, v, 1),
    "batch_size": lambda k, v: int_in_range(k, v, 1),
    "fine_tune_epochs": lambda k, v: int_in_range(k, v, 0),
    "fine_tune_layers": lambda k, v: int_in_range(k, v, 0),
    "seed": lambda k, v: seed(v, k),
    "learning_rate": lambda k, v: positive_float(k, v),
    "fine_tune_lr": lambda k, v: positive_float(k, v),
    "clipnorm": lambda k, v: positive_float(k, v),
    "clipvalue": lambda k, v: positive_float(k, v),
    "global_clipnorm": lambda k, v: positive_float(k, v),
    "weight_decay": lambda k, v: positive_float(k, v, allow_zero=True),
}


def check_numbers(values: Mapping[str, Any]) -> None:
    """Check every known keyword in ``values`` that is set (``None`` means "the default").

    A learning rate may also be a Keras schedule object: only plain numbers are checked.
    """
    for key, value in values.items():
        rule = _RULES.get(key)
        if rule is None or value is None:
            continue
        if key == "learning_rate" and not _is_number(value) and not isinstance(value, str):
            continue  # a keras LearningRateSchedule
        rule(key, value)


def finite_features(
    x: np.ndarray,
    *,
    source: str,
    columns: list[str] | None = None,
    row_numbers: list[int] | None = None,
) -> None:
    """Numeric features must be finite and fit float32; name the column and the first rows.

    ``row_numbers`` maps array rows to what the user sees (a CSV's line numbers); else the
    0-based index is shown.
    """
    if x.dtype.kind not in "fiu":
        return
    values = np.asarray(x, dtype="float64").reshape(len(x), -1)
    bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
    if not bad.any():
        return
    col = int(np.argmax(bad.any(axis=0)))
    rows = np.flatnonzero(bad[:, col])
    shown = np.asarray(row_numbers)[rows] if row_numbers is not None else rows
    name = repr(columns[col]) if columns else f"{col} (0-based, of the flattened features)"
    sample = float(values[rows[0], col])
    what = "not finite" if not math.isfinite(sample) else "outside float32's range (±3.4e38)"
    raise DataFormatError(
        f"{source}: column {name} has {len(rows)} value(s) {what}, at row(s) "
        f"{_rows_text(shown)} (value {sample!r}). Remove or fix those rows, or rescale the "
        "column (for example to thousands) before training."
    )


def _rows_text(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
