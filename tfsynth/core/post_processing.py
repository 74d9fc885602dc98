"""Multi-class non-max suppression with the OD API's semantics (post_processing.batch_multiclass_non_max_suppression).

Per image and per class: keep boxes whose score is above score_thresh, greedy NMS at iou_thresh keeping at most
max_size_per_class; then pool all classes, sort by score, clip to the clip window (dropping boxes left with zero
area), keep the top max_total_size and zero-pad to max_total_size. Classes are 0-based (background already
removed). Only the OD API's default dynamic-shape path is implemented; builders reject the other modes.
"""
from typing import Dict, Optional, Tuple

import tensorflow as tf

from tfsynth.core import box_ops


def multiclass_non_max_suppression(boxes: tf.Tensor, scores: tf.Tensor, score_thresh: float, iou_thresh: float,
                                   max_size_per_class: int, max_total_size: int = 0,
                                   clip_window: Optional[tf.Tensor] = None,
                                   additional_fields: Optional[Dict[str, tf.Tensor]] = None,
                                   soft_nms_sigma: float = 0.0,
                                   change_coordinate_frame: bool = False) -> Tuple[tf.Tensor, Dict[str, tf.Tensor], tf.Tensor]:
    """NMS of one image. boxes [N, q, 4] (q = 1 or num_classes), scores [N, num_classes].

    Returns (boxes [K, 4], fields {'scores', 'classes', **additional_fields} of K rows, num_valid).
    """
    num_classes = scores.shape[1]
    if num_classes is None:
        raise ValueError("multiclass_non_max_suppression: the number of classes must be static")
    per_class_boxes = tf.unstack(boxes, axis=1)
    additional_fields = additional_fields or {}
    selected_boxes, selected_fields = [], []
    num_valid_cumulative = tf.constant(0)
    for class_idx in range(num_classes):
        class_boxes = per_class_boxes[class_idx if len(per_class_boxes) > 1 else 0]
        class_scores = scores[:, class_idx]
        max_selection_size = tf.minimum(max_size_per_class, tf.shape(class_boxes)[0])
        indices, kept_scores = tf.image.non_max_suppression_with_scores(
            class_boxes, class_scores, max_selection_size, iou_threshold=iou_thresh, score_threshold=score_thresh,
            soft_nms_sigma=soft_nms_sigma)
        num_valid = tf.shape(indices)[0]
        # Pad to max_selection_size as the OD API does; the padding rows get score -1 and are dropped later.
        indices = tf.concat([indices, tf.zeros(max_selection_size - num_valid, tf.int32)], 0)
        kept_scores = tf.concat([kept_scores, tf.zeros(max_selection_size - num_valid, tf.float32)], -1)
        valid = tf.less(tf.range(max_selection_size), num_valid)
        fields = {k: tf.gather(v, indices) for k, v in additional_fields.items()}
        fields["scores"] = tf.where(valid, kept_scores, -1 * tf.ones(max_selection_size))
        fields["classes"] = tf.zeros_like(fields["scores"]) + class_idx
        num_valid_cumulative += num_valid
        selected_boxes.append(tf.gather(class_boxes, indices))
        selected_fields.append(fields)
    all_boxes = tf.concat(selected_boxes, 0)
    all_fields = {k: tf.concat([f[k] for f in selected_fields], 0) for k in selected_fields[0]}
    all_boxes, all_fields = box_ops.sort_by_scores(all_boxes, all_fields)
    if clip_window is not None:
        all_boxes, all_fields = box_ops.clip_to_window(all_boxes, all_fields, clip_window,
                                                       filter_nonoverlapping=True)
        nonzero_area = tf.cast(box_ops.area(all_boxes), tf.bool)
        all_fields["scores"] = tf.where(nonzero_area, all_fields["scores"], -1 * tf.ones(tf.shape(all_boxes)[0]))
        num_valid_cumulative = tf.reduce_sum(tf.cast(tf.greater_equal(all_fields["scores"], 0), tf.int32))
        all_boxes, all_fields = box_ops.sort_by_scores(all_boxes, all_fields)
        if change_coordinate_frame:
            all_boxes = box_ops.change_coordinate_frame(all_boxes, clip_window)
    if max_total_size:
        total = tf.minimum(max_total_size, tf.shape(all_boxes)[0])
        all_boxes, all_fields = box_ops.gather(all_boxes, all_fields, tf.range(total))
        num_valid_cumulative = tf.where(total > num_valid_cumulative, num_valid_cumulative, total)
    all_boxes, all_fields = box_ops.gather(all_boxes, all_fields, tf.range(num_valid_cumulative))
    return all_boxes, all_fields, num_valid_cumulative


def batch_multiclass_non_max_suppression(boxes: tf.Tensor, scores: tf.Tensor, score_thresh: float,
                                         iou_thresh: float, max_size_per_class: int, max_total_size: int = 0,
                                         clip_window: Optional[tf.Tensor] = None,
                                         additional_fields: Optional[Dict[str, tf.Tensor]] = None,
                                         soft_nms_sigma: float = 0.0, change_coordinate_frame: bool = False):
    """Batched NMS. boxes [B, N, q, 4], scores [B, N, C], clip_window [4] or [B, 4].

    Returns (boxes [B, M, 4], scores [B, M], classes [B, M], additional_fields {k: [B, M, ...]},
    num_detections [B] int32) with M = max_total_size, zero-padded as the OD API does.
    """
    if not max_total_size:
        raise ValueError("batch_multiclass_non_max_suppression: max_total_size must be positive")
    additional_fields = dict(additional_fields or {})
    batch_size = tf.shape(boxes)[0]
    if clip_window is None:
        # The OD API's default window: the extent of all boxes of the whole batch.
        clip_window = tf.stack([tf.reduce_min(boxes[..., 0]), tf.reduce_min(boxes[..., 1]),
                                tf.reduce_max(boxes[..., 2]), tf.reduce_max(boxes[..., 3])])
    if clip_window.shape.rank == 1:
        clip_window = tf.tile(clip_window[None], [batch_size, 1])
    keys = sorted(additional_fields)

    def one_image(args):
        image_boxes, image_scores, image_window = args[:3]
        fields = dict(zip(keys, args[3:]))
        nms_boxes, nms_fields, num_valid = multiclass_non_max_suppression(
            image_boxes, image_scores, score_thresh, iou_thresh, max_size_per_class, max_total_size,
            clip_window=image_window, additional_fields=fields, soft_nms_sigma=soft_nms_sigma,
            change_coordinate_frame=change_coordinate_frame)
        nms_boxes, nms_fields = box_ops.pad_or_clip(nms_boxes, nms_fields, max_total_size)
        return ([nms_boxes, nms_fields["scores"], nms_fields["classes"]] + [nms_fields[k] for k in keys]
                + [num_valid])

    elems = [boxes, scores, clip_window] + [additional_fields[k] for k in keys]
    signature = ([tf.TensorSpec([max_total_size, 4], tf.float32), tf.TensorSpec([max_total_size], tf.float32),
                  tf.TensorSpec([max_total_size], tf.float32)]
                 + [tf.TensorSpec([max_total_size] + additional_fields[k].shape[2:].as_list(),
                                  additional_fields[k].dtype) for k in keys]
                 + [tf.TensorSpec([], tf.int32)])
    if boxes.shape[0] is not None:
        # Static batch: unroll as the OD API's static_or_dynamic_map_fn does.
        per_image = [one_image([e[i] for e in elems]) for i in range(boxes.shape[0])]
        outputs = [tf.stack(list(parts)) for parts in zip(*per_image)]
    else:
        outputs = tf.map_fn(one_image, elems, fn_output_signature=signature)
    nmsed_boxes, nmsed_scores, nmsed_classes = outputs[:3]
    nmsed_fields = dict(zip(keys, outputs[3:-1]))
    return nmsed_boxes, nmsed_scores, nmsed_classes, nmsed_fields, outputs[-1]
