"""Faster R-CNN second-stage box predictor: the OD API's MaskRCNNKerasBoxPredictor with its MaskRCNNBoxHead and
MaskRCNNClassHead (box and class only; mask heads are not implemented).

Attribute and layer names are the OD API's, so checkpoint keys (_box_prediction_head/_box_encoder_layers/1/...)
and variable names (mask_rcnn_keras_box_predictor/mask_rcnn_box_head/BoxEncodingPredictor_dense/...) match.
"""
from typing import Dict, List

import tensorflow as tf
import tf_keras as keras

BOX_ENCODINGS = "box_encodings"
CLASS_PREDICTIONS_WITH_BACKGROUND = "class_predictions_with_background"


def _run(layers: List[keras.layers.Layer], features: tf.Tensor, is_training: bool) -> tf.Tensor:
    # Average-pool the ROI features spatially, then flatten -> (dropout) -> dense -> (batch norm).
    net = tf.reduce_mean(features, [1, 2], keepdims=True, name="AvgPool")
    for layer in layers:
        net = layer(net, training=is_training) if isinstance(layer, keras.layers.Dropout) else layer(net)
    return net


class MaskRCNNBoxHead(keras.layers.Layer):
    """Box encodings [K, 1, num_boxes, code_size]; num_boxes 1 when share_box_across_classes."""

    def __init__(self, is_training: bool, num_classes: int, fc_hyperparams, freeze_batchnorm: bool,
                 use_dropout: bool, dropout_keep_prob: float, box_code_size: int,
                 share_box_across_classes: bool = False, name: str = "mask_rcnn_box_head"):
        super().__init__(name=name)
        self._is_training = is_training
        self._box_code_size = box_code_size
        self._number_of_boxes = 1 if share_box_across_classes else num_classes
        self._box_encoder_layers = [keras.layers.Flatten()]
        if use_dropout:
            self._box_encoder_layers.append(keras.layers.Dropout(rate=1.0 - dropout_keep_prob))
        self._box_encoder_layers.append(keras.layers.Dense(self._number_of_boxes * box_code_size,
                                                           name="BoxEncodingPredictor_dense",
                                                           **fc_hyperparams.params(use_bias=True)))
        self._box_encoder_layers.append(fc_hyperparams.build_batch_norm(
            training=(is_training and not freeze_batchnorm), name="BoxEncodingPredictor_batchnorm"))

    def call(self, features):
        net = _run(self._box_encoder_layers, features, self._is_training)
        return tf.reshape(net, [-1, 1, self._number_of_boxes, self._box_code_size])


class MaskRCNNClassHead(keras.layers.Layer):
    """Class logits [K, 1, num_class_slots] (background first)."""

    def __init__(self, is_training: bool, num_class_slots: int, fc_hyperparams, freeze_batchnorm: bool,
                 use_dropout: bool, dropout_keep_prob: float, name: str = "mask_rcnn_class_head"):
        super().__init__(name=name)
        self._is_training = is_training
        self._num_class_slots = num_class_slots
        self._class_predictor_layers = [keras.layers.Flatten()]
        if use_dropout:
            self._class_predictor_layers.append(keras.layers.Dropout(rate=1.0 - dropout_keep_prob))
        self._class_predictor_layers.append(keras.layers.Dense(num_class_slots, name="ClassPredictor_dense",
                                                               **fc_hyperparams.params(use_bias=True)))
        self._class_predictor_layers.append(fc_hyperparams.build_batch_norm(
            training=(is_training and not freeze_batchnorm), name="ClassPredictor_batchnorm"))

    def call(self, features):
        net = _run(self._class_predictor_layers, features, self._is_training)
        return tf.reshape(net, [-1, 1, self._num_class_slots])


class MaskRCNNKerasBoxPredictor(keras.layers.Layer):
    """[box_classifier_features] -> {box_encodings: [K, 1, q, 4], class_predictions_with_background: [K, 1, C+1]}."""

    def __init__(self, is_training: bool, num_classes: int, freeze_batchnorm: bool, box_prediction_head,
                 class_prediction_head, name: str = "mask_rcnn_keras_box_predictor"):
        super().__init__(name=name)
        self._is_training = is_training
        self._num_classes = num_classes
        self._freeze_batchnorm = freeze_batchnorm
        self._box_prediction_head = box_prediction_head
        self._class_prediction_head = class_prediction_head

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def is_keras_model(self) -> bool:
        return True

    def call(self, image_features, prediction_stage: int = 2) -> Dict[str, tf.Tensor]:
        if len(image_features) != 1:
            raise ValueError(f"mask_rcnn_box_predictor: expects one feature map, got {len(image_features)}")
        if prediction_stage != 2:
            raise NotImplementedError("mask_rcnn_box_predictor: only the box/class stage (2) is implemented; "
                                      "instance mask prediction (Mask R-CNN) is not")
        features = image_features[0]
        return {BOX_ENCODINGS: self._box_prediction_head(features),
                CLASS_PREDICTIONS_WITH_BACKGROUND: self._class_prediction_head(features)}
