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


UNMATCHED = -1
IGNORED = -2


class ArgMaxMatcher:
    """Each anchor (column) takes its most similar groundtruth row (the OD API's ArgMaxMatcher).

    The anchor's best similarity s decides what the match means:
        s >= matched_threshold                        -> matched (the row index)
        unmatched_threshold <= s < matched_threshold  -> the "middle" band
        s < unmatched_threshold                       -> the "low" band
    negatives_lower_than_unmatched (the usual case) makes the low band negatives and the middle band ignored;
    false swaps the two. matched_threshold None keeps every best row. force_match_for_each_row then hands each
    valid row its best anchor, so no groundtruth is left without one.
    """

    def __init__(self, matched_threshold: Optional[float], unmatched_threshold: Optional[float] = None,
                 negatives_lower_than_unmatched: bool = True, force_match_for_each_row: bool = False,
                 use_matmul_gather: bool = False):
        del use_matmul_gather  # gathers are exact either way
        if unmatched_threshold is None:
            unmatched_threshold = matched_threshold
        elif matched_threshold is None:
            raise ValueError("argmax_matcher: unmatched_threshold needs matched_threshold")
        elif unmatched_threshold > matched_threshold:
            raise ValueError(f"argmax_matcher: unmatched_threshold {unmatched_threshold} exceeds "
                             f"matched_threshold {matched_threshold}")
        # With negatives in the middle band, equal thresholds would leave no band for them.
        if not negatives_lower_than_unmatched and unmatched_threshold == matched_threshold:
            raise ValueError("argmax_matcher: with negatives_lower_than_unmatched false the two thresholds must "
                             "differ")
        self._matched_threshold = matched_threshold
        self._unmatched_threshold = unmatched_threshold
        self._low_band, self._middle_band = ((UNMATCHED, IGNORED) if negatives_lower_than_unmatched
                                             else (IGNORED, UNMATCHED))
        self._force_match_for_each_row = force_match_for_each_row

    def match(self, similarity: tf.Tensor, valid_rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        """Match vector [num_anchors] of a similarity matrix [num_gt, num_anchors]; -1 everywhere without rows."""
        if valid_rows is None:
            valid_rows = tf.ones(tf.shape(similarity)[0], dtype=tf.bool)
        num_columns = tf.shape(similarity)[1]

        def no_rows() -> tf.Tensor:
            return tf.fill([num_columns], UNMATCHED)

        def best_rows() -> tf.Tensor:
            matches = self._threshold(tf.argmax(similarity, 0, output_type=tf.int32),
                                      tf.reduce_max(similarity, 0))
            return self._force_rows(similarity, valid_rows, matches) if self._force_match_for_each_row else matches

        if similarity.shape[0] is not None:
            return no_rows() if similarity.shape[0] == 0 else best_rows()
        return tf.cond(tf.shape(similarity)[0] > 0, best_rows, no_rows)

    def _threshold(self, best_row: tf.Tensor, best_similarity: tf.Tensor) -> tf.Tensor:
        """best_row, with the anchors in the low and middle bands recoded. A NaN similarity is in neither band
        (every comparison with it is false), so its anchor keeps its argmax row."""
        if self._matched_threshold is None:
            return best_row
        in_low = best_similarity < self._unmatched_threshold
        in_middle = tf.logical_and(best_similarity >= self._unmatched_threshold,
                                   best_similarity < self._matched_threshold)
        return tf.where(in_low, self._low_band, tf.where(in_middle, self._middle_band, best_row))

    @staticmethod
    def _force_rows(similarity: tf.Tensor, valid_rows: tf.Tensor, matches: tf.Tensor) -> tf.Tensor:
        """Each valid row claims its most similar anchor; an anchor claimed by several rows goes to the first."""
        claims = (tf.one_hot(tf.argmax(similarity, 1, output_type=tf.int32), depth=tf.shape(similarity)[1])
                  * tf.cast(valid_rows[:, None], tf.float32))
        claimed = tf.reduce_max(claims, 0) > 0
        return tf.where(claimed, tf.argmax(claims, 0, output_type=tf.int32), matches)


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
