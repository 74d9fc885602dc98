"""Region similarity calculators: (groundtruth boxes [N, 4], anchors [M, 4]) -> similarity [N, M]."""
import tensorflow as tf

from tfsynth.core import box_ops


class IouSimilarity:
    def compare(self, boxes1: tf.Tensor, boxes2: tf.Tensor, scores1=None) -> tf.Tensor:
        return box_ops.iou(boxes1, boxes2)


class IoaSimilarity:
    def compare(self, boxes1: tf.Tensor, boxes2: tf.Tensor, scores1=None) -> tf.Tensor:
        return box_ops.ioa(boxes1, boxes2)


class NegSqDistSimilarity:
    def compare(self, boxes1: tf.Tensor, boxes2: tf.Tensor, scores1=None) -> tf.Tensor:
        return box_ops.neg_sq_dist(boxes1, boxes2)


class ThresholdedIouSimilarity:
    """IoU above iou_threshold replaced by the groundtruth box's score (1 - background label), else 0."""

    def __init__(self, iou_threshold: float = 0.0):
        self._iou_threshold = iou_threshold

    def compare(self, boxes1: tf.Tensor, boxes2: tf.Tensor, scores1=None) -> tf.Tensor:
        ious = box_ops.iou(boxes1, boxes2)
        if scores1 is None:
            scores1 = tf.ones([tf.shape(boxes1)[0]], tf.float32)
        scores = tf.tile(tf.expand_dims(scores1, 1), [1, tf.shape(ious)[1]])
        return tf.where(ious > self._iou_threshold, scores, tf.zeros_like(ious))
