"""Learning-rate schedules by name, all Keras built-ins so they survive a ``.keras`` round trip.

``step``: multiply by ``drop`` every ``steps_per_drop`` steps (a PiecewiseConstantDecay);
``exponential``: ``lr * rate ** (step / decay_steps)``; ``cosine``: cosine annealing
to ``alpha * lr``; ``warmup_cosine``: linear warm-up from 0 to ``lr``, then cosine;
``one_cycle``: fastai's one-cycle policy with ``lr`` as its peak (``zoo.models._schedules``,
registered with Keras so it too survives the round trip).
"""

from __future__ import annotations

from typing import Any

from zoo.errors import InvalidArgumentError

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine", "one_cycle")


def make_schedule(
    name: str,
    learning_rate: float,
    total_steps: int,
    *,
    drop: float = 0.5,
    drops: int = 3,
    decay_rate: float = 0.1,
    alpha: float = 0.0,
    warmup_fraction: float = 0.1,
) -> Any:
    """A schedule over ``total_steps`` optimizer steps (epochs x steps per epoch).

    ``step`` drops ``drops`` times, evenly spaced; ``exponential`` reaches
    ``learning_rate * decay_rate`` at the last step; ``warmup_cosine`` warms up
    for ``warmup_fraction`` of the steps. ``constant`` returns the float.
    """
    import keras

    S = keras.optimizers.schedules
    if name not in SCHEDULES:
        raise InvalidArgumentError(f"Unknown schedule {name!r}; choose one of {list(SCHEDULES)}.")
    if learning_rate <= 0 or total_steps < 1:
        raise InvalidArgumentError(
            f"A schedule needs a positive learning rate and at least one step; got "
            f"learning_rate={learning_rate}, total_steps={total_steps}."
        )
    if name == "constant":
        return float(learning_rate)
    if name == "step":
        every = max(1, total_steps // (drops + 1))
        boundaries = [every * k - 1 for k in range(1, drops + 1)]  # step every*k drops
        values = [learning_rate * drop**k for k in range(drops + 1)]
        return S.PiecewiseConstantDecay(boundaries, values)
    if name == "exponential":
        return S.ExponentialDecay(learning_rate, decay_steps=total_steps, decay_rate=decay_rate)
    if name == "cosine":
        return S.CosineDecay(learning_rate, decay_steps=total_steps, alpha=alpha)
    if name == "one_cycle":
        from zoo.models._schedules import OneCycle

        return OneCycle(learning_rate, total_steps)
    warmup = max(1, int(total_steps * warmup_fraction))
    return S.CosineDecay(
        0.0,
        decay_steps=max(1, total_steps - warmup),
        alpha=alpha,
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )
