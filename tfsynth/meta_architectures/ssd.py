"""SSD meta-architecture (the OD API's SSDMetaArch, TF2/Keras path).

preprocess: resize each image with the configured resizer, then the feature extractor's normalization.
predict: feature maps -> anchors (one grid per map) -> box predictor; returns preprocessed_inputs, feature_maps,
anchors, final_anchors, box_encodings [B, A, code], class_predictions_with_background [B, A, C+1].
postprocess: decode boxes, score conversion, drop the background column, batch multi-class NMS with the clip
window of the true image shape. loss: target assignment, localization and classification losses, optional hard
example mining, normalization by the number of matches (and the code size) as configured.
"""
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from tfsynth.core import standard_fields as fields
from tfsynth.core import target_assigner as target_assigner_lib
from tfsynth.core.model import DetectionModel


def resize_images_and_return_shapes(inputs: tf.Tensor, image_resizer_fn: Callable):
    """Applies image_resizer_fn (one image -> (resized, [h, w, c])) to each image of the batch."""
    if inputs.dtype is not tf.float32:
        raise ValueError(f"preprocess expects float32 images, got {inputs.dtype.name}")
    if inputs.shape[0] is not None:
        outputs = [image_resizer_fn(image) for image in tf.unstack(inputs)]
        return tf.stack([o[0] for o in outputs]), tf.stack([o[1] for o in outputs])
    resized, shapes = tf.map_fn(image_resizer_fn, inputs, fn_output_signature=(tf.float32, tf.int32))
    return resized, shapes


class SSDMetaArch(DetectionModel):
    """Single-shot detector. Attribute names _feature_extractor and _box_predictor are checkpoint keys."""

    def __init__(self, is_training: bool, anchor_generator, box_predictor, box_coder, feature_extractor,
                 encode_background_as_zeros: bool, image_resizer_fn: Callable, non_max_suppression_fn: Callable,
                 score_conversion_fn: Callable, classification_loss, localization_loss,
                 classification_loss_weight: float, localization_loss_weight: float,
                 normalize_loss_by_num_matches: bool, hard_example_miner, target_assigner_instance,
                 add_summaries: bool = True, normalize_loc_loss_by_codesize: bool = False,
                 freeze_batchnorm: bool = False, inplace_batchnorm_update: bool = False,
                 add_background_class: bool = True, explicit_background_class: bool = False):
        super().__init__(num_classes=box_predictor.num_classes)
        if add_background_class and explicit_background_class:
            raise ValueError("add_background_class and explicit_background_class cannot both be true")
        self._is_training = is_training
        self._freeze_batchnorm = freeze_batchnorm
        self._inplace_batchnorm_update = inplace_batchnorm_update
        self._anchor_generator = anchor_generator
        self._box_predictor = box_predictor
        self._box_coder = box_coder
        self._feature_extractor = feature_extractor
        self._add_background_class = add_background_class
        self._explicit_background_class = explicit_background_class
        background = [0] if encode_background_as_zeros else [1]
        num_foreground = self.num_classes if add_background_class else self.num_classes - 1
        self._unmatched_class_label = tf.constant(background + num_foreground * [0], tf.float32)
        self._target_assigner = target_assigner_instance
        self._classification_loss = classification_loss
        self._localization_loss = localization_loss
        self._classification_loss_weight = classification_loss_weight
        self._localization_loss_weight = localization_loss_weight
        self._normalize_loss_by_num_matches = normalize_loss_by_num_matches
        self._normalize_loc_loss_by_codesize = normalize_loc_loss_by_codesize
        self._hard_example_miner = hard_example_miner
        self._image_resizer_fn = image_resizer_fn
        self._non_max_suppression_fn = non_max_suppression_fn
        self._score_conversion_fn = score_conversion_fn
        self._add_summaries = add_summaries
        self._anchors: Optional[tf.Tensor] = None

    @property
    def anchors(self) -> tf.Tensor:
        if self._anchors is None:
            raise RuntimeError("anchors have not been constructed yet (call predict first)")
        return self._anchors

    @property
    def feature_extractor(self):
        return self._feature_extractor

    def preprocess(self, inputs: tf.Tensor):
        """Images (0..255) -> (normalized and resized images, true image shapes).

        Normalizes first, then resizes, as the OD API's SSD does (its Faster R-CNN does the reverse): a resizer that
        pads (keep_aspect_ratio_resizer's pad_to_max_dimension, EfficientDet's) pads with 0 in normalized units.
        """
        return resize_images_and_return_shapes(self._feature_extractor.preprocess(inputs), self._image_resizer_fn)

    def predict(self, preprocessed_inputs: tf.Tensor, true_image_shapes=None, **side_inputs) -> Dict:
        feature_maps = self._feature_extractor(preprocessed_inputs, training=self._is_training)
        spatial_dims = [_static_or_dynamic(fm)[1:3] for fm in feature_maps]
        image_shape = _static_or_dynamic(preprocessed_inputs)
        anchors_per_map = self._anchor_generator.generate(spatial_dims, im_height=image_shape[1],
                                                          im_width=image_shape[2])
        self._anchors = tf.concat(anchors_per_map, 0)
        predictor_results = self._box_predictor(feature_maps, training=self._is_training)
        predictions = {
            "preprocessed_inputs": preprocessed_inputs,
            "feature_maps": feature_maps,
            "anchors": self._anchors,
            "final_anchors": tf.tile(self._anchors[None], [image_shape[0], 1, 1]),
        }
        for key, per_map in predictor_results.items():
            prediction = tf.concat(per_map, axis=1)
            if key == "box_encodings" and prediction.shape.rank == 4 and prediction.shape[2] == 1:
                prediction = tf.squeeze(prediction, axis=2)
            predictions[key] = prediction
        return predictions

    def _batch_decode(self, box_encodings: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        shape = _static_or_dynamic(box_encodings)
        tiled = tf.reshape(tf.tile(anchors[None], [shape[0], 1, 1]), [-1, 4])
        decoded = self._box_coder.decode(tf.reshape(box_encodings, [-1, self._box_coder.code_size]), tiled)
        return tf.reshape(decoded, tf.stack([shape[0], shape[1], 4]))

    @staticmethod
    def _compute_clip_window(preprocessed_images: tf.Tensor, true_image_shapes) -> tf.Tensor:
        if true_image_shapes is None:
            return tf.constant([0, 0, 1, 1], dtype=tf.float32)
        shape = _static_or_dynamic(preprocessed_images)
        true_heights, true_widths, _ = tf.unstack(tf.cast(true_image_shapes, dtype=tf.float32), axis=1)
        padded_height = tf.cast(shape[1], dtype=tf.float32)
        padded_width = tf.cast(shape[2], dtype=tf.float32)
        return tf.stack([tf.zeros_like(true_heights), tf.zeros_like(true_widths), true_heights / padded_height,
                         true_widths / padded_width], axis=1)

    def postprocess(self, prediction_dict: Dict, true_image_shapes) -> Dict:
        for key in ("box_encodings", "class_predictions_with_background"):
            if key not in prediction_dict:
                raise ValueError(f"postprocess: prediction_dict has no {key!r}")
        preprocessed_images = prediction_dict["preprocessed_inputs"]
        anchors = prediction_dict.get("anchors", self._anchors)
        detection_boxes = self._batch_decode(prediction_dict["box_encodings"], anchors)
        scores_with_background = self._score_conversion_fn(prediction_dict["class_predictions_with_background"])
        detection_scores = scores_with_background
        if self._add_background_class or self._explicit_background_class:
            detection_scores = detection_scores[:, :, 1:]
        batch_size = _static_or_dynamic(preprocessed_images)[0]
        num_anchors = _static_or_dynamic(anchors)[0]
        anchor_indices = tf.tile(tf.range(num_anchors)[None], [batch_size, 1])
        additional_fields = {"multiclass_scores": scores_with_background,
                             "anchor_indices": tf.cast(anchor_indices, tf.float32)}
        boxes, scores, classes, nmsed_fields, num_detections = self._non_max_suppression_fn(
            detection_boxes[:, :, None, :], detection_scores,
            clip_window=self._compute_clip_window(preprocessed_images, true_image_shapes),
            additional_fields=additional_fields)
        out = fields.DetectionResultFields
        return {
            out.detection_boxes: boxes,
            out.detection_scores: scores,
            out.detection_classes: classes,
            out.num_detections: tf.cast(num_detections, tf.float32),
            out.raw_detection_boxes: detection_boxes,
            out.raw_detection_scores: scores_with_background,
            out.detection_multiclass_scores: nmsed_fields["multiclass_scores"],
            out.detection_anchor_indices: tf.cast(nmsed_fields["anchor_indices"], tf.int32),
        }

    def _assign_targets(self):
        boxes = self.groundtruth_lists(fields.BoxListFields.boxes)
        classes = self.groundtruth_lists(fields.BoxListFields.classes)
        weights = (self.groundtruth_lists(fields.BoxListFields.weights)
                   if self.groundtruth_has_field(fields.BoxListFields.weights) else None)
        if self._add_background_class:
            classes = [tf.pad(one_hot, [[0, 0], [1, 0]], mode="CONSTANT") for one_hot in classes]
        return target_assigner_lib.batch_assign_targets(self._target_assigner, self.anchors, boxes, classes,
                                                        self._unmatched_class_label, weights)

    def loss(self, prediction_dict: Dict, true_image_shapes=None) -> Dict[str, tf.Tensor]:
        (batch_cls_targets, batch_cls_weights, batch_reg_targets, batch_reg_weights,
         batch_match) = self._assign_targets()
        losses_mask = None
        if self.groundtruth_has_field("is_annotated"):
            losses_mask = tf.stack(self.groundtruth_lists("is_annotated"))
        location_losses = self._localization_loss(prediction_dict["box_encodings"], batch_reg_targets,
                                                  ignore_nan_targets=True, weights=batch_reg_weights,
                                                  losses_mask=losses_mask)
        cls_losses = self._classification_loss(prediction_dict["class_predictions_with_background"],
                                               batch_cls_targets, weights=batch_cls_weights,
                                               losses_mask=losses_mask)
        if cls_losses.shape.rank == 3:  # per-class losses -> per-anchor
            cls_losses = tf.reduce_sum(cls_losses, axis=2)
        if self._hard_example_miner is not None:
            decoded = self._batch_decode(prediction_dict["box_encodings"], self.anchors)
            localization_loss, classification_loss = self._hard_example_miner(
                location_losses, cls_losses, tf.unstack(decoded), tf.unstack(batch_match))
        else:
            localization_loss = tf.reduce_sum(location_losses)
            classification_loss = tf.reduce_sum(cls_losses)
        per_match, per_coordinate = self._loss_normalizers(batch_reg_weights)
        return {
            fields.LOCALIZATION_LOSS: (self._localization_loss_weight / per_coordinate) * localization_loss,
            fields.CLASSIFICATION_LOSS: (self._classification_loss_weight / per_match) * classification_loss,
        }

    def _loss_normalizers(self, batch_reg_weights: tf.Tensor):
        """(classification, localization) divisors of the summed losses.

        normalize_loss_by_num_matches divides by the number of matched anchors in the batch (the summed
        regression weights), at least 1 so that a batch without matches still gives finite losses;
        normalize_loc_loss_by_codesize further divides localization by the code size, a per-coordinate average.
        """
        per_match = (tf.maximum(tf.cast(tf.reduce_sum(batch_reg_weights), tf.float32), 1.0)
                     if self._normalize_loss_by_num_matches else tf.constant(1.0, tf.float32))
        per_coordinate = per_match * self._box_coder.code_size if self._normalize_loc_loss_by_codesize else per_match
        return per_match, per_coordinate

    def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> Dict:
        """What a fine-tune checkpoint restores, as the OD API:

        classification: {'feature_extractor': the backbone} -- an image-classification checkpoint of the
            backbone (e.g. a TF2 keras MobileNetV2 checkpoint saved under 'feature_extractor').
        detection: {'model': Checkpoint(_feature_extractor=...)} -- from a detection checkpoint, the feature
            extractor only (backbone + extra feature maps); the box predictor is left to train from scratch, so
            the number of classes may differ.
        full: {'model': self} -- every variable, box predictor included (same architecture and classes).
        """
        if fine_tune_checkpoint_type == "classification":
            return {"feature_extractor": self._feature_extractor.classification_backbone}
        if fine_tune_checkpoint_type == "detection":
            return {"model": tf.train.Checkpoint(_feature_extractor=self._feature_extractor)}
        if fine_tune_checkpoint_type == "full":
            return {"model": self}
        raise ValueError(f"fine_tune_checkpoint_type {fine_tune_checkpoint_type!r} is not supported (expected "
                         f"classification, detection or full)")


def _static_or_dynamic(tensor: tf.Tensor) -> List:
    """The shape as a list with Python ints where static and scalar tensors where not."""
    static = tensor.shape.as_list()
    dynamic = tf.shape(tensor)
    return [dim if dim is not None else dynamic[i] for i, dim in enumerate(static)]
