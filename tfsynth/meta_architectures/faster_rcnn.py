"""Faster R-CNN meta-architecture (the OD API's FasterRCNNMetaArch, TF2/Keras path; stages 1 and 2): the glue.

The stages live in their own modules, as torchvision splits its Faster R-CNN:
    faster_rcnn_rpn.py             first stage: anchors, RPN head, proposals (decode + NMS), RPN losses
    faster_rcnn_box_classifier.py  second stage: proposal sampling, crop_and_resize + box classifier, detections,
                                   box classifier losses
    faster_rcnn_boxes.py           box helpers both use (absolute <-> normalized, batch decode, clip windows)
This module owns the layers (their attribute names are the OD API's checkpoint keys, assigned in the OD API's
order so model.variables lists them in that order), runs the feature extractors and passes tensors between the
stages:

preprocess: resize each image (image_resizer), then the feature extractor's normalization.
predict: proposal features -> RPN outputs and anchors (clipped to the padded input, or pruned at training unless
  clip_anchors_to_image); with two stages, proposals (at training a balanced sample of second_stage_batch_size,
  unless a hard example miner is configured) -> box classifier outputs.
postprocess: one stage: the proposals as detections; two: the box classifier's detections.
loss: RPN losses, and with two stages the box classifier losses, named as the OD API names them.

Checkpoint keys: _feature_extractor_for_proposal_features, _feature_extractor_for_box_classifier_features,
_first_stage_box_predictor_first_conv, _first_stage_box_predictor, _mask_rcnn_box_predictor.
"""
from typing import Callable, Dict, List, Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.core import standard_fields as fields
from tfsynth.core.model import DetectionModel
from tfsynth.meta_architectures.faster_rcnn_box_classifier import (BOX_CLASSIFIER_CLASSIFICATION_LOSS,
                                                                   BOX_CLASSIFIER_LOCALIZATION_LOSS, BoxClassifier,
                                                                   batch_nms_with_num_valid, mine_hard_examples)
from tfsynth.meta_architectures.faster_rcnn_boxes import (image_batch_shape_2d, normalize_per_image, scale_boxes,
                                                          to_normalized)
from tfsynth.meta_architectures.faster_rcnn_rpn import (RPN_LOCALIZATION_LOSS, RPN_OBJECTNESS_LOSS,
                                                        RegionProposalNetwork, build_rpn_head, prune_outside_window)
from tfsynth.meta_architectures.ssd import resize_images_and_return_shapes

__all__ = ["FasterRCNNMetaArch", "RPN_LOCALIZATION_LOSS", "RPN_OBJECTNESS_LOSS", "BOX_CLASSIFIER_LOCALIZATION_LOSS",
           "BOX_CLASSIFIER_CLASSIFICATION_LOSS", "scale_boxes", "to_normalized", "prune_outside_window",
           "batch_nms_with_num_valid"]


class FasterRCNNMetaArch(DetectionModel):
    """Two-stage detector (number_of_stages 1: RPN only; 2: RPN + box classifier)."""

    def __init__(self, is_training: bool, num_classes: int, image_resizer_fn: Callable, feature_extractor,
                 number_of_stages: int, first_stage_anchor_generator, first_stage_target_assigner,
                 first_stage_atrous_rate: int, first_stage_box_predictor_arg_scope_fn,
                 first_stage_box_predictor_kernel_size: int, first_stage_box_predictor_depth: int,
                 first_stage_minibatch_size: int, first_stage_sampler, first_stage_non_max_suppression_fn: Callable,
                 first_stage_max_proposals: int, first_stage_localization_loss_weight: float,
                 first_stage_objectness_loss_weight: float, crop_and_resize_fn: Callable, initial_crop_size: int,
                 maxpool_kernel_size: int, maxpool_stride: int, second_stage_target_assigner,
                 second_stage_mask_rcnn_box_predictor, second_stage_batch_size: int, second_stage_sampler,
                 second_stage_non_max_suppression_params: Dict, second_stage_score_conversion_fn: Callable,
                 second_stage_localization_loss_weight: float, second_stage_classification_loss_weight: float,
                 second_stage_classification_loss, hard_example_miner=None, clip_anchors_to_image: bool = False,
                 use_static_shapes: bool = False, freeze_batchnorm: bool = False,
                 return_raw_detections_during_predict: bool = False, output_final_box_features: bool = False,
                 output_final_box_rpn_features: bool = False):
        super().__init__(num_classes=num_classes)
        if number_of_stages not in (1, 2):
            raise NotImplementedError(f"faster_rcnn.number_of_stages = {number_of_stages}: only 1 (RPN) and 2 are "
                                      "implemented (3 is Mask R-CNN)")
        if is_training and not hard_example_miner and second_stage_batch_size > first_stage_max_proposals:
            raise ValueError(f"second_stage_batch_size ({second_stage_batch_size}) should be no greater than "
                             f"first_stage_max_proposals ({first_stage_max_proposals})")
        self._is_training = is_training
        self._image_resizer_fn = image_resizer_fn
        self._feature_extractor = feature_extractor
        self._number_of_stages = number_of_stages
        self._hard_example_miner = hard_example_miner
        self.clip_anchors_to_image = clip_anchors_to_image
        self._use_static_shapes = use_static_shapes
        self._return_raw_detections_during_predict = return_raw_detections_during_predict
        self._output_final_box_features = output_final_box_features
        self._output_final_box_rpn_features = output_final_box_rpn_features
        # At training the second stage sees the sampled batch; with hard mining (or at inference) every proposal.
        self._max_num_proposals = (second_stage_batch_size if is_training and not hard_example_miner
                                   else first_stage_max_proposals)
        self._anchors: Optional[tf.Tensor] = None

        # Layers in the OD API's attribute order: model.variables lists them in this order.
        self._first_stage_box_predictor_first_conv, self._first_stage_box_predictor = build_rpn_head(
            first_stage_anchor_generator.num_anchors_per_location(), first_stage_target_assigner.box_coder.code_size,
            first_stage_box_predictor_arg_scope_fn, first_stage_box_predictor_kernel_size,
            first_stage_box_predictor_depth, first_stage_atrous_rate, is_training, freeze_batchnorm)
        self._maxpool_layer = None
        if maxpool_kernel_size:
            self._maxpool_layer = keras.layers.MaxPooling2D([maxpool_kernel_size] * 2, strides=maxpool_stride,
                                                            name="MaxPool2D")
        self._mask_rcnn_box_predictor = second_stage_mask_rcnn_box_predictor
        self._feature_extractor_for_proposal_features = feature_extractor.get_proposal_feature_extractor_model(
            name="FirstStageFeatureExtractor")
        self._feature_extractor_for_box_classifier_features = None
        if number_of_stages >= 2:
            self._feature_extractor_for_box_classifier_features = (
                feature_extractor.get_box_classifier_feature_extractor_model(name="SecondStageFeatureExtractor"))

        self._rpn = RegionProposalNetwork(
            self._first_stage_box_predictor_first_conv, self._first_stage_box_predictor, first_stage_anchor_generator,
            first_stage_target_assigner, first_stage_sampler, first_stage_minibatch_size,
            first_stage_non_max_suppression_fn, first_stage_localization_loss_weight,
            first_stage_objectness_loss_weight, is_training)
        # Made for one-stage models too: at training their proposals are selected as a two-stage model's are.
        self._box_classifier = BoxClassifier(
            self._feature_extractor_for_box_classifier_features, self._mask_rcnn_box_predictor, crop_and_resize_fn,
            initial_crop_size, self._maxpool_layer, second_stage_target_assigner, second_stage_sampler,
            second_stage_batch_size, self._max_num_proposals, second_stage_non_max_suppression_params,
            second_stage_score_conversion_fn, second_stage_localization_loss_weight,
            second_stage_classification_loss_weight, second_stage_classification_loss, hard_example_miner,
            num_classes, first_stage_target_assigner.box_coder, is_training)

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def feature_extractor(self):
        return self._feature_extractor

    @property
    def max_num_proposals(self) -> int:
        """Proposals per image after the first stage: the sampled batch at training (without hard mining)."""
        return self._max_num_proposals

    @property
    def anchors(self) -> tf.Tensor:
        if self._anchors is None:
            raise RuntimeError("anchors have not been constructed yet (call predict first)")
        return self._anchors

    # ----------------------------------------------------------------------------------------------- preprocess
    def preprocess(self, inputs: tf.Tensor):
        resized, true_image_shapes = resize_images_and_return_shapes(inputs, self._image_resizer_fn)
        return self._feature_extractor.preprocess(resized), true_image_shapes

    @staticmethod
    def _image_batch_shape_2d(image_shape: tf.Tensor) -> tf.Tensor:
        return image_batch_shape_2d(image_shape)

    # -------------------------------------------------------------------------------------------------- predict
    def predict(self, preprocessed_inputs: tf.Tensor, true_image_shapes: tf.Tensor, **side_inputs) -> Dict:
        if side_inputs:
            raise NotImplementedError(f"faster_rcnn predict: side inputs {sorted(side_inputs)} (context R-CNN) are "
                                      "not supported")
        prediction_dict = self._predict_first_stage(preprocessed_inputs)
        if self._number_of_stages >= 2:
            prediction_dict.update(self._predict_second_stage(
                prediction_dict["rpn_box_encodings"], prediction_dict["rpn_objectness_predictions_with_background"],
                prediction_dict["rpn_features_to_crop"], prediction_dict["anchors"], prediction_dict["image_shape"],
                true_image_shapes))
        return prediction_dict

    def _predict_first_stage(self, preprocessed_inputs: tf.Tensor) -> Dict:
        image_shape = tf.shape(preprocessed_inputs)
        features = self._feature_extractor_for_proposal_features(preprocessed_inputs, training=self._is_training)
        rpn_features_to_crop = features if isinstance(features, list) else [features]
        # The paper prunes anchors that cross the image at training time and clips them at inference.
        rpn = self._rpn.predict(rpn_features_to_crop, image_shape,
                                prune_anchors=self._is_training and not self.clip_anchors_to_image)
        self._anchors = rpn["anchors"]
        return {
            "rpn_box_predictor_features": rpn["rpn_box_predictor_features"],
            "rpn_features_to_crop": rpn_features_to_crop,
            "image_shape": image_shape,
            "rpn_box_encodings": rpn["rpn_box_encodings"],
            "rpn_objectness_predictions_with_background": rpn["rpn_objectness_predictions_with_background"],
            "anchors": rpn["anchors"],
            "feature_maps": rpn_features_to_crop,
        }

    def _predict_second_stage(self, rpn_box_encodings, rpn_objectness_predictions_with_background,
                              rpn_features_to_crop, anchors, image_shape, true_image_shapes) -> Dict:
        image_shape_2d = image_batch_shape_2d(image_shape)
        proposal_boxes_normalized, _, _, num_proposals, _, _ = self._postprocess_rpn(
            rpn_box_encodings, rpn_objectness_predictions_with_background, anchors, image_shape_2d,
            true_image_shapes)
        prediction_dict = self._box_prediction(rpn_features_to_crop, proposal_boxes_normalized, image_shape)
        prediction_dict["num_proposals"] = num_proposals
        return prediction_dict

    def _box_prediction(self, rpn_features_to_crop, proposal_boxes_normalized, image_shape) -> Dict:
        return self._box_classifier.predict(rpn_features_to_crop, proposal_boxes_normalized, image_shape)

    # -------------------------------------------------------------------------------------------- postprocess
    def _postprocess_rpn(self, rpn_box_encodings_batch, rpn_objectness_predictions_with_background_batch, anchors,
                         image_shapes, true_image_shapes):
        """RPN outputs -> (normalized proposals [B, P, 4], scores, multiclass scores, num_proposals, raw
        normalized boxes, raw objectness softmax); P = max_num_proposals."""
        proposal_boxes, proposal_scores, multiclass_scores, num_proposals, raw_proposal_boxes, objectness_softmax = (
            self._rpn.propose(rpn_box_encodings_batch, rpn_objectness_predictions_with_background_batch, anchors,
                              true_image_shapes))
        if self._is_training and not self._hard_example_miner:
            if not self.groundtruth_has_field(fields.BoxListFields.boxes):
                proposal_boxes, proposal_scores, num_proposals = self._box_classifier.first_proposals(
                    proposal_boxes, proposal_scores, num_proposals)
            else:
                groundtruth_boxes, groundtruth_classes, _, groundtruth_weights = self._format_groundtruth_data(
                    image_shapes)
                proposal_boxes, proposal_scores, num_proposals = self._box_classifier.sample_proposals(
                    proposal_boxes, proposal_scores, num_proposals, groundtruth_boxes, groundtruth_classes,
                    groundtruth_weights)
        return (normalize_per_image(proposal_boxes, image_shapes), proposal_scores, multiclass_scores, num_proposals,
                normalize_per_image(raw_proposal_boxes, image_shapes), objectness_softmax)

    def postprocess(self, prediction_dict: Dict, true_image_shapes: tf.Tensor) -> Dict:
        out = fields.DetectionResultFields
        if self._number_of_stages == 1:
            boxes, scores, multiclass_scores, num_proposals, raw_boxes, raw_scores = self._postprocess_rpn(
                prediction_dict["rpn_box_encodings"], prediction_dict["rpn_objectness_predictions_with_background"],
                prediction_dict["anchors"], true_image_shapes, true_image_shapes)
            return {out.detection_boxes: boxes, out.detection_scores: scores,
                    out.detection_classes: tf.zeros_like(scores),
                    out.detection_multiclass_scores: multiclass_scores,
                    out.num_detections: tf.cast(num_proposals, tf.float32),
                    out.raw_detection_boxes: raw_boxes, out.raw_detection_scores: raw_scores}
        return self._box_classifier.postprocess(
            prediction_dict["refined_box_encodings"], prediction_dict["class_predictions_with_background"],
            prediction_dict["proposal_boxes"], prediction_dict["num_proposals"], true_image_shapes)

    # ----------------------------------------------------------------------------------------------- training
    def _format_groundtruth_data(self, image_shapes):
        """Groundtruth in absolute coordinates of the (padded) input, classes with a background column, weights."""
        boxes = [scale_boxes(b, image_shapes[i, 0], image_shapes[i, 1])
                 for i, b in enumerate(self.groundtruth_lists(fields.BoxListFields.boxes))]
        classes = [tf.cast(tf.pad(one_hot, [[0, 0], [1, 0]]), tf.float32)
                   for one_hot in self.groundtruth_lists(fields.BoxListFields.classes)]
        masks = None
        if self.groundtruth_has_field(fields.BoxListFields.masks):
            masks = self.groundtruth_lists(fields.BoxListFields.masks)
        return boxes, classes, masks, self.groundtruth_weights()

    def _losses_mask(self) -> Optional[tf.Tensor]:
        if self.groundtruth_has_field("is_annotated"):
            return tf.stack(self.groundtruth_lists("is_annotated"))
        return None

    def loss(self, prediction_dict: Dict, true_image_shapes: tf.Tensor) -> Dict[str, tf.Tensor]:
        groundtruth_boxes, groundtruth_classes, _, groundtruth_weights = self._format_groundtruth_data(
            image_batch_shape_2d(prediction_dict["image_shape"]))
        losses_mask = self._losses_mask()
        loss_dict = self._rpn.loss(prediction_dict["rpn_box_encodings"],
                                   prediction_dict["rpn_objectness_predictions_with_background"],
                                   prediction_dict["anchors"], groundtruth_boxes, groundtruth_weights, losses_mask)
        if self._number_of_stages > 1:
            loss_dict.update(self._box_classifier.loss(
                prediction_dict["refined_box_encodings"], prediction_dict["class_predictions_with_background"],
                prediction_dict["proposal_boxes"], prediction_dict["num_proposals"], groundtruth_boxes,
                groundtruth_classes, groundtruth_weights, losses_mask))
        return loss_dict

    def _unpad_proposals_and_apply_hard_mining(self, proposal_list, loc_losses, cls_losses, num_proposals):
        """The box classifier's hard example mining (kept under the OD API's method name)."""
        return mine_hard_examples(self._hard_example_miner, proposal_list, loc_losses, cls_losses, num_proposals)

    def regularization_losses(self) -> List[tf.Tensor]:
        return list(self.losses)

    def updates(self) -> List:
        return []

    def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> Dict:
        """What a fine-tune checkpoint restores, as the OD API:

        classification: {'feature_extractor': the full ResNet backbone} (an ImageNet classification checkpoint).
        detection: {'model': Checkpoint(_feature_extractor_for_proposal_features, _feature_extractor_for_box_
            classifier_features)}: the feature extractors of a detection checkpoint; RPN and box predictor train
            from scratch, so the number of classes may differ.
        full: {'model': self}: every variable (same architecture and classes).
        """
        if fine_tune_checkpoint_type == "classification":
            return {"feature_extractor": self._feature_extractor.classification_backbone}
        if fine_tune_checkpoint_type == "detection":
            extractors = {"_feature_extractor_for_proposal_features": self._feature_extractor_for_proposal_features,
                          "_feature_extractor_for_box_classifier_features":
                              self._feature_extractor_for_box_classifier_features}
            return {"model": tf.train.Checkpoint(**{k: v for k, v in extractors.items() if v is not None})}
        if fine_tune_checkpoint_type == "full":
            return {"model": self}
        raise ValueError(f"fine_tune_checkpoint_type {fine_tune_checkpoint_type!r} is not supported (expected "
                         "classification, detection or full)")
