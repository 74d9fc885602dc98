"""Matchers: similarity matrix [num_gt, num_anchors] -> match vector [num_anchors] (the OD API's Match encoding):
>= 0 the matched groundtruth row, -1 unmatched (negative), -2 ignored.
"""
from typing import Optional

import tensorflow as tf


def gather_based_on_match(match_results: tf.Tensor, values: tf.Tensor, unmatched_value, ignored_value) -> tf.Tensor:
    """Per anchor: values[row] if matched, unmatched_value if -1, ignored_value if -2."""
    unmatched_value = tf.cast(unmatched_value, values.dtype)
    ignored_value = tf.cast(ignored_value, values.dtype)
    table = tf.concat([tf.stack([ignored_value, unmatched_value]), values], axis=0)
    return tf.gather(table, tf.maximum(match_results + 2, 0))


def matched_column_indicator(match_results: tf.Tensor) -> tf.Tensor:
    return tf.greater_equal(match_results, 0)


def unmatched_column_indicator(match_results: tf.Tensor) -> tf.Tensor:
    return tf.equal(match_results, -1)


class ArgMaxMatcher:
    """Each anchor takes its best groundtruth; thresholds make it negative / ignored (the OD API's ArgMaxMatcher)."""

    def __init__(self, matched_threshold: Optional[float], unmatched_threshold: Optional[float] = None,
                 negatives_lower_than_unmatched: bool = True, force_match_for_each_row: bool = False,
                 use_matmul_gather: bool = False):
        if matched_threshold is None and unmatched_threshold is not None:
            raise ValueError("argmax_matcher: unmatched_threshold needs matched_threshold")
        self._matched_threshold = matched_threshold
        if unmatched_threshold is None:
            self._unmatched_threshold = matched_threshold
        else:
            if unmatched_threshold > matched_threshold:
                raise ValueError(f"argmax_matcher: unmatched_threshold {unmatched_threshold} exceeds "
                                 f"matched_threshold {matched_threshold}")
            self._unmatched_threshold = unmatched_threshold
        if not negatives_lower_than_unmatched and self._unmatched_threshold == self._matched_threshold:
            raise ValueError("argmax_matcher: with negatives_lower_than_unmatched false the two thresholds must "
                             "differ")
        self._negatives_lower_than_unmatched = negatives_lower_than_unmatched
        self._force_match_for_each_row = force_match_for_each_row

    @staticmethod
    def _set(x, indicator, val):
        indicator = tf.cast(indicator, x.dtype)
        return tf.add(tf.multiply(x, 1 - indicator), val * indicator)

    def match(self, similarity: tf.Tensor, valid_rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        if valid_rows is None:
            valid_rows = tf.ones(tf.shape(similarity)[0], dtype=tf.bool)

        def rows_empty():
            return -1 * tf.ones([tf.shape(similarity)[1]], dtype=tf.int32)

        def rows_non_empty():
            matches = tf.argmax(similarity, 0, output_type=tf.int32)
            if self._matched_threshold is not None:
                matched_vals = tf.reduce_max(similarity, 0)
                below_unmatched = tf.greater(self._unmatched_threshold, matched_vals)
                between = tf.logical_and(tf.greater_equal(matched_vals, self._unmatched_threshold),
                                         tf.greater(self._matched_threshold, matched_vals))
                if self._negatives_lower_than_unmatched:
                    matches = self._set(matches, below_unmatched, -1)
                    matches = self._set(matches, between, -2)
                else:
                    matches = self._set(matches, below_unmatched, -2)
                    matches = self._set(matches, between, -1)
            if self._force_match_for_each_row:
                force_cols = tf.argmax(similarity, 1, output_type=tf.int32)
                indicators = (tf.one_hot(force_cols, depth=tf.shape(similarity)[1])
                              * tf.cast(tf.expand_dims(valid_rows, axis=-1), dtype=tf.float32))
                force_rows = tf.argmax(indicators, 0, output_type=tf.int32)
                force_mask = tf.cast(tf.reduce_max(indicators, 0), tf.bool)
                return tf.where(force_mask, force_rows, matches)
            return matches

        if similarity.shape[0] is not None:
            return rows_empty() if similarity.shape[0] == 0 else rows_non_empty()
        return tf.cond(tf.greater(tf.shape(similarity)[0], 0), rows_non_empty, rows_empty)


class GreedyBipartiteMatcher:
    """Repeatedly matches the most similar (groundtruth, anchor) pair among the unmatched ones."""

    def __init__(self, use_matmul_gather: bool = False):
        del use_matmul_gather  # gathers are exact either way

    def match(self, similarity: tf.Tensor, valid_rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        num_rows = tf.shape(similarity)[0]
        num_cols = tf.shape(similarity)[1]
        if valid_rows is None:
            valid_rows = tf.ones([num_rows], dtype=tf.bool)
        lowest = tf.float32.min
        masked = tf.where(valid_rows[:, None], similarity, lowest)

        def body(i, sim, matches):
            flat = tf.argmax(tf.reshape(sim, [-1]), output_type=tf.int32)
            row, col = flat // num_cols, flat % num_cols
            matches = tf.tensor_scatter_nd_update(matches, [[col]], [row])
            sim = tf.tensor_scatter_nd_update(sim, [[row]], [tf.fill([num_cols], lowest)])
            sim = tf.transpose(tf.tensor_scatter_nd_update(tf.transpose(sim), [[col]], [tf.fill([num_rows], lowest)]))
            return i + 1, sim, matches

        num_valid = tf.minimum(tf.reduce_sum(tf.cast(valid_rows, tf.int32)), num_cols)
        _, _, matches = tf.while_loop(lambda i, *_: i < num_valid, body,
                                      [0, masked, -1 * tf.ones([num_cols], tf.int32)])
        return matches
