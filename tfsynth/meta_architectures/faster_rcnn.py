"""Faster R-CNN meta-architecture (the OD API's FasterRCNNMetaArch, TF2/Keras path; stages 1 and 2).

preprocess: resize each image (image_resizer), then the feature extractor's normalization.
predict, first stage: proposal features (one or more maps) -> RPN 3x3 conv (ReLU6) -> RPN box predictor (box
  encodings and objectness logits per anchor); grid anchors in absolute pixels of the padded input, clipped to it
  (clip_anchors_to_image, or always at inference) or pruned (training).
predict, second stage: decode + first-stage NMS (clip window = true image) -> proposals (at training, a balanced
  sample of second_stage_batch_size, unless a hard example miner is configured) -> crop_and_resize of the
  proposal features (native or matmul) + max pool -> box classifier features -> Mask R-CNN box predictor.
postprocess: decode refined boxes against the proposals, score conversion, batch NMS per class with the true
  image as clip window, boxes normalized to the true image.
loss: RPN (sampled anchors, smooth L1 + softmax) and box classifier (smooth L1 + configured classification loss,
  optional hard example mining), named as the OD API names them.

Attribute names are the OD API's and are the checkpoint keys: _feature_extractor_for_proposal_features,
_feature_extractor_for_box_classifier_features, _first_stage_box_predictor_first_conv,
_first_stage_box_predictor, _mask_rcnn_box_predictor.
"""
from typing import Callable, Dict, List, Optional, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.core import box_ops, post_processing
from tfsynth.core import standard_fields as fields
from tfsynth.core.losses import WeightedSmoothL1LocalizationLoss, WeightedSoftmaxClassificationLoss
from tfsynth.core.model import DetectionModel
from tfsynth.meta_architectures.ssd import resize_images_and_return_shapes
from tfsynth.models import box_predictors
from tfsynth.models.mask_rcnn_box_predictor import BOX_ENCODINGS, CLASS_PREDICTIONS_WITH_BACKGROUND

RPN_LOCALIZATION_LOSS = "Loss/RPNLoss/localization_loss"
RPN_OBJECTNESS_LOSS = "Loss/RPNLoss/objectness_loss"
BOX_CLASSIFIER_LOCALIZATION_LOSS = "Loss/BoxClassifierLoss/localization_loss"
BOX_CLASSIFIER_CLASSIFICATION_LOSS = "Loss/BoxClassifierLoss/classification_loss"


def scale_boxes(boxes: tf.Tensor, y_scale, x_scale) -> tf.Tensor:
    """[N, 4] boxes with y multiplied by y_scale and x by x_scale (the OD API's box_list_ops.scale)."""
    y_scale = tf.cast(y_scale, tf.float32)
    x_scale = tf.cast(x_scale, tf.float32)
    y_min, x_min, y_max, x_max = tf.split(boxes, 4, axis=1)
    return tf.concat([y_scale * y_min, x_scale * x_min, y_scale * y_max, x_scale * x_max], 1)


def to_normalized(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Absolute -> normalized as the OD API does it: multiplied by 1 / size (not divided)."""
    return scale_boxes(boxes, 1 / tf.cast(height, tf.float32), 1 / tf.cast(width, tf.float32))


def _map_images(fn: Callable, elems: List[tf.Tensor], dtype=tf.float32) -> tf.Tensor:
    """fn per image: unrolled for a static batch (the OD API's static_or_dynamic_map_fn), else tf.map_fn."""
    if elems[0].shape[0] is not None:
        return tf.stack([fn([e[i] for e in elems]) for i in range(elems[0].shape[0])])
    return tf.map_fn(fn, elems, fn_output_signature=dtype)


def _combined_shape(tensor: tf.Tensor) -> List:
    static = tensor.shape.as_list()
    dynamic = tf.shape(tensor)
    return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def prune_outside_window(boxes: tf.Tensor, window: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Boxes entirely inside window and their indices (the OD API's prune_outside_window)."""
    y_min, x_min, y_max, x_max = tf.split(boxes, 4, axis=1)
    win_y_min, win_x_min, win_y_max, win_x_max = tf.unstack(window)
    violations = tf.concat([tf.less(y_min, win_y_min), tf.less(x_min, win_x_min),
                            tf.greater(y_max, win_y_max), tf.greater(x_max, win_x_max)], 1)
    keep = tf.reshape(tf.where(tf.logical_not(tf.reduce_any(violations, 1))), [-1])
    return tf.gather(boxes, keep), keep


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
        self._proposal_target_assigner = first_stage_target_assigner
        self._detector_target_assigner = second_stage_target_assigner
        self._box_coder = first_stage_target_assigner.box_coder
        self._first_stage_anchor_generator = first_stage_anchor_generator
        self._first_stage_minibatch_size = first_stage_minibatch_size
        self._first_stage_sampler = first_stage_sampler
        self._first_stage_nms_fn = first_stage_non_max_suppression_fn
        self._first_stage_max_proposals = first_stage_max_proposals
        self._use_static_shapes = use_static_shapes
        self._first_stage_localization_loss = WeightedSmoothL1LocalizationLoss()
        self._first_stage_objectness_loss = WeightedSoftmaxClassificationLoss()
        self._first_stage_loc_loss_weight = first_stage_localization_loss_weight
        self._first_stage_obj_loss_weight = first_stage_objectness_loss_weight

        # Layer attributes in the OD API's order: model.variables lists them in this order.
        hyperparams = first_stage_box_predictor_arg_scope_fn
        self._first_stage_box_predictor_first_conv = keras.Sequential([
            keras.layers.Conv2D(first_stage_box_predictor_depth,
                                kernel_size=[first_stage_box_predictor_kernel_size] * 2,
                                dilation_rate=first_stage_atrous_rate, padding="SAME", name="RPNConv",
                                **hyperparams.params()),
            hyperparams.build_batch_norm(training=(is_training and not freeze_batchnorm), name="RPNBatchNorm"),
            keras.layers.Lambda(tf.nn.relu6, name="RPNActivation"),
        ], name="FirstStageRPNFeatures")
        anchors_per_location = first_stage_anchor_generator.num_anchors_per_location()
        self._first_stage_box_predictor = box_predictors.ConvolutionalBoxPredictor(
            is_training=is_training, num_classes=1,
            box_prediction_heads=[box_predictors.ConvolutionalBoxHead(
                is_training=is_training, box_code_size=self._box_coder.code_size, kernel_size=1,
                num_predictions_per_location=n, conv_hyperparams=hyperparams, freeze_batchnorm=freeze_batchnorm,
                name=f"ConvolutionalBoxHead_{i}") for i, n in enumerate(anchors_per_location)],
            class_prediction_heads=[box_predictors.ConvolutionalClassHead(
                is_training=is_training, num_class_slots=2, use_dropout=False, dropout_keep_prob=1.0,
                kernel_size=1, num_predictions_per_location=n, conv_hyperparams=hyperparams,
                freeze_batchnorm=freeze_batchnorm, name=f"ConvolutionalClassHead_{i}")
                for i, n in enumerate(anchors_per_location)],
            conv_hyperparams=hyperparams, num_layers_before_predictor=0, min_depth=0, max_depth=0,
            freeze_batchnorm=freeze_batchnorm, inplace_batchnorm_update=False, name="FirstStageBoxPredictor")

        self._crop_and_resize_fn = crop_and_resize_fn
        self._initial_crop_size = initial_crop_size
        self._maxpool_layer = None
        if maxpool_kernel_size:
            self._maxpool_layer = keras.layers.MaxPooling2D([maxpool_kernel_size] * 2, strides=maxpool_stride,
                                                            name="MaxPool2D")
        self._mask_rcnn_box_predictor = second_stage_mask_rcnn_box_predictor
        self._second_stage_batch_size = second_stage_batch_size
        self._second_stage_sampler = second_stage_sampler
        self._second_stage_nms_params = dict(second_stage_non_max_suppression_params)
        self._second_stage_score_conversion_fn = second_stage_score_conversion_fn
        self._second_stage_localization_loss = WeightedSmoothL1LocalizationLoss()
        self._second_stage_classification_loss = second_stage_classification_loss
        self._second_stage_loc_loss_weight = second_stage_localization_loss_weight
        self._second_stage_cls_loss_weight = second_stage_classification_loss_weight
        self._hard_example_miner = hard_example_miner
        self.clip_anchors_to_image = clip_anchors_to_image
        self._return_raw_detections_during_predict = return_raw_detections_during_predict
        self._output_final_box_features = output_final_box_features
        self._output_final_box_rpn_features = output_final_box_rpn_features
        self._anchors: Optional[tf.Tensor] = None

        self._feature_extractor_for_proposal_features = feature_extractor.get_proposal_feature_extractor_model(
            name="FirstStageFeatureExtractor")
        self._feature_extractor_for_box_classifier_features = None
        if number_of_stages >= 2:
            self._feature_extractor_for_box_classifier_features = (
                feature_extractor.get_box_classifier_feature_extractor_model(name="SecondStageFeatureExtractor"))

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def feature_extractor(self):
        return self._feature_extractor

    @property
    def max_num_proposals(self) -> int:
        """Proposals per image after the first stage: the sampled batch at training (without hard mining)."""
        if self._is_training and not self._hard_example_miner:
            return self._second_stage_batch_size
        return self._first_stage_max_proposals

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
    def _compute_clip_window(image_shapes: tf.Tensor) -> tf.Tensor:
        heights = image_shapes[:, 0]
        widths = image_shapes[:, 1]
        return tf.cast(tf.stack([tf.zeros_like(heights), tf.zeros_like(heights), heights, widths], axis=1),
                       tf.float32)

    @staticmethod
    def _image_batch_shape_2d(image_shape: tf.Tensor) -> tf.Tensor:
        return tf.tile(tf.expand_dims(image_shape[1:], 0), [image_shape[0], 1])

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
        feature_map_shapes = []
        rpn_box_predictor_features = []
        for level_features in rpn_features_to_crop:
            level_shape = tf.shape(level_features)
            feature_map_shapes.append((level_shape[1], level_shape[2]))
            rpn_box_predictor_features.append(
                self._first_stage_box_predictor_first_conv(level_features, training=self._is_training))
        anchors = tf.concat(self._first_stage_anchor_generator.generate(feature_map_shapes), 0)
        predictions = self._first_stage_box_predictor(rpn_box_predictor_features, training=self._is_training)
        rpn_box_encodings = tf.squeeze(tf.concat(predictions[box_predictors.BOX_ENCODINGS], axis=1), axis=2)
        rpn_objectness = tf.concat(predictions[box_predictors.CLASS_PREDICTIONS_WITH_BACKGROUND], axis=1)

        # The paper prunes anchors that cross the image at training time and clips them at inference.
        clip_window = tf.cast(tf.stack([0, 0, image_shape[1], image_shape[2]]), tf.float32)
        if self._is_training and not self.clip_anchors_to_image:
            anchors, keep = prune_outside_window(anchors, clip_window)
            rpn_box_encodings = tf.gather(rpn_box_encodings, keep, axis=1)
            rpn_objectness = tf.gather(rpn_objectness, keep, axis=1)
        else:
            # The OD API also drops anchors left with zero area at inference (without static shapes); a grid
            # anchor's centre lies inside the image, so none ever is, and keeping them keeps shapes aligned.
            anchors, _ = box_ops.clip_to_window(anchors, {}, clip_window, filter_nonoverlapping=False)
        self._anchors = anchors
        return {
            "rpn_box_predictor_features": rpn_box_predictor_features,
            "rpn_features_to_crop": rpn_features_to_crop,
            "image_shape": image_shape,
            "rpn_box_encodings": tf.cast(rpn_box_encodings, tf.float32),
            "rpn_objectness_predictions_with_background": tf.cast(rpn_objectness, tf.float32),
            "anchors": anchors,
            "feature_maps": rpn_features_to_crop,
        }

    def _predict_second_stage(self, rpn_box_encodings, rpn_objectness_predictions_with_background,
                              rpn_features_to_crop, anchors, image_shape, true_image_shapes) -> Dict:
        image_shape_2d = self._image_batch_shape_2d(image_shape)
        proposal_boxes_normalized, _, _, num_proposals, _, _ = self._postprocess_rpn(
            rpn_box_encodings, rpn_objectness_predictions_with_background, anchors, image_shape_2d,
            true_image_shapes)
        prediction_dict = self._box_prediction(rpn_features_to_crop, proposal_boxes_normalized, image_shape)
        prediction_dict["num_proposals"] = num_proposals
        return prediction_dict

    def _box_prediction(self, rpn_features_to_crop, proposal_boxes_normalized, image_shape) -> Dict:
        flattened_crops = self._compute_second_stage_input_feature_maps(rpn_features_to_crop,
                                                                        proposal_boxes_normalized, image_shape)
        box_classifier_features = self._feature_extractor_for_box_classifier_features(
            flattened_crops, training=self._is_training)
        box_predictions = self._mask_rcnn_box_predictor([box_classifier_features], prediction_stage=2)
        refined_box_encodings = tf.squeeze(box_predictions[BOX_ENCODINGS], axis=1)
        class_predictions_with_background = tf.squeeze(box_predictions[CLASS_PREDICTIONS_WITH_BACKGROUND], axis=1)
        absolute_proposal_boxes = _map_images(
            lambda args: scale_boxes(args[0], image_shape[1], image_shape[2]), [proposal_boxes_normalized])
        return {
            "refined_box_encodings": tf.cast(refined_box_encodings, tf.float32),
            "class_predictions_with_background": tf.cast(class_predictions_with_background, tf.float32),
            "proposal_boxes": absolute_proposal_boxes,
            "box_classifier_features": box_classifier_features,
            "proposal_boxes_normalized": proposal_boxes_normalized,
            "final_anchors": proposal_boxes_normalized,
        }

    @staticmethod
    def _fpn_box_levels(num_levels: int, image_shape, boxes_normalized) -> tf.Tensor:
        """FPN level of each box (the OD API's ops.fpn_feature_levels with unit scale level num_levels - 2)."""
        image_ratio = tf.sqrt(tf.cast(image_shape[1] * image_shape[2], tf.float32)) / 224.0
        height_width = boxes_normalized[:, :, 2:4] - boxes_normalized[:, :, 0:2]
        areas_sqrt = tf.sqrt(tf.reduce_prod(height_width, axis=2))
        levels = tf.cast(tf.math.floordiv(tf.math.log(areas_sqrt * image_ratio), tf.math.log(2.0)) + (num_levels - 2),
                         tf.int32)
        return tf.maximum(0, tf.minimum(num_levels - 1, levels))

    def _compute_second_stage_input_feature_maps(self, features_to_crop: List[tf.Tensor],
                                                 proposal_boxes_normalized: tf.Tensor, image_shape) -> tf.Tensor:
        box_levels = None
        if len(features_to_crop) != 1:
            box_levels = self._fpn_box_levels(len(features_to_crop), image_shape, proposal_boxes_normalized)
        crops = self._crop_and_resize_fn(features_to_crop, proposal_boxes_normalized, box_levels,
                                         [self._initial_crop_size, self._initial_crop_size])
        shape = _combined_shape(crops)
        crops = tf.reshape(crops, tf.stack([shape[0] * shape[1]] + shape[2:]))
        return self._maxpool_layer(crops) if self._maxpool_layer is not None else crops

    # -------------------------------------------------------------------------------------------- postprocess
    def _batch_decode_boxes(self, box_encodings: tf.Tensor, anchor_boxes: tf.Tensor) -> tf.Tensor:
        """[B, N, q, code] encodings against [B, N, 4] anchors -> [B, N, q, 4] boxes."""
        shape = _combined_shape(box_encodings)
        num_classes = shape[2]
        tiled_anchors = tf.tile(tf.expand_dims(anchor_boxes, 2), [1, 1, num_classes, 1])
        decoded = self._box_coder.decode(tf.reshape(box_encodings, [-1, self._box_coder.code_size]),
                                         tf.reshape(tiled_anchors, [-1, 4]))
        return tf.reshape(decoded, tf.stack([shape[0], shape[1], num_classes, 4]))

    def _postprocess_rpn(self, rpn_box_encodings_batch, rpn_objectness_predictions_with_background_batch, anchors,
                         image_shapes, true_image_shapes):
        """RPN outputs -> (normalized proposals [B, P, 4], scores, multiclass scores, num_proposals, raw
        normalized boxes, raw objectness softmax); P = max_num_proposals."""
        rpn_box_encodings_batch = tf.expand_dims(rpn_box_encodings_batch, axis=2)
        batch_size = _combined_shape(rpn_box_encodings_batch)[0]
        tiled_anchor_boxes = tf.tile(tf.expand_dims(anchors, 0), [batch_size, 1, 1])
        proposal_boxes = self._batch_decode_boxes(rpn_box_encodings_batch, tiled_anchor_boxes)
        raw_proposal_boxes = tf.squeeze(proposal_boxes, axis=2)
        rpn_objectness_softmax = tf.nn.softmax(rpn_objectness_predictions_with_background_batch)
        objectness = rpn_objectness_softmax[:, :, 1]
        clip_window = self._compute_clip_window(true_image_shapes)
        proposal_boxes, proposal_scores, _, nmsed_fields, num_proposals = self._first_stage_nms_fn(
            tf.expand_dims(raw_proposal_boxes, axis=2), tf.expand_dims(objectness, axis=2),
            additional_fields={"multiclass_scores": rpn_objectness_softmax}, clip_window=clip_window)
        if self._is_training:
            proposal_boxes = tf.stop_gradient(proposal_boxes)
            if not self._hard_example_miner and not self.groundtruth_has_field(fields.BoxListFields.boxes):
                # A forward pass without groundtruth (e.g. to create the variables): the best proposals, so the
                # second stage sees the shapes of training.
                size = self._second_stage_batch_size
                proposal_boxes = proposal_boxes[:, :size]
                proposal_scores = proposal_scores[:, :size]
                num_proposals = tf.minimum(num_proposals, size)
            elif not self._hard_example_miner:
                groundtruth_boxes, groundtruth_classes, _, groundtruth_weights = self._format_groundtruth_data(
                    image_shapes)
                proposal_boxes, proposal_scores, num_proposals = self._sample_box_classifier_batch(
                    proposal_boxes, proposal_scores, num_proposals, groundtruth_boxes, groundtruth_classes,
                    groundtruth_weights)

        def normalize(args):
            return to_normalized(args[0], args[1][0], args[1][1])
        normalized_proposal_boxes = _map_images(normalize, [proposal_boxes, image_shapes])
        raw_normalized_proposal_boxes = _map_images(normalize, [raw_proposal_boxes, image_shapes])
        return (normalized_proposal_boxes, proposal_scores, nmsed_fields["multiclass_scores"], num_proposals,
                raw_normalized_proposal_boxes, rpn_objectness_softmax)

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
        return self._postprocess_box_classifier(
            prediction_dict["refined_box_encodings"], prediction_dict["class_predictions_with_background"],
            prediction_dict["proposal_boxes"], prediction_dict["num_proposals"], true_image_shapes)

    def _postprocess_box_classifier(self, refined_box_encodings, class_predictions_with_background, proposal_boxes,
                                    num_proposals, image_shapes) -> Dict:
        refined_box_encodings_batch = tf.reshape(
            refined_box_encodings,
            [-1, self.max_num_proposals, refined_box_encodings.shape[1], self._box_coder.code_size])
        class_predictions_batch = tf.reshape(class_predictions_with_background,
                                             [-1, self.max_num_proposals, self.num_classes + 1])
        refined_decoded_boxes_batch = self._batch_decode_boxes(refined_box_encodings_batch, proposal_boxes)
        scores_with_background = self._second_stage_score_conversion_fn(class_predictions_batch)
        class_scores = tf.reshape(scores_with_background[:, :, 1:],
                                  [-1, self.max_num_proposals, self.num_classes])
        clip_window = self._compute_clip_window(image_shapes)
        batch_size = _combined_shape(class_scores)[0]
        proposal_indices = tf.tile(tf.range(self.max_num_proposals)[None], [batch_size, 1])
        additional_fields = {"multiclass_scores": scores_with_background,
                             "anchor_indices": tf.cast(proposal_indices, tf.float32)}
        nms_params = dict(self._second_stage_nms_params, change_coordinate_frame=True)
        boxes, scores, classes, nmsed_fields, num_detections = batch_nms_with_num_valid(
            refined_decoded_boxes_batch, class_scores, num_proposals, clip_window, additional_fields, nms_params)
        if refined_decoded_boxes_batch.shape[2] > 1:
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
            out.raw_detection_boxes: _map_images(normalize_and_clip, [raw_detection_boxes, image_shapes]),
            out.raw_detection_scores: scores_with_background,
        }

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
        if self.groundtruth_has_field(fields.BoxListFields.weights):
            weights = [tf.cast(w, tf.float32) for w in self.groundtruth_lists(fields.BoxListFields.weights)]
        else:
            weights = [tf.ones(tf.shape(c)[0]) for c in classes]
        return boxes, classes, masks, weights

    def _unmatched_class_label(self) -> tf.Tensor:
        return tf.constant([1] + self.num_classes * [0], tf.float32)

    def _sample_box_classifier_batch(self, proposal_boxes, proposal_scores, num_proposals, groundtruth_boxes,
                                     groundtruth_classes, groundtruth_weights):
        sampled_boxes, sampled_scores, sampled_counts = [], [], []
        for boxes, scores, num_valid, gt_boxes, gt_classes, gt_weights in zip(
                tf.unstack(proposal_boxes), tf.unstack(proposal_scores), tf.unstack(num_proposals),
                groundtruth_boxes, groundtruth_classes, groundtruth_weights):
            cls_targets, cls_weights, _, _, _ = self._detector_target_assigner.assign(
                boxes, gt_boxes, gt_classes, unmatched_class_label=self._unmatched_class_label(),
                groundtruth_weights=gt_weights)
            # Every valid proposal is a candidate when the IoU thresholds leave none; they are ignored in the loss.
            cls_weights = tf.reduce_mean(cls_weights, axis=-1)
            positive = tf.greater(tf.argmax(cls_targets, axis=1), 0)
            valid = tf.logical_and(tf.range(tf.shape(boxes)[0]) < num_valid, cls_weights > 0)
            selected = self._second_stage_sampler.subsample(valid, self._second_stage_batch_size, positive)
            keep = tf.reshape(tf.where(selected), [-1])
            kept_boxes, kept_fields = box_ops.gather(boxes, {"scores": scores}, keep)
            kept_boxes, kept_fields = box_ops.pad_or_clip(kept_boxes, kept_fields, self._second_stage_batch_size)
            sampled_boxes.append(kept_boxes)
            sampled_scores.append(kept_fields["scores"])
            sampled_counts.append(tf.minimum(tf.size(keep, out_type=tf.int32), self._second_stage_batch_size))
        return tf.stack(sampled_boxes), tf.stack(sampled_scores), tf.stack(sampled_counts)

    def loss(self, prediction_dict: Dict, true_image_shapes: tf.Tensor) -> Dict[str, tf.Tensor]:
        groundtruth_boxes, groundtruth_classes, _, groundtruth_weights = self._format_groundtruth_data(
            self._image_batch_shape_2d(prediction_dict["image_shape"]))
        loss_dict = self._loss_rpn(prediction_dict["rpn_box_encodings"],
                                   prediction_dict["rpn_objectness_predictions_with_background"],
                                   prediction_dict["anchors"], groundtruth_boxes, groundtruth_weights)
        if self._number_of_stages > 1:
            loss_dict.update(self._loss_box_classifier(
                prediction_dict["refined_box_encodings"], prediction_dict["class_predictions_with_background"],
                prediction_dict["proposal_boxes"], prediction_dict["num_proposals"], groundtruth_boxes,
                groundtruth_classes, groundtruth_weights))
        return loss_dict

    def _losses_mask(self) -> Optional[tf.Tensor]:
        if self.groundtruth_has_field("is_annotated"):
            return tf.stack(self.groundtruth_lists("is_annotated"))
        return None

    def _loss_rpn(self, rpn_box_encodings, rpn_objectness_predictions_with_background, anchors, groundtruth_boxes,
                  groundtruth_weights) -> Dict[str, tf.Tensor]:
        assigned = [self._proposal_target_assigner.assign(anchors, boxes, None, groundtruth_weights=weights)
                    for boxes, weights in zip(groundtruth_boxes, groundtruth_weights)]
        batch_cls_targets, batch_cls_weights, batch_reg_targets, batch_reg_weights, _ = (
            tf.stack(list(parts)) for parts in zip(*assigned))
        batch_cls_weights = tf.reduce_mean(batch_cls_weights, axis=2)
        batch_cls_targets = tf.squeeze(batch_cls_targets, axis=2)
        sampled = tf.cast(tf.stack([
            self._first_stage_sampler.subsample(tf.cast(weights, tf.bool), self._first_stage_minibatch_size,
                                                tf.cast(targets, tf.bool))
            for targets, weights in zip(tf.unstack(batch_cls_targets), tf.unstack(batch_cls_weights))]), tf.float32)
        # Normalized by the number of sampled anchors of each image.
        normalizer = tf.maximum(tf.reduce_sum(sampled, axis=1), 1.0)
        one_hot_targets = tf.one_hot(tf.cast(batch_cls_targets, tf.int32), depth=2)
        losses_mask = self._losses_mask()
        localization_losses = self._first_stage_localization_loss(
            rpn_box_encodings, batch_reg_targets, weights=sampled * batch_reg_weights, losses_mask=losses_mask)
        objectness_losses = self._first_stage_objectness_loss(
            rpn_objectness_predictions_with_background, one_hot_targets, weights=tf.expand_dims(sampled, axis=-1),
            losses_mask=losses_mask)
        localization_loss = tf.reduce_mean(tf.reduce_sum(localization_losses, axis=1) / normalizer)
        objectness_loss = tf.reduce_mean(tf.reduce_sum(objectness_losses, axis=1) / normalizer)
        return {RPN_LOCALIZATION_LOSS: tf.multiply(self._first_stage_loc_loss_weight, localization_loss),
                RPN_OBJECTNESS_LOSS: tf.multiply(self._first_stage_obj_loss_weight, objectness_loss)}

    def _loss_box_classifier(self, refined_box_encodings, class_predictions_with_background, proposal_boxes,
                             num_proposals, groundtruth_boxes, groundtruth_classes,
                             groundtruth_weights) -> Dict[str, tf.Tensor]:
        max_num_proposals = self.max_num_proposals
        paddings_indicator = tf.cast(tf.range(max_num_proposals)[None, :] < num_proposals[:, None], tf.float32)
        proposal_list = tf.unstack(proposal_boxes)
        batch_size = len(proposal_list)
        num_proposals_or_one = tf.cast(tf.maximum(num_proposals, 1)[:, None], tf.float32)
        normalizer = tf.tile(num_proposals_or_one, [1, max_num_proposals]) * batch_size
        assigned = [self._detector_target_assigner.assign(proposals, boxes, classes,
                                                          unmatched_class_label=self._unmatched_class_label(),
                                                          groundtruth_weights=weights)
                    for proposals, boxes, classes, weights in zip(proposal_list, groundtruth_boxes,
                                                                  groundtruth_classes, groundtruth_weights)]
        batch_cls_targets, batch_cls_weights, batch_reg_targets, batch_reg_weights, _ = (
            tf.stack(list(parts)) for parts in zip(*assigned))
        class_predictions_with_background = tf.reshape(class_predictions_with_background,
                                                       [batch_size, max_num_proposals, -1])
        if refined_box_encodings.shape[1] == 1:
            refined_encodings = tf.reshape(refined_box_encodings,
                                           [batch_size, max_num_proposals, self._box_coder.code_size])
        else:
            # Per-class boxes: the box of the (first) target class of each proposal; background rows give zeros
            # and carry no regression weight.
            target_class = tf.argmax(tf.reshape(batch_cls_targets, [batch_size * max_num_proposals, -1]), axis=1,
                                     output_type=tf.int32)
            with_background = tf.pad(refined_box_encodings, [[0, 0], [1, 0], [0, 0]])
            refined_encodings = tf.reshape(tf.gather(with_background, target_class[:, None], batch_dims=1),
                                           [batch_size, max_num_proposals, self._box_coder.code_size])
        losses_mask = self._losses_mask()
        loc_losses = self._second_stage_localization_loss(
            refined_encodings, batch_reg_targets, weights=batch_reg_weights, losses_mask=losses_mask) / normalizer
        cls_losses = self._second_stage_classification_loss(
            class_predictions_with_background, batch_cls_targets, weights=batch_cls_weights,
            losses_mask=losses_mask)
        if cls_losses.shape.rank == 3:
            cls_losses = tf.reduce_sum(cls_losses, axis=2)
        cls_losses = cls_losses / normalizer
        loc_loss = tf.reduce_sum(loc_losses * paddings_indicator)
        cls_loss = tf.reduce_sum(cls_losses * paddings_indicator)
        if self._hard_example_miner:
            loc_loss, cls_loss = self._unpad_proposals_and_apply_hard_mining(proposal_list, loc_losses, cls_losses,
                                                                             num_proposals)
        return {BOX_CLASSIFIER_LOCALIZATION_LOSS: tf.multiply(self._second_stage_loc_loss_weight, loc_loss),
                BOX_CLASSIFIER_CLASSIFICATION_LOSS: tf.multiply(self._second_stage_cls_loss_weight, cls_loss)}

    def _unpad_proposals_and_apply_hard_mining(self, proposal_list, loc_losses, cls_losses, num_proposals):
        # The OD API returns the mined losses of the first image only; summing over images equals it at batch 1
        # and keeps every image's loss at larger batches.
        mined_loc, mined_cls = [], []
        for boxes, image_loc, image_cls, num_valid in zip(proposal_list, tf.unstack(loc_losses),
                                                          tf.unstack(cls_losses), tf.unstack(num_proposals)):
            loc, cls = self._hard_example_miner(image_loc[None, :num_valid], image_cls[None, :num_valid],
                                                [boxes[:num_valid]])
            mined_loc.append(loc)
            mined_cls.append(cls)
        return tf.add_n(mined_loc), tf.add_n(mined_cls)

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
