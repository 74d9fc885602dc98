"""Faster R-CNN first stage: the region proposal network (RPN).

On the proposal feature maps (one, or one per FPN level): grid anchors in absolute pixels of the padded input,
the RPN head (3x3 conv with ReLU6, then per-anchor box encodings and two-class objectness logits), proposals
(decode + first-stage NMS with the true image as clip window) and the RPN losses (a balanced sample of anchors,
smooth L1 + softmax, each image normalized by its sample size).

The head's layers are attributes of FasterRCNNMetaArch, whose attribute names are the OD API's checkpoint keys;
build_rpn_head makes them and RegionProposalNetwork runs them.
"""
from typing import Callable, Dict, List, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.core import box_ops
from tfsynth.core.losses import WeightedSmoothL1LocalizationLoss, WeightedSoftmaxClassificationLoss
from tfsynth.meta_architectures.faster_rcnn_boxes import batch_decode, clip_windows, combined_shape
from tfsynth.models import box_predictors

RPN_LOCALIZATION_LOSS = "Loss/RPNLoss/localization_loss"
RPN_OBJECTNESS_LOSS = "Loss/RPNLoss/objectness_loss"


def prune_outside_window(boxes: tf.Tensor, window: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Boxes entirely inside window and their indices (the OD API's prune_outside_window)."""
    y_min, x_min, y_max, x_max = tf.split(boxes, 4, axis=1)
    win_y_min, win_x_min, win_y_max, win_x_max = tf.unstack(window)
    violations = tf.concat([tf.less(y_min, win_y_min), tf.less(x_min, win_x_min),
                            tf.greater(y_max, win_y_max), tf.greater(x_max, win_x_max)], 1)
    keep = tf.reshape(tf.where(tf.logical_not(tf.reduce_any(violations, 1))), [-1])
    return tf.gather(boxes, keep), keep


def build_rpn_head(anchors_per_location: List[int], box_code_size: int, hyperparams, kernel_size: int, depth: int,
                   atrous_rate: int, is_training: bool,
                   freeze_batchnorm: bool) -> Tuple[keras.Sequential, box_predictors.ConvolutionalBoxPredictor]:
    """(the shared 3x3 RPN conv, the box/objectness predictor), with the OD API's layer names."""
    first_conv = keras.Sequential([
        keras.layers.Conv2D(depth, kernel_size=[kernel_size] * 2, dilation_rate=atrous_rate, padding="SAME",
                            name="RPNConv", **hyperparams.params()),
        hyperparams.build_batch_norm(training=(is_training and not freeze_batchnorm), name="RPNBatchNorm"),
        keras.layers.Lambda(tf.nn.relu6, name="RPNActivation"),
    ], name="FirstStageRPNFeatures")
    predictor = box_predictors.ConvolutionalBoxPredictor(
        is_training=is_training, num_classes=1,
        box_prediction_heads=[box_predictors.ConvolutionalBoxHead(
            is_training=is_training, box_code_size=box_code_size, kernel_size=1, num_predictions_per_location=n,
            conv_hyperparams=hyperparams, freeze_batchnorm=freeze_batchnorm, name=f"ConvolutionalBoxHead_{i}")
            for i, n in enumerate(anchors_per_location)],
        class_prediction_heads=[box_predictors.ConvolutionalClassHead(
            is_training=is_training, num_class_slots=2, use_dropout=False, dropout_keep_prob=1.0, kernel_size=1,
            num_predictions_per_location=n, conv_hyperparams=hyperparams, freeze_batchnorm=freeze_batchnorm,
            name=f"ConvolutionalClassHead_{i}") for i, n in enumerate(anchors_per_location)],
        conv_hyperparams=hyperparams, num_layers_before_predictor=0, min_depth=0, max_depth=0,
        freeze_batchnorm=freeze_batchnorm, inplace_batchnorm_update=False, name="FirstStageBoxPredictor")
    return first_conv, predictor


class RegionProposalNetwork:
    """Runs the RPN head, turns its outputs into proposals and scores them against the groundtruth.

    A plain object, not a Keras layer: the layers it runs are tracked (and named in checkpoints) by the model.
    """

    def __init__(self, first_conv: keras.Sequential, box_predictor: box_predictors.ConvolutionalBoxPredictor,
                 anchor_generator, target_assigner, sampler, minibatch_size: int, non_max_suppression_fn: Callable,
                 localization_loss_weight: float, objectness_loss_weight: float, is_training: bool):
        self._first_conv = first_conv
        self._box_predictor = box_predictor
        self._anchor_generator = anchor_generator
        self._target_assigner = target_assigner
        self._sampler = sampler
        self._minibatch_size = minibatch_size
        self._nms_fn = non_max_suppression_fn
        self._localization_loss = WeightedSmoothL1LocalizationLoss()
        self._objectness_loss = WeightedSoftmaxClassificationLoss()
        self._localization_loss_weight = localization_loss_weight
        self._objectness_loss_weight = objectness_loss_weight
        self._is_training = is_training

    def predict(self, features_to_crop: List[tf.Tensor], image_shape: tf.Tensor, prune_anchors: bool) -> Dict:
        """Head outputs on the proposal feature maps, and the anchors they refer to.

        prune_anchors drops anchors that cross the image (the paper's training); otherwise anchors are clipped
        to it. Returns rpn_box_predictor_features, rpn_box_encodings [B, A, 4],
        rpn_objectness_predictions_with_background [B, A, 2] and anchors [A, 4] (absolute pixels).
        """
        feature_map_shapes = []
        box_predictor_features = []
        for level_features in features_to_crop:
            level_shape = tf.shape(level_features)
            feature_map_shapes.append((level_shape[1], level_shape[2]))
            box_predictor_features.append(self._first_conv(level_features, training=self._is_training))
        anchors = tf.concat(self._anchor_generator.generate(feature_map_shapes), 0)
        predictions = self._box_predictor(box_predictor_features, training=self._is_training)
        box_encodings = tf.squeeze(tf.concat(predictions[box_predictors.BOX_ENCODINGS], axis=1), axis=2)
        objectness = tf.concat(predictions[box_predictors.CLASS_PREDICTIONS_WITH_BACKGROUND], axis=1)
        image_window = tf.cast(tf.stack([0, 0, image_shape[1], image_shape[2]]), tf.float32)
        if prune_anchors:
            anchors, keep = prune_outside_window(anchors, image_window)
            box_encodings = tf.gather(box_encodings, keep, axis=1)
            objectness = tf.gather(objectness, keep, axis=1)
        else:
            # The OD API also drops anchors left with zero area at inference (without static shapes); a grid
            # anchor's centre lies inside the image, so none ever is, and keeping them keeps shapes aligned.
            anchors, _ = box_ops.clip_to_window(anchors, {}, image_window, filter_nonoverlapping=False)
        return {
            "rpn_box_predictor_features": box_predictor_features,
            "rpn_box_encodings": tf.cast(box_encodings, tf.float32),
            "rpn_objectness_predictions_with_background": tf.cast(objectness, tf.float32),
            "anchors": anchors,
        }

    @property
    def box_coder(self):
        """The coder of the RPN's box encodings (the first-stage target assigner's)."""
        return self._target_assigner.box_coder

    def propose(self, box_encodings: tf.Tensor, objectness_logits: tf.Tensor, anchors: tf.Tensor,
                true_image_shapes: tf.Tensor):
        """Decoded anchors through the first-stage NMS, each image clipped to its true shape.

        Returns absolute (proposal_boxes [B, P, 4], proposal_scores [B, P], multiclass_scores [B, P, 2],
        num_proposals [B], every decoded anchor [B, A, 4], objectness softmax [B, A, 2]). At training the
        proposals carry no gradient: the second stage learns from them as given.
        """
        box_encodings = tf.expand_dims(box_encodings, axis=2)
        batch_size = combined_shape(box_encodings)[0]
        tiled_anchors = tf.tile(tf.expand_dims(anchors, 0), [batch_size, 1, 1])
        decoded = tf.squeeze(batch_decode(self.box_coder, box_encodings, tiled_anchors), axis=2)
        objectness_softmax = tf.nn.softmax(objectness_logits)
        proposal_boxes, proposal_scores, _, nmsed_fields, num_proposals = self._nms_fn(
            tf.expand_dims(decoded, axis=2), tf.expand_dims(objectness_softmax[:, :, 1], axis=2),
            additional_fields={"multiclass_scores": objectness_softmax},
            clip_window=clip_windows(true_image_shapes))
        if self._is_training:
            proposal_boxes = tf.stop_gradient(proposal_boxes)
        return (proposal_boxes, proposal_scores, nmsed_fields["multiclass_scores"], num_proposals, decoded,
                objectness_softmax)

    def loss(self, box_encodings: tf.Tensor, objectness_logits: tf.Tensor, anchors: tf.Tensor,
             groundtruth_boxes: List[tf.Tensor], groundtruth_weights: List[tf.Tensor],
             losses_mask) -> Dict[str, tf.Tensor]:
        """RPN localization and objectness losses over a balanced sample of each image's anchors."""
        assigned = [self._target_assigner.assign(anchors, boxes, None, groundtruth_weights=weights)
                    for boxes, weights in zip(groundtruth_boxes, groundtruth_weights)]
        cls_targets, cls_weights, reg_targets, reg_weights, _ = (tf.stack(list(parts)) for parts in zip(*assigned))
        cls_weights = tf.reduce_mean(cls_weights, axis=2)
        cls_targets = tf.squeeze(cls_targets, axis=2)
        sampled = tf.cast(tf.stack([
            self._sampler.subsample(tf.cast(weights, tf.bool), self._minibatch_size, tf.cast(targets, tf.bool))
            for targets, weights in zip(tf.unstack(cls_targets), tf.unstack(cls_weights))]), tf.float32)
        # Each image's losses are averaged over its own sample, so images with few anchors weigh the same.
        sample_sizes = tf.maximum(tf.reduce_sum(sampled, axis=1), 1.0)
        localization_losses = self._localization_loss(box_encodings, reg_targets, weights=sampled * reg_weights,
                                                      losses_mask=losses_mask)
        objectness_losses = self._objectness_loss(
            objectness_logits, tf.one_hot(tf.cast(cls_targets, tf.int32), depth=2),
            weights=tf.expand_dims(sampled, axis=-1), losses_mask=losses_mask)
        localization_loss = tf.reduce_mean(tf.reduce_sum(localization_losses, axis=1) / sample_sizes)
        objectness_loss = tf.reduce_mean(tf.reduce_sum(objectness_losses, axis=1) / sample_sizes)
        return {RPN_LOCALIZATION_LOSS: tf.multiply(self._localization_loss_weight, localization_loss),
                RPN_OBJECTNESS_LOSS: tf.multiply(self._objectness_loss_weight, objectness_loss)}
