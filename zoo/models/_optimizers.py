"""Adam and AdamW whose update runs as one fused TensorFlow op per variable.

Keras 3 applies Adam as about a dozen separate ops per variable (two moment updates, the
bias-correction powers, the step), each a pass over the variable and a dispatch of its own.
On TensorFlow, ``ResourceApplyAdam`` does the same update in one multi-threaded pass: a
20,000 x 128 embedding updates in 0.75 ms instead of 3.6 ms (5.5 ms from an embedding's
sparse gradient, which Keras densifies too), and small networks lose most of the per-op
dispatch of their step (benchmarks/README.md). The formula is Keras' own: ``m`` and ``v``
move by ``(1 - beta)`` of their distance to the gradient and its square, and the step is
``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``.

Everything else (weight decay, clipping, schedules, gradient accumulation, EMA, loss
scaling) stays in Keras' base class, which calls the update this module replaces. AMSGrad,
a ``tf.distribute`` strategy, the other backends and ``ZOO_FUSED_OPTIMIZER=0`` take Keras'
path. The classes are registered, so a ``.keras`` file that uses one loads wherever
``zoo.models`` is imported (as ``zoo.loading`` does).
"""

from __future__ import annotations

from typing import Any

import keras

#: Variable dtypes ``ResourceApplyAdam`` takes.
_FUSABLE_DTYPES = ("float16", "bfloat16", "float32", "float64")


class _FusedAdamUpdate:
    """The update step shared by :class:`Adam` and :class:`AdamW` (their bases differ)."""

    def _backend_update_step(self, grads: list, trainable_variables: list, learning_rate: Any):
        if not self._fusable(trainable_variables):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        # the bias corrections once per step, in float32 as Keras computes them for
        # float32 variables; cast per variable below
        step = tf.cast(self.iterations + 1, "float32")
        scalars = {
            "beta1_power": tf.pow(tf.cast(self.beta_1, "float32"), step),
            "beta2_power": tf.pow(tf.cast(self.beta_2, "float32"), step),
            "lr": tf.cast(learning_rate, "float32"),
            "beta1": tf.cast(self.beta_1, "float32"),
            "beta2": tf.cast(self.beta_2, "float32"),
            "epsilon": tf.cast(self.epsilon, "float32"),
        }
        for grad, variable in zip(grads, trainable_variables, strict=True):
            index = self._get_variable_index(variable)
            var = _tf_variable(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle,
                m=_tf_variable(self._momentums[index]).handle,
                v=_tf_variable(self._velocities[index]).handle,
                grad=tf.cast(tf.convert_to_tensor(grad), var.dtype),  # a sparse gradient too
                **{name: tf.cast(value, var.dtype) for name, value in scalars.items()},
            )

    def _fusable(self, trainable_variables: list) -> bool:
        from zoo.runtime import fused_optimizer

        if keras.backend.backend() != "tensorflow" or not fused_optimizer() or self.amsgrad:
            return False
        import tensorflow as tf

        return not tf.distribute.has_strategy() and all(
            keras.backend.standardize_dtype(v.dtype) in _FUSABLE_DTYPES for v in trainable_variables
        )


def _tf_variable(variable: Any) -> Any:
    """The ``tf.Variable`` under a Keras variable (the base class passes either)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="zoo")
class Adam(_FusedAdamUpdate, keras.optimizers.Adam):
    """Keras' Adam, updated by one fused op per variable on TensorFlow."""


@keras.saving.register_keras_serializable(package="zoo")
class AdamW(_FusedAdamUpdate, keras.optimizers.AdamW):
    """Keras' AdamW (decoupled weight decay, applied by Keras' base class before the
    update), updated by one fused op per variable on TensorFlow."""


#: What ``make_optimizer`` builds for these names instead of Keras' class of that name.
FUSED_OPTIMIZERS: dict[str, type] = {"adam": Adam, "adamw": AdamW}
