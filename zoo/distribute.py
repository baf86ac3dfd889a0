"""Strategy selection for ``tf.distribute``: one name for every scale.

``strategy("auto")`` picks ``multi_worker`` when ``TF_CONFIG`` names a cluster
of several tasks, ``mirrored`` when more than one GPU is visible, and the
default strategy otherwise. ``zoo.build(..., strategy="mirrored")`` and
``zoo.build(..., strategy=tf.distribute.MirroredStrategy(...))`` both work.

Batch sizes: a ``tf.data`` pipeline batched at B feeds a *global* batch of B
that the strategy splits across replicas; use :func:`global_batch_size` to
keep a per-replica batch when scaling out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from zoo.errors import InvalidArgumentError

KINDS = ("auto", "default", "one_device", "mirrored", "multi_worker", "parameter_server", "tpu")


def _cluster() -> dict[str, Any]:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw).get("cluster", {}) or {}
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"TF_CONFIG is not valid JSON: {exc}.") from None


def _num_tasks(cluster: dict[str, Any]) -> int:
    return sum(len(v) for v in cluster.values())


def resolve_kind(kind: str = "auto") -> str:
    """The concrete strategy kind ``auto`` stands for on this machine."""
    if kind not in KINDS:
        raise InvalidArgumentError(f"Unknown strategy {kind!r}; use one of {list(KINDS)}.")
    if kind != "auto":
        return kind
    cluster = _cluster()
    if "ps" in cluster:
        return "parameter_server"
    if _num_tasks(cluster) > 1:
        return "multi_worker"
    import tensorflow as tf

    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def strategy(kind: str = "auto", *, devices: Sequence[str] | None = None) -> Any:
    """A ``tf.distribute.Strategy`` of ``kind`` (see module docstring)."""
    import tensorflow as tf

    kind = resolve_kind(kind)
    if kind != "default":
        from zoo.backends import require_tensorflow

        require_tensorflow(
            f"The {kind} strategy (tf.distribute)",
            "On JAX, keras.distribution.DataParallel() spreads a model over several devices.",
        )
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "one_device":
        if devices and len(devices) != 1:
            raise InvalidArgumentError(f"one_device takes one device, got {list(devices)}.")
        gpus = tf.config.list_logical_devices("GPU")
        device = devices[0] if devices else ("/gpu:0" if gpus else "/cpu:0")
        return tf.distribute.OneDeviceStrategy(device)
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if kind == "multi_worker":
        if _num_tasks(_cluster()) < 1:
            raise InvalidArgumentError(
                "multi_worker needs TF_CONFIG describing the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        from zoo.compat import patch_multi_worker_fit

        patch_multi_worker_fit()  # keras-team/keras#20585
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "parameter_server":
        cluster = _cluster()
        if "ps" not in cluster or "chief" not in cluster:
            raise InvalidArgumentError(
                "parameter_server needs TF_CONFIG with 'chief', 'worker' and 'ps' tasks."
            )
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.ParameterServerStrategy(resolver)
    # tpu: never let the resolver probe a metadata server on a machine without one
    if not (os.environ.get("TPU_NAME") or tf.config.list_logical_devices("TPU")):
        raise InvalidArgumentError(
            "No TPU here: set TPU_NAME (Cloud TPU) or run on a TPU VM, or pick another strategy."
        )
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def global_batch_size(per_replica: int, strat: Any) -> int:
    """The global batch that gives each replica ``per_replica`` examples."""
    return per_replica * int(strat.num_replicas_in_sync)


__all__ = ["KINDS", "global_batch_size", "resolve_kind", "strategy"]


def task() -> tuple[str, int]:
    """This process's ``(type, index)`` from ``TF_CONFIG`` (``("chief", 0)`` without one)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return "chief", 0
    t = json.loads(raw).get("task", {}) or {}
    return str(t.get("type", "worker")), int(t.get("index", 0))


def is_chief() -> bool:
    """The task that writes final artifacts: ``chief``, else worker 0 of a chief-less cluster."""
    kind, index = task()
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in _cluster()


def shard_for(strategy_obj: Any, dataset: Any) -> Any:
    """Deliberate auto-shard policy for multi-worker input: DATA (every zoo pipeline is
    built from in-memory tensors or decoded records, not one file per worker)."""
    import tensorflow as tf

    if not isinstance(strategy_obj, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
