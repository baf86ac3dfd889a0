"""Keras' Adam and AdamW with their update run as one fused TensorFlow op per variable.

Keras 3 applies Adam as about a dozen separate ops per variable (two moment updates, the
bias-correction powers, the step), each a pass over the variable and a dispatch of its own.
On TensorFlow, ``ResourceApplyAdam`` does the same update in one multi-threaded pass: a
20,000 x 128 variable updates in 0.75 ms instead of 3.6 ms, and small networks lose most of
the per-op dispatch of their step (benchmarks/README.md). The formula is Keras' own: ``m``
and ``v`` move by ``(1 - beta)`` of their distance to the gradient and its square, and the
step is ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``.

A step with a sparse gradient (an ``Embedding``'s ``tf.IndexedSlices``) keeps Keras' update
for all its variables. Keras on TensorFlow squares that gradient one lookup at a time, so a
token seen twice in a batch adds ``g1² + g2²`` to ``v`` where Adam's formula (and Keras on
JAX and torch) has ``(g1 + g2)²``. That gives frequent tokens larger steps, and the recipes'
results were measured with it: fused with the summed gradient, ``char_lstm`` (a hundred
characters, each looked up thousands of times a batch) ended at perplexity 13.3 instead of
10.8. Fusing only the dense variables beside the embedding gained nothing measurable in the
text networks (benchmarks/README.md).

:func:`fused` swaps the update on an *instance* of Keras' own class rather than defining a
subclass: the optimizer stays ``keras.optimizers.Adam``, so a ``.keras`` file saved with it
loads in plain Keras on any backend, and on torch Keras' own parallel Adam is left alone.
Everything around the update (weight decay, clipping, schedules, gradient accumulation,
EMA, loss scaling) stays in Keras' base class. AMSGrad, ``tf.distribute`` strategies and
``ZOO_FUSED_OPTIMIZER=0`` (read when a step is traced) take Keras' update.
"""

from __future__ import annotations

import types
from typing import Any

import keras

#: Variable dtypes ``ResourceApplyAdam`` takes.
_FUSABLE_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: Where a fused optimizer keeps Keras' own update, for the steps the kernel does not cover.
_KERAS_UPDATE = "_zoo_keras_update"


def fused(optimizer: Any) -> Any:
    """``optimizer``, updating through TensorFlow's fused op if it is Keras' Adam or AdamW
    and TensorFlow is the backend; anything else is returned untouched."""
    if (
        keras.backend.backend() != "tensorflow"
        or type(optimizer) not in (keras.optimizers.Adam, keras.optimizers.AdamW)
        or is_fused(optimizer)
    ):
        return optimizer
    # bound methods, not closures: a copy of the optimizer updates its own variables
    setattr(optimizer, _KERAS_UPDATE, optimizer._backend_update_step)
    optimizer._backend_update_step = types.MethodType(_fused_update, optimizer)
    return optimizer


def _fused_update(self: Any, grads: list, trainable_variables: list, learning_rate: Any):
    """The update :func:`fused` installs: the kernel where it applies, Keras' elsewhere."""
    if _fusable(self, grads, trainable_variables):
        _apply_adam(self, grads, trainable_variables, learning_rate)
    else:
        getattr(self, _KERAS_UPDATE)(grads, trainable_variables, learning_rate)


def is_fused(optimizer: Any) -> bool:
    """Whether :func:`fused` swapped ``optimizer``'s update."""
    return hasattr(optimizer, _KERAS_UPDATE)


def clone(optimizer: Any, config: dict[str, Any]) -> Any:
    """A new optimizer of ``optimizer``'s class from ``config``, fused if ``optimizer`` is."""
    copy = type(optimizer).from_config(config)
    return fused(copy) if is_fused(optimizer) else copy


def _fusable(optimizer: Any, grads: list, trainable_variables: list) -> bool:
    from zoo.runtime import fused_optimizer

    if not fused_optimizer() or optimizer.amsgrad:
        return False
    import tensorflow as tf

    return (
        not tf.distribute.has_strategy()
        and not any(isinstance(g, tf.IndexedSlices) for g in grads)
        and all(
            keras.backend.standardize_dtype(v.dtype) in _FUSABLE_DTYPES for v in trainable_variables
        )
    )


def _apply_adam(optimizer: Any, grads: list, trainable_variables: list, learning_rate: Any):
    """One ``ResourceApplyAdam`` per variable; the bias corrections once per step."""
    import tensorflow as tf

    step = tf.cast(optimizer.iterations + 1, "float32")
    scalars = {
        "beta1_power": tf.pow(tf.cast(optimizer.beta_1, "float32"), step),
        "beta2_power": tf.pow(tf.cast(optimizer.beta_2, "float32"), step),
        "lr": tf.cast(learning_rate, "float32"),
        "beta1": tf.cast(optimizer.beta_1, "float32"),
        "beta2": tf.cast(optimizer.beta_2, "float32"),
        "epsilon": tf.cast(optimizer.epsilon, "float32"),
    }
    for grad, variable in zip(grads, trainable_variables, strict=True):
        index = optimizer._get_variable_index(variable)
        var = _tf_variable(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=_tf_variable(optimizer._momentums[index]).handle,
            v=_tf_variable(optimizer._velocities[index]).handle,
            grad=tf.cast(grad, var.dtype),
            **{name: tf.cast(value, var.dtype) for name, value in scalars.items()},
        )


def _tf_variable(variable: Any) -> Any:
    """The ``tf.Variable`` under a Keras variable (the base class passes either)."""
    return variable.value if isinstance(variable, keras.Variable) else variable
