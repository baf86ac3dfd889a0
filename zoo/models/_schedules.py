"""Learning-rate schedules Keras does not ship, registered so a ``.keras`` file that uses one
loads wherever ``zoo.models`` is imported (as ``zoo.loading`` does)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Leslie Smith's one-cycle policy as fastai runs it: cosine warm-up from
    ``max_lr / div`` to ``max_lr`` over ``pct_start`` of the steps, then cosine
    annealing to ``max_lr / (div * final_div)``."""

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.25,
                 div: float = 25.0, final_div: float = 1e4) -> None:  # fmt: skip
        self.max_lr, self.total_steps = float(max_lr), int(total_steps)
        self.pct_start, self.div, self.final_div = float(pct_start), float(div), float(final_div)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        warm = max(1.0, self.pct_start * self.total_steps)
        cool = max(1.0, self.total_steps - warm)
        start, peak = self.max_lr / self.div, self.max_lr
        end = self.max_lr / (self.div * self.final_div)

        def cosine(a: float, b: float, frac: Any) -> Any:
            return b + (a - b) * (1 + ops.cos(math.pi * ops.clip(frac, 0.0, 1.0))) / 2

        return ops.where(
            step < warm, cosine(start, peak, step / warm), cosine(peak, end, (step - warm) / cool)
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div": self.div,
            "final_div": self.final_div,
        }
