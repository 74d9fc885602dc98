"""Target assignment: anchors + groundtruth -> per-anchor classification/regression targets and weights (the
OD API's TargetAssigner.assign and batch_assign_targets)."""
from typing import List, Optional

import tensorflow as tf

from tfsynth.core import matchers


class TargetAssigner:
    def __init__(self, similarity_calc, matcher, box_coder, negative_class_weight: float = 1.0):
        self._similarity_calc = similarity_calc
        self._matcher = matcher
        self._box_coder = box_coder
        self._negative_class_weight = negative_class_weight

    @property
    def box_coder(self):
        return self._box_coder

    def assign(self, anchors: tf.Tensor, groundtruth_boxes: tf.Tensor, groundtruth_labels: Optional[tf.Tensor] = None,
               unmatched_class_label: Optional[tf.Tensor] = None, groundtruth_weights: Optional[tf.Tensor] = None):
        """Returns (cls_targets [M, C], cls_weights [M, C], reg_targets [M, code], reg_weights [M], match [M])."""
        if unmatched_class_label is None:
            unmatched_class_label = tf.constant([0], tf.float32)
        if groundtruth_labels is None:
            groundtruth_labels = tf.ones([tf.shape(groundtruth_boxes)[0], 1], tf.float32)
        if groundtruth_weights is None:
            groundtruth_weights = tf.ones([tf.shape(groundtruth_boxes)[0]], dtype=tf.float32)
        groundtruth_labels = tf.cast(groundtruth_labels, tf.float32)
        scores = 1 - groundtruth_labels[:, 0]
        similarity = self._similarity_calc.compare(groundtruth_boxes, anchors, scores)
        match = self._matcher.match(similarity, valid_rows=tf.greater(groundtruth_weights, 0))
        matched_boxes = matchers.gather_based_on_match(match, groundtruth_boxes, tf.zeros(4), tf.zeros(4))
        matched_reg_targets = self._box_coder.encode(matched_boxes, anchors)
        unmatched_reg_targets = tf.zeros_like(matched_reg_targets)
        reg_targets = tf.where(matchers.matched_column_indicator(match)[:, None], matched_reg_targets,
                               unmatched_reg_targets)
        cls_targets = matchers.gather_based_on_match(match, groundtruth_labels, unmatched_class_label,
                                                     unmatched_class_label)
        reg_weights = matchers.gather_based_on_match(match, groundtruth_weights, 0.0, 0.0)
        cls_weights = matchers.gather_based_on_match(match, groundtruth_weights, self._negative_class_weight, 0.0)
        # Per-anchor weights -> per-class weights, as the OD API returns them.
        cls_weights = tf.tile(cls_weights[:, None], [1, tf.shape(cls_targets)[1]])
        return cls_targets, cls_weights, reg_targets, reg_weights, match


def batch_assign_targets(target_assigner: TargetAssigner, anchors: tf.Tensor, gt_boxes: List[tf.Tensor],
                         gt_class_targets: List[tf.Tensor], unmatched_class_label=None,
                         gt_weights: Optional[List[tf.Tensor]] = None):
    """assign() per image, stacked: (cls_targets, cls_weights, reg_targets, reg_weights, match), each [B, ...].

    A batch of several images runs one assign() in a tf.map_fn over the groundtruth padded to the batch's most
    boxes (each image sliced back to its own count), not one copy per image: unrolled, the batch's copies of the
    similarity, matcher and box coder were a large part of tracing a training step (SSDLite at batch 8). The
    targets are the same values either way: each image runs the same ops on the same boxes.
    """
    if gt_weights is None:
        gt_weights = [None] * len(gt_boxes)
    if not len(gt_boxes) == len(gt_class_targets) == len(gt_weights):
        raise ValueError("batch_assign_targets: groundtruth lists have different lengths")
    if len(gt_boxes) == 1:
        return tuple(part[None] for part in target_assigner.assign(anchors, gt_boxes[0], gt_class_targets[0],
                                                                    unmatched_class_label, gt_weights[0]))
    has_weights = gt_weights[0] is not None
    counts = tf.stack([tf.shape(boxes)[0] for boxes in gt_boxes])
    padded = (_pad_and_stack(gt_boxes, counts), _pad_and_stack([tf.cast(c, tf.float32) for c in gt_class_targets],
                                                               counts),
              _pad_and_stack(gt_weights, counts) if has_weights else tf.zeros_like(counts, tf.float32), counts)

    def assign_one(image):
        boxes, classes, weights, count = image
        return target_assigner.assign(anchors, boxes[:count], classes[:count], unmatched_class_label,
                                      weights[:count] if has_weights else None)

    return tf.map_fn(assign_one, padded,
                     fn_output_signature=(tf.float32, tf.float32, tf.float32, tf.float32, tf.int32))


def _pad_and_stack(per_image: List[tf.Tensor], counts: tf.Tensor) -> tf.Tensor:
    """Tensors whose first dimension differs per image, zero-padded to the largest and stacked: [B, max, ...]."""
    largest = tf.reduce_max(counts)
    return tf.stack([tf.pad(values, [[0, largest - tf.shape(values)[0]]] + [[0, 0]] * (values.shape.rank - 1))
                     for values in per_image])
