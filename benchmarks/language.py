"""Language models: held-out perplexity of ``transformer_lm`` and ``char_lstm`` after the
same training seconds on ``python_docs``, and cached against uncached generation.

Each model is built with its card's defaults and trained with its recipe's batch size
and optimizer until the time budget runs out (checked after every batch; validation is
not counted); its best validation epoch is scored on the test split. Both run in one
process, one after the other, with the same data and seed; the order alternates
between rounds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras

from benchmarks.harness import stamp

MODELS = ("char_lstm", "transformer_lm")


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``seconds`` of training batches have passed (with
    ``steps_per_execution``, one "batch" here is one call of several steps)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.used, self.steps, self._start = seconds, 0.0, 0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.used += time.perf_counter() - self._start
        self.steps += 1
        if self.used >= self.seconds:
            self.model.stop_training = True


def train_for(name: str, seconds: float, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """Train ``name`` for ``seconds``; its test perplexity at the best validation epoch."""
    import numpy as np

    import recipes
    import zoo
    from recipes.evaluate import language_model_report

    keras.utils.set_random_seed(seed)
    entry, recipe = zoo.get_entry(name), recipes.get(name)
    window = overrides.pop("sequence_length", entry.defaults()["sequence_length"])
    splits = zoo.data.load(recipe.dataset, batch_size=recipe.batch_size, seed=seed,
                           **zoo.data.loader_options(entry, recipe.dataset, window))  # fmt: skip
    model = zoo.build(name, sequence_length=window, **overrides)
    budget = TimeBudget(seconds)
    weights: dict[str, Any] = {}

    class KeepBest(keras.callbacks.Callback):  # the best validation epoch's weights
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < weights.get("loss", np.inf):
                weights.update(loss=logs["val_loss"], values=model.get_weights())

    model.fit(splits.train, validation_data=splits.val, epochs=10_000, verbose=0,
              callbacks=[budget, KeepBest()])  # fmt: skip
    model.set_weights(weights["values"])
    y = np.concatenate([b[1] for b in splits.test.as_numpy_iterator()])
    p = model.predict(splits.test, verbose=0)
    report = language_model_report(y, p)
    return {"model": name, "seconds": budget.used, "steps": budget.steps,
            "perplexity": report["perplexity"], "parameters": model.count_params()}  # fmt: skip


#: Generation is timed for the default model at two contexts, and for a GPT-style size.
GENERATION_CONFIGS = (
    {"sequence_length": 64},
    {"sequence_length": 256},
    {"sequence_length": 256, "num_layers": 4, "embedding_dim": 256, "ff_dim": 1024},
)


def generation_speed(tokens: int = 200, rounds: int = 3, **keywords: Any) -> dict[str, Any]:
    """Seconds to generate ``tokens`` characters with and without the key/value cache
    (without it, every token re-reads the whole context)."""
    import zoo

    keras.utils.set_random_seed(0)
    model = zoo.build("transformer_lm", **keywords)
    model.generate("Return the ", tokens, seed=0)  # compile both paths first
    model.generate("Return the ", tokens, seed=0, use_cache=False)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for cached in (True, False):
            start = time.perf_counter()
            model.generate("Return the ", tokens, seed=0, use_cache=cached)
            times[cached].append(time.perf_counter() - start)
    cached, uncached = statistics.median(times[True]), statistics.median(times[False])
    return {"tokens": tokens, "cached_s": cached, "uncached_s": uncached,
            "speedup": uncached / cached, "window": model.config["sequence_length"],
            "layers": model.config["num_layers"], "width": model.config["embedding_dim"],
            "parameters": model.count_params()}  # fmt: skip


def language_section(quick: bool, log) -> dict[str, Any]:
    seconds = 10.0 if quick else 180.0
    rounds = 1
    rows = []
    for r in range(rounds):
        for name in MODELS if r % 2 == 0 else MODELS[::-1]:
            row = train_for(name, seconds, seed=r)
            log(f"  {name}: perplexity {row['perplexity']:.2f} after {row['seconds']:.0f} s")
            rows.append(row)
    speeds = [generation_speed(rounds=1 if quick else 3, **c) for c in GENERATION_CONFIGS]
    for s in speeds:
        log(f"  generate 200, {s['layers']} layers, context {s['window']}: cached "
            f"{s['cached_s']:.2f} s, uncached {s['uncached_s']:.2f} s")  # fmt: skip
    return {"seconds": seconds, "rows": rows, "generation": speeds, **stamp()}
