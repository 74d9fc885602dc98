"""The OD API's BalancedPositiveNegativeSampler: a random minibatch of at most batch_size examples, of which at
most positive_fraction * batch_size are positives and the rest negatives."""
from typing import Optional

import tensorflow as tf


def subsample_indicator(indicator: tf.Tensor, num_samples) -> tf.Tensor:
    """A random subset of at most num_samples of the True entries of a [N] bool indicator."""
    indices = tf.reshape(tf.random.shuffle(tf.where(indicator)), [-1])
    num_samples = tf.minimum(tf.size(indices), tf.cast(num_samples, tf.int32))
    selected = indices[:num_samples]
    hits = tf.scatter_nd(selected[:, None], tf.ones_like(selected, tf.int32), tf.shape(indicator, out_type=tf.int64))
    return tf.greater(hits, 0)


class BalancedPositiveNegativeSampler:
    def __init__(self, positive_fraction: float = 0.5, is_static: bool = False):
        if not 0 <= positive_fraction <= 1:
            raise ValueError(f"positive_fraction should be in [0, 1], got {positive_fraction}")
        self._positive_fraction = positive_fraction
        # The OD API's static (TPU) variant draws the same distribution with fixed shapes; eager/XLA-free TF does
        # not need it, so both settings sample with the dynamic algorithm.
        self._is_static = is_static

    def subsample(self, indicator: tf.Tensor, batch_size: Optional[int], labels: tf.Tensor) -> tf.Tensor:
        """indicator [N] bool (candidates), labels [N] bool (positive) -> [N] bool selection."""
        if indicator.shape.rank != 1 or labels.shape.rank != 1:
            raise ValueError("balanced sampler: indicator and labels must be 1-D")
        if labels.dtype != tf.bool or indicator.dtype != tf.bool:
            raise ValueError("balanced sampler: indicator and labels must be bool")
        positive_idx = tf.logical_and(labels, indicator)
        negative_idx = tf.logical_and(tf.logical_not(labels), indicator)
        if batch_size is None:
            max_num_pos = tf.reduce_sum(tf.cast(positive_idx, tf.int32))
        else:
            max_num_pos = int(self._positive_fraction * batch_size)
        sampled_pos = subsample_indicator(positive_idx, max_num_pos)
        num_sampled_pos = tf.reduce_sum(tf.cast(sampled_pos, tf.int32))
        if batch_size is None:
            ratio = (1 - self._positive_fraction) / self._positive_fraction
            max_num_neg = tf.cast(ratio * tf.cast(num_sampled_pos, tf.float32), tf.int32)
        else:
            max_num_neg = batch_size - num_sampled_pos
        sampled_neg = subsample_indicator(negative_idx, max_num_neg)
        return tf.logical_or(sampled_pos, sampled_neg)
