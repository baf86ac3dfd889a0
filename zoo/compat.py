"""Workarounds for upstream bugs, in one place, each with a test that fails once upstream is fixed.

keras-team/keras#20585 (keras 3.x, TensorFlow backend): ``model.fit`` under
``tf.distribute.MultiWorkerMirroredStrategy`` fails twice over:

1. ``TensorFlowTrainer._maybe_symbolic_build`` reduces the first distributed
   batch with ``strategy.reduce("MEAN", batch, axis=None)``, which the
   collective strategy cannot do with per-replica inputs ("Attempt to convert
   a value (PerReplica ...)"). Only the batch's shapes matter there, so we
   build from the local replica's batch.
2. ``reduce_per_replica`` averages scalar metric results with ``axis=0``
   ("Invalid reduction dimension 0"). Scalars are averaged with ``axis=None``.

``patch_multi_worker_fit()`` is idempotent and is applied by
``zoo.distribute.strategy("multi_worker")``. ``tests/test_distribute.py``
checks that unpatched keras still fails, so the workaround can be removed the
day it does not.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

_PATCHED = False


def multi_worker_fit_is_broken() -> bool:
    """True for the keras versions known to need the workaround (all 3.x so far)."""
    import keras

    return keras.__version__.startswith("3.")


def patch_multi_worker_fit() -> bool:
    """Install the two fixes above; returns True if they are (now) installed."""
    global _PATCHED
    if _PATCHED:
        return True
    if not multi_worker_fit_is_broken():
        return False
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def _local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return value.values[0]
        return value

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tree.map_structure(_local, next(it))  # shapes are all we need
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        collective = tf_trainer._collective_all_reduce_multi_worker(strategy)
        if collective and reduction in ("auto", "mean"):

            def _mean(v):
                rank = getattr(getattr(_local(v), "shape", None), "rank", None)
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tree.map_structure(_mean, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
    return True


# --------------------------------------------------------------------------- progress bar
# keras 3.15, any backend: with ``steps_per_execution`` > 1 the trainer reports the end of
# its last, partial chunk of steps as ``begin + steps_per_execution - 1``, past the epoch's
# last step, so the bar reads "128/125". ``ProgbarLogger._update_progbar`` is private:
# ``tests/test_compat.py`` checks both the overshoot and the hook.


def keras_overshoots_progress() -> bool:
    """True for the keras versions whose batch counter passes the epoch's end (3.x so far)."""
    import keras

    return keras.__version__.startswith("3.")


def progress_bar() -> Any:
    """A ``ProgbarLogger`` that never counts past the number of steps in an epoch."""
    import keras

    class ClampedProgbarLogger(keras.callbacks.ProgbarLogger):
        def _update_progbar(self, batch, logs=None):
            if self.target is not None:
                batch = min(batch, self.target - 1)
            super()._update_progbar(batch, logs)

    if not hasattr(keras.callbacks.ProgbarLogger, "_update_progbar"):
        raise RuntimeError(
            "zoo.compat.progress_bar: keras.callbacks.ProgbarLogger has no _update_progbar "
            f"in keras {keras.__version__}; update the patch in zoo/compat.py."
        )
    return ClampedProgbarLogger()


# --------------------------------------------------------------------------- keras' file cache
# keras.utils.get_file caches under ``keras.src.backend.config.keras_home()`` (KERAS_HOME,
# read once at import); keras.applications call ``keras.src.utils.file_utils.get_file``.
# Neither is public. ``tests/test_compat.py`` checks both.


def keras_cache_home() -> Path:
    """The folder keras caches downloads under (``$KERAS_HOME`` as keras read it)."""
    from keras.src.backend import config

    return Path(os.path.expanduser(config.keras_home()))


@contextlib.contextmanager
def replaced_get_file(replacement: Any):
    """Route keras.applications' weight downloads through ``replacement`` (same signature
    as ``keras.utils.get_file``); yields the real ``get_file`` for it to call."""
    from unittest import mock

    from keras.src.utils import file_utils

    real = file_utils.get_file
    with mock.patch.object(file_utils, "get_file", replacement):
        yield real


# --------------------------------------------------------------------------- steps per call
# keras 3.15: a .keras file keeps its compile keywords, steps_per_execution included, and
# Keras' torch trainer refuses more than one step per call at the first fit ("must be 1
# with the PyTorch backend"), so a model saved under TensorFlow or JAX (32 by the zoo's
# default) loads on torch but cannot train. ``tests/test_backends.py`` checks that Keras
# still refuses it and that the zoo's loaders train.


def steps_this_backend_runs(model: Any) -> Any:
    """A loaded model set to one step per call on torch, the most Keras runs there."""
    import keras

    if keras.backend.backend() == "torch" and getattr(model, "steps_per_execution", 1) > 1:
        model.steps_per_execution = 1
    return model
