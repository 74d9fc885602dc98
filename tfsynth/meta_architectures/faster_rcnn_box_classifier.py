"""Faster R-CNN second stage: the box classifier.

From the first stage's proposals: at training, a balanced sample of them (unless a hard example miner is
configured); crop_and_resize of the proposal features (FPN: each box from its level) and max pooling; the box
classifier feature extractor and the Mask R-CNN box predictor (refined box encodings per class, class logits with
background); detections (decode against the proposals, score conversion, per-class NMS with the true image as
clip window); and the box classifier losses (smooth L1 + the configured classification loss, each image
normalized by its number of proposals, optional hard example mining).

Its layers are attributes of FasterRCNNMetaArch, whose attribute names are the OD API's checkpoint keys;
BoxClassifier runs them.
"""
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from tfsynth.core import box_ops, post_processing
from tfsynth.core import standard_fields as fields
from tfsynth.core.losses import WeightedSmoothL1LocalizationLoss
from tfsynth.meta_architectures.faster_rcnn_boxes import (batch_decode, clip_windows, combined_shape, map_images,
                                                          scale_boxes, to_normalized)
from tfsynth.models.mask_rcnn_box_predictor import BOX_ENCODINGS, CLASS_PREDICTIONS_WITH_BACKGROUND

BOX_CLASSIFIER_LOCALIZATION_LOSS = "Loss/BoxClassifierLoss/localization_loss"
BOX_CLASSIFIER_CLASSIFICATION_LOSS = "Loss/BoxClassifierLoss/classification_loss"


def batch_nms_with_num_valid(boxes: tf.Tensor, scores: tf.Tensor, num_valid_boxes: tf.Tensor, clip_window: tf.Tensor,
                             additional_fields: Dict[str, tf.Tensor], nms_params: Dict):
    """batch_multiclass_non_max_suppression where image i only considers its first num_valid_boxes[i] boxes.

    Returns (boxes [B, M, 4], scores [B, M], classes [B, M], fields {k: [B, M, ...]}, num_detections [B]).
    """
    max_total_size = nms_params["max_total_size"]
    keys = sorted(additional_fields)

    def one_image(args):
        image_boxes, image_scores, num_valid, window = args[:4]
        image_fields = {k: v[:num_valid] for k, v in zip(keys, args[4:])}
        nms_boxes, nms_fields, num_detections = post_processing.multiclass_non_max_suppression(
            image_boxes[:num_valid], image_scores[:num_valid], nms_params["score_thresh"], nms_params["iou_thresh"],
            nms_params["max_size_per_class"], max_total_size, clip_window=window, additional_fields=image_fields,
            soft_nms_sigma=nms_params.get("soft_nms_sigma", 0.0),
            change_coordinate_frame=nms_params.get("change_coordinate_frame", False))
        nms_boxes, nms_fields = box_ops.pad_or_clip(nms_boxes, nms_fields, max_total_size)
        return ([nms_boxes, nms_fields["scores"], nms_fields["classes"]] + [nms_fields[k] for k in keys]
                + [num_detections])

    elems = [boxes, scores, num_valid_boxes, clip_window] + [additional_fields[k] for k in keys]
    if boxes.shape[0] is not None:
        outputs = [tf.stack(list(parts)) for parts in zip(*[one_image([e[i] for e in elems])
                                                             for i in range(boxes.shape[0])])]
    else:
        signature = ([tf.TensorSpec([max_total_size, 4], tf.float32), tf.TensorSpec([max_total_size], tf.float32),
                      tf.TensorSpec([max_total_size], tf.float32)]
                     + [tf.TensorSpec([max_total_size] + additional_fields[k].shape[2:].as_list(),
                                      additional_fields[k].dtype) for k in keys]
                     + [tf.TensorSpec([], tf.int32)])
        outputs = tf.map_fn(one_image, elems, fn_output_signature=signature)
    return outputs[0], outputs[1], outputs[2], dict(zip(keys, outputs[3:-1])), outputs[-1]


def fpn_box_levels(num_levels: int, image_shape, boxes_normalized: tf.Tensor) -> tf.Tensor:
    """FPN level of each box (the OD API's ops.fpn_feature_levels with unit scale level num_levels - 2)."""
    image_ratio = tf.sqrt(tf.cast(image_shape[1] * image_shape[2], tf.float32)) / 224.0
    height_width = boxes_normalized[:, :, 2:4] - boxes_normalized[:, :, 0:2]
    areas_sqrt = tf.sqrt(tf.reduce_prod(height_width, axis=2))
    levels = tf.cast(tf.math.floordiv(tf.math.log(areas_sqrt * image_ratio), tf.math.log(2.0)) + (num_levels - 2),
                     tf.int32)
    return tf.maximum(0, tf.minimum(num_levels - 1, levels))


def mine_hard_examples(hard_example_miner, proposal_list: List[tf.Tensor], loc_losses: tf.Tensor,
                       cls_losses: tf.Tensor, num_proposals: tf.Tensor):
    """(localization, classification) losses of the hard examples of each image's valid proposals, summed.

    The OD API returns the mined losses of the first image only; summing over images equals it at batch 1 and
    keeps every image's loss at larger batches.
    """
    mined_loc, mined_cls = [], []
    for boxes, image_loc, image_cls, num_valid in zip(proposal_list, tf.unstack(loc_losses), tf.unstack(cls_losses),
                                                      tf.unstack(num_proposals)):
        loc, cls = hard_example_miner(image_loc[None, :num_valid], image_cls[None, :num_valid], [boxes[:num_valid]])
        mined_loc.append(loc)
        mined_cls.append(cls)
    return tf.add_n(mined_loc), tf.add_n(mined_cls)


class BoxClassifier:
    """Selects the proposals to classify, classifies and refines them, and scores the result.

    A plain object, not a Keras layer: the layers it runs (box classifier feature extractor, Mask R-CNN box
    predictor) are tracked by the model. num_proposals is max_num_proposals: proposals per image after the first
    stage (padded).
    """

    def __init__(self, feature_extractor: Optional[Callable], box_predictor, crop_and_resize_fn: Callable,
                 initial_crop_size: int, maxpool_layer, target_assigner, sampler, batch_size: int,
                 max_num_proposals: int, non_max_suppression_params: Dict, score_conversion_fn: Optional[Callable],
                 localization_loss_weight: float, classification_loss_weight: float, classification_loss,
                 hard_example_miner, num_classes: int, box_coder, is_training: bool):
        self._feature_extractor = feature_extractor
        self._box_predictor = box_predictor
        self._crop_and_resize_fn = crop_and_resize_fn
        self._initial_crop_size = initial_crop_size
        self._maxpool_layer = maxpool_layer
        self._target_assigner = target_assigner
        self._sampler = sampler
        self._batch_size = batch_size
        self._max_num_proposals = max_num_proposals
        # Detections keep the proposals' absolute frame until NMS moves them into the clip window's frame.
        self._nms_params = dict(non_max_suppression_params, change_coordinate_frame=True)
        self._score_conversion_fn = score_conversion_fn
        self._localization_loss = WeightedSmoothL1LocalizationLoss()
        self._classification_loss = classification_loss
        self._localization_loss_weight = localization_loss_weight
        self._classification_loss_weight = classification_loss_weight
        self._hard_example_miner = hard_example_miner
        self._num_classes = num_classes
        self._box_coder = box_coder
        self._is_training = is_training

    @property
    def _unmatched_class_label(self) -> tf.Tensor:
        """Class targets of a proposal that matches no groundtruth: background."""
        return tf.constant([1] + self._num_classes * [0], tf.float32)

    # -------------------------------------------------------------------------------------- proposal selection
    def first_proposals(self, proposal_boxes: tf.Tensor, proposal_scores: tf.Tensor, num_proposals: tf.Tensor):
        """The best batch_size proposals of each image: a training forward pass without groundtruth (e.g. to
        create the variables) still gives the second stage the shapes of training."""
        size = self._batch_size
        return proposal_boxes[:, :size], proposal_scores[:, :size], tf.minimum(num_proposals, size)

    def sample_proposals(self, proposal_boxes, proposal_scores, num_proposals, groundtruth_boxes,
                         groundtruth_classes, groundtruth_weights):
        """A balanced sample (positives / negatives) of batch_size proposals per image, zero-padded."""
        sampled_boxes, sampled_scores, sampled_counts = [], [], []
        for boxes, scores, num_valid, gt_boxes, gt_classes, gt_weights in zip(
                tf.unstack(proposal_boxes), tf.unstack(proposal_scores), tf.unstack(num_proposals),
                groundtruth_boxes, groundtruth_classes, groundtruth_weights):
            cls_targets, cls_weights, _, _, _ = self._target_assigner.assign(
                boxes, gt_boxes, gt_classes, unmatched_class_label=self._unmatched_class_label,
                groundtruth_weights=gt_weights)
            # Every valid proposal is a candidate when the IoU thresholds leave none; they are ignored in the loss.
            cls_weights = tf.reduce_mean(cls_weights, axis=-1)
            positive = tf.greater(tf.argmax(cls_targets, axis=1), 0)
            valid = tf.logical_and(tf.range(tf.shape(boxes)[0]) < num_valid, cls_weights > 0)
            selected = self._sampler.subsample(valid, self._batch_size, positive)
            keep = tf.reshape(tf.where(selected), [-1])
            kept_boxes, kept_fields = box_ops.gather(boxes, {"scores": scores}, keep)
            kept_boxes, kept_fields = box_ops.pad_or_clip(kept_boxes, kept_fields, self._batch_size)
            sampled_boxes.append(kept_boxes)
            sampled_scores.append(kept_fields["scores"])
            sampled_counts.append(tf.minimum(tf.size(keep, out_type=tf.int32), self._batch_size))
        return tf.stack(sampled_boxes), tf.stack(sampled_scores), tf.stack(sampled_counts)

    # ------------------------------------------------------------------------------------------------ predict
    def input_features(self, features_to_crop: List[tf.Tensor], proposal_boxes_normalized: tf.Tensor,
                       image_shape) -> tf.Tensor:
        """[B * P, crop, crop, C] features of each proposal: crop_and_resize (from its FPN level), max pool."""
        box_levels = None
        if len(features_to_crop) != 1:
            box_levels = fpn_box_levels(len(features_to_crop), image_shape, proposal_boxes_normalized)
        crops = self._crop_and_resize_fn(features_to_crop, proposal_boxes_normalized, box_levels,
                                         [self._initial_crop_size, self._initial_crop_size])
        shape = combined_shape(crops)
        crops = tf.reshape(crops, tf.stack([shape[0] * shape[1]] + shape[2:]))
        return self._maxpool_layer(crops) if self._maxpool_layer is not None else crops

    def predict(self, features_to_crop: List[tf.Tensor], proposal_boxes_normalized: tf.Tensor,
                image_shape) -> Dict:
        """Refined box encodings [B * P, q, code] and class logits [B * P, C + 1] of each proposal, with the
        proposals in absolute pixels."""
        box_classifier_features = self._feature_extractor(
            self.input_features(features_to_crop, proposal_boxes_normalized, image_shape),
            training=self._is_training)
        box_predictions = self._box_predictor([box_classifier_features], prediction_stage=2)
        refined_box_encodings = tf.squeeze(box_predictions[BOX_ENCODINGS], axis=1)
        class_predictions_with_background = tf.squeeze(box_predictions[CLASS_PREDICTIONS_WITH_BACKGROUND], axis=1)
        absolute_proposal_boxes = map_images(
            lambda args: scale_boxes(args[0], image_shape[1], image_shape[2]), [proposal_boxes_normalized])
        return {
            "refined_box_encodings": tf.cast(refined_box_encodings, tf.float32),
            "class_predictions_with_background": tf.cast(class_predictions_with_background, tf.float32),
            "proposal_boxes": absolute_proposal_boxes,
            "box_classifier_features": box_classifier_features,
            "proposal_boxes_normalized": proposal_boxes_normalized,
            "final_anchors": proposal_boxes_normalized,
        }

    # -------------------------------------------------------------------------------------------- postprocess
    def postprocess(self, refined_box_encodings, class_predictions_with_background, proposal_boxes, num_proposals,
                    image_shapes) -> Dict:
        """Detections: refined boxes through per-class NMS, normalized to each image's true shape."""
        num_proposals_per_image = self._max_num_proposals
        refined_box_encodings_batch = tf.reshape(
            refined_box_encodings,
            [-1, num_proposals_per_image, refined_box_encodings.shape[1], self._box_coder.code_size])
        class_predictions_batch = tf.reshape(class_predictions_with_background,
                                             [-1, num_proposals_per_image, self._num_classes + 1])
        refined_decoded_boxes_batch = batch_decode(self._box_coder, refined_box_encodings_batch, proposal_boxes)
        scores_with_background = self._score_conversion_fn(class_predictions_batch)
        class_scores = tf.reshape(scores_with_background[:, :, 1:],
                                  [-1, num_proposals_per_image, self._num_classes])
        batch_size = combined_shape(class_scores)[0]
        proposal_indices = tf.tile(tf.range(num_proposals_per_image)[None], [batch_size, 1])
        additional_fields = {"multiclass_scores": scores_with_background,
                             "anchor_indices": tf.cast(proposal_indices, tf.float32)}
        boxes, scores, classes, nmsed_fields, num_detections = batch_nms_with_num_valid(
            refined_decoded_boxes_batch, class_scores, num_proposals, clip_windows(image_shapes), additional_fields,
            self._nms_params)
        if refined_decoded_boxes_batch.shape[2] > 1:
            # One box per class: the raw detection is the box of the best-scoring class.
            class_ids = tf.argmax(class_predictions_batch[:, :, 1:], axis=2, output_type=tf.int32)
            raw_detection_boxes = tf.gather(refined_decoded_boxes_batch, class_ids[:, :, None], batch_dims=2)[:, :, 0]
        else:
            raw_detection_boxes = tf.squeeze(refined_decoded_boxes_batch, axis=2)

        def normalize_and_clip(args):
            normalized = to_normalized(args[0], args[1][0], args[1][1])
            clipped, _ = box_ops.clip_to_window(normalized, {}, tf.constant([0.0, 0.0, 1.0, 1.0]),
                                                filter_nonoverlapping=False)
            return clipped
        out = fields.DetectionResultFields
        return {
            out.detection_boxes: boxes,
            out.detection_scores: scores,
            out.detection_classes: classes,
            out.detection_multiclass_scores: nmsed_fields["multiclass_scores"],
            out.detection_anchor_indices: tf.cast(nmsed_fields["anchor_indices"], tf.int32),
            out.num_detections: tf.cast(num_detections, tf.float32),
            out.raw_detection_boxes: map_images(normalize_and_clip, [raw_detection_boxes, image_shapes]),
            out.raw_detection_scores: scores_with_background,
        }

    # ------------------------------------------------------------------------------------------------- losses
    def loss(self, refined_box_encodings, class_predictions_with_background, proposal_boxes, num_proposals,
             groundtruth_boxes, groundtruth_classes, groundtruth_weights, losses_mask) -> Dict[str, tf.Tensor]:
        """Box classifier localization and classification losses over each image's valid proposals."""
        max_num_proposals = self._max_num_proposals
        paddings_indicator = tf.cast(tf.range(max_num_proposals)[None, :] < num_proposals[:, None], tf.float32)
        proposal_list = tf.unstack(proposal_boxes)
        batch_size = len(proposal_list)
        num_proposals_or_one = tf.cast(tf.maximum(num_proposals, 1)[:, None], tf.float32)
        normalizer = tf.tile(num_proposals_or_one, [1, max_num_proposals]) * batch_size
        assigned = [self._target_assigner.assign(proposals, boxes, classes,
                                                 unmatched_class_label=self._unmatched_class_label,
                                                 groundtruth_weights=weights)
                    for proposals, boxes, classes, weights in zip(proposal_list, groundtruth_boxes,
                                                                  groundtruth_classes, groundtruth_weights)]
        batch_cls_targets, batch_cls_weights, batch_reg_targets, batch_reg_weights, _ = (
            tf.stack(list(parts)) for parts in zip(*assigned))
        class_predictions_with_background = tf.reshape(class_predictions_with_background,
                                                       [batch_size, max_num_proposals, -1])
        code_size = self._box_coder.code_size
        if refined_box_encodings.shape[1] == 1:
            refined_encodings = tf.reshape(refined_box_encodings, [batch_size, max_num_proposals, code_size])
        else:
            # Per-class boxes: the box of the (first) target class of each proposal; background rows give zeros
            # and carry no regression weight.
            target_class = tf.argmax(tf.reshape(batch_cls_targets, [batch_size * max_num_proposals, -1]), axis=1,
                                     output_type=tf.int32)
            with_background = tf.pad(refined_box_encodings, [[0, 0], [1, 0], [0, 0]])
            refined_encodings = tf.reshape(tf.gather(with_background, target_class[:, None], batch_dims=1),
                                           [batch_size, max_num_proposals, code_size])
        loc_losses = self._localization_loss(
            refined_encodings, batch_reg_targets, weights=batch_reg_weights, losses_mask=losses_mask) / normalizer
        cls_losses = self._classification_loss(
            class_predictions_with_background, batch_cls_targets, weights=batch_cls_weights,
            losses_mask=losses_mask)
        if cls_losses.shape.rank == 3:
            cls_losses = tf.reduce_sum(cls_losses, axis=2)
        cls_losses = cls_losses / normalizer
        loc_loss = tf.reduce_sum(loc_losses * paddings_indicator)
        cls_loss = tf.reduce_sum(cls_losses * paddings_indicator)
        if self._hard_example_miner:
            loc_loss, cls_loss = mine_hard_examples(self._hard_example_miner, proposal_list, loc_losses, cls_losses,
                                                    num_proposals)
        return {BOX_CLASSIFIER_LOCALIZATION_LOSS: tf.multiply(self._localization_loss_weight, loc_loss),
                BOX_CLASSIFIER_CLASSIFICATION_LOSS: tf.multiply(self._classification_loss_weight, cls_loss)}
