"""DetectionModel: the OD API's abstract detection model interface (core/model.py), as a keras Layer.

A model is used as: images -> preprocess -> predict -> postprocess (inference), and for training
provide_groundtruth(...) then loss(predict(...), true_image_shapes). Checkpoints are object based: the attributes
of the concrete model (e.g. _feature_extractor, _box_predictor) are the checkpoint keys under `model/`.
"""
import abc
from typing import Dict, List, Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.core.standard_fields import BoxListFields, InputDataFields

# provide_groundtruth argument -> groundtruth_lists() field name.
_GROUNDTRUTH_FIELDS = {
    "groundtruth_boxes_list": BoxListFields.boxes,
    "groundtruth_classes_list": BoxListFields.classes,
    "groundtruth_masks_list": BoxListFields.masks,
    "groundtruth_keypoints_list": BoxListFields.keypoints,
    "groundtruth_weights_list": BoxListFields.weights,
    "groundtruth_confidences_list": BoxListFields.confidences,
    "groundtruth_is_crowd_list": BoxListFields.is_crowd,
    "groundtruth_group_of_list": "group_of",
    "groundtruth_area_list": InputDataFields.groundtruth_area,
    "is_annotated_list": "is_annotated",
}


class DetectionModel(keras.layers.Layer, metaclass=abc.ABCMeta):
    """Abstract detection model (the OD API's DetectionModel)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self._num_classes = num_classes
        self._groundtruth = {}

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def groundtruth_lists(self, field: str) -> List[tf.Tensor]:
        """The list of per-image groundtruth tensors of `field` given to provide_groundtruth."""
        if field not in self._groundtruth:
            raise RuntimeError(f"groundtruth field {field!r} has not been provided (call provide_groundtruth)")
        return self._groundtruth[field]

    def groundtruth_has_field(self, field: str) -> bool:
        return field in self._groundtruth

    def groundtruth_weights(self) -> List[tf.Tensor]:
        """The per-image [N_i] box weights given to provide_groundtruth, as float32; all 1 where none were given."""
        if self.groundtruth_has_field(BoxListFields.weights):
            return [tf.cast(weights, tf.float32) for weights in self.groundtruth_lists(BoxListFields.weights)]
        return [tf.ones(tf.shape(boxes)[:1]) for boxes in self.groundtruth_lists(BoxListFields.boxes)]

    @abc.abstractmethod
    def preprocess(self, inputs: tf.Tensor):
        """float32 images [batch, H, W, 3] (0..255) -> (preprocessed_inputs, true_image_shapes [batch, 3])."""

    @abc.abstractmethod
    def predict(self, preprocessed_inputs: tf.Tensor, true_image_shapes: tf.Tensor, **side_inputs) -> Dict:
        """Raw predictions (before post-processing)."""

    @abc.abstractmethod
    def postprocess(self, prediction_dict: Dict, true_image_shapes: tf.Tensor) -> Dict:
        """Detections: detection_boxes/scores/classes, num_detections, ..."""

    @abc.abstractmethod
    def loss(self, prediction_dict: Dict, true_image_shapes: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Scalar losses keyed 'Loss/...' against the provided groundtruth."""

    def provide_groundtruth(self, groundtruth_boxes_list: List[tf.Tensor], groundtruth_classes_list: List[tf.Tensor],
                            groundtruth_masks_list=None, groundtruth_keypoints_list=None,
                            groundtruth_weights_list=None, groundtruth_confidences_list=None,
                            groundtruth_is_crowd_list=None, groundtruth_group_of_list=None,
                            groundtruth_area_list=None, is_annotated_list=None, **unsupported) -> None:
        """Groundtruth of one batch: normalized [N_i, 4] boxes and one-hot (no background) [N_i, num_classes]
        classes per image, optional [N_i] weights etc. Other OD API groundtruth kinds raise."""
        given = {k: v for k, v in unsupported.items() if v is not None}
        if given:
            raise NotImplementedError(f"provide_groundtruth: {sorted(given)} not supported by tfsynth")
        values = dict(locals())
        self._groundtruth = {}
        for argument, field in _GROUNDTRUTH_FIELDS.items():
            if values[argument] is not None:
                self._groundtruth[field] = list(values[argument])

    def regularization_losses(self) -> List[tf.Tensor]:
        """The keras regularization losses of the model's layers."""
        return list(self.losses)

    def restore_map(self, fine_tune_checkpoint_type: str = "detection", load_all_detection_checkpoint_vars=False):
        raise NotImplementedError("TF1 name-based restore_map is not supported: TF2 checkpoints restore through "
                                  "restore_from_objects")

    @abc.abstractmethod
    def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> Dict:
        """Objects for tf.train.Checkpoint(**returned) to restore a fine-tune checkpoint into."""

    def updates(self) -> List:
        """TF2: batch-norm moving averages update in place during training calls; nothing to run separately."""
        return []

    def call(self, images: tf.Tensor) -> Dict:
        images, shapes = self.preprocess(images)
        return self.postprocess(self.predict(images, shapes), shapes)
