"""Where a run trains: the `tf.distribute` strategy, this process's role in it, and the dtype policy."""

from __future__ import annotations

import contextlib
import os

import keras
import tensorflow as tf

__all__ = ["STRATEGIES", "make_strategy", "worker_role", "mixed_precision_policy", "dtype_policy"]

STRATEGIES = ("auto", "mirrored", "multiworker", "default")


# ------------------------------------------------------------------------------------------------
def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """'auto': MirroredStrategy over all local GPUs if there are any, else the default strategy;
    'mirrored': MirroredStrategy over the local GPUs, or over every logical CPU device when there is
    no GPU; 'multiworker': MultiWorkerMirroredStrategy from `TF_CONFIG`; 'default': no distribution.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} is not allowed; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy 'multiworker' reads the cluster from the TF_CONFIG environment "
                             "variable, which is not set")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.get_strategy()


def worker_role(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """(is_chief, worker index). Single-host strategies: (True, 0). Multi-worker: the 'chief' task,
    or worker 0 when the cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, task_id + (1 if has_chief and task_type == "worker" else 0)


def mixed_precision_policy() -> str:
    """'mixed_float16' when a GPU is visible, else 'mixed_bfloat16' (CPUs lack fast float16)."""
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"



@contextlib.contextmanager
def dtype_policy(mixed_precision: bool):
    """The mixed policy (`mixed_precision_policy`) inside the block when asked for; the global policy is
    restored after it."""
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy(mixed_precision_policy())
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
