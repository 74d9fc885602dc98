"""The distribution strategy and numeric precision of a run, picked as the OD API's model_main_tf2 picks them.

use_tpu -> TPUStrategy (bfloat16 when train_config.use_bfloat16); num_workers > 1 -> MultiWorkerMirroredStrategy
(cluster from TF_CONFIG); GPUs present -> MirroredStrategy over all of them; otherwise the default strategy
(one device). Mixed precision: mixed_float16 on GPU when asked for ('auto' or 'mixed_float16').
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

import tensorflow as tf
import tf_keras

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def build_strategy(use_tpu: bool = False, tpu_name: Optional[str] = None,
                   num_workers: int = 1) -> tf.distribute.Strategy:
    """The strategy for this process. Raises ValueError when num_workers > 1 but TF_CONFIG does not describe
    that many workers."""
    if use_tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu_name or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if num_workers > 1:
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ValueError(f"--num_workers={num_workers} needs TF_CONFIG describing the cluster "
                             '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                             '"index": 0}})')
        workers = json.loads(config).get("cluster", {}).get("worker", [])
        if len(workers) != num_workers:
            raise ValueError(f"--num_workers={num_workers} but TF_CONFIG lists {len(workers)} workers: {workers}")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_precision(precision: str = "auto", use_tpu: bool = False, use_bfloat16: bool = False) -> str:
    """Sets tf_keras's global dtype policy before the model is built; returns the policy name.

    'auto': mixed_bfloat16 on TPU with use_bfloat16, mixed_float16 when a GPU is visible, float32 otherwise.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    policy = precision
    if precision == "auto":
        if use_tpu:
            policy = "mixed_bfloat16" if use_bfloat16 else "float32"
        elif tf.config.list_physical_devices("GPU"):
            policy = "mixed_float16"
        else:
            policy = "float32"
    tf_keras.mixed_precision.set_global_policy(policy)
    logging.info("dtype policy: %s", policy)
    return policy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints and summaries to model_dir (worker 0, or a single process)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type in ("chief", None) or (resolver.task_type == "worker" and resolver.task_id == 0
                                                     and "chief" not in resolver.cluster_spec().as_dict())
