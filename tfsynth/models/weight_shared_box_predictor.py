"""Weight-shared convolutional box predictor (RetinaNet-style heads of the OD API's FPN SSD configs).

One tower of num_layers_before_predictor convs (shared across FPN levels; batch norm per level) per head, or one
tower for both with share_prediction_tower, then a box head and a class head shared by every level. Follows the
OD API's Keras WeightSharedConvolutionalBoxPredictor layer for layer; its checkpoint keys have not been checked
against an OD API checkpoint (no golden reference for the FPN models).
Built from its proto message by tfsynth.builders.box_predictor_builder (models read no configuration).
"""
import collections
from typing import Dict, List

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.box_predictors import BOX_ENCODINGS, CLASS_PREDICTIONS_WITH_BACKGROUND
from tfsynth.models.layer_factory import fresh_initializer


def _conv(use_depthwise: bool, filters: int, kernel_size: int, name: str, hyperparams, use_bias: bool, **extra):
    kwargs = hyperparams.params(use_bias=use_bias)
    kwargs.update(extra)
    if use_depthwise:
        kwargs["depthwise_regularizer"] = kwargs["kernel_regularizer"]
        kwargs["depthwise_initializer"] = fresh_initializer(kwargs["kernel_initializer"])
        return keras.layers.SeparableConv2D(filters, [kernel_size, kernel_size], padding="SAME", name=name,
                                            **kwargs)
    return keras.layers.Conv2D(filters, [kernel_size, kernel_size], padding="SAME", name=name, **kwargs)


class WeightSharedConvolutionalHead(keras.layers.Layer):
    """Box ([B, HWA, code]) or class ([B, HWA, slots]) predictions, one conv shared by all levels."""

    def __init__(self, filters_per_location: int, num_predictions_per_location: int, kernel_size: int, hyperparams,
                 use_depthwise: bool, layer_name: str, bias_init: float = 0.0, dropout_keep_prob=None,
                 clip_range=None, name=None):
        super().__init__(name=name)
        self._filters_per_location = filters_per_location
        self._clip_range = clip_range
        layers = []
        if dropout_keep_prob is not None:
            layers.append(keras.layers.Dropout(rate=1.0 - dropout_keep_prob))
        layers.append(_conv(use_depthwise, num_predictions_per_location * filters_per_location, kernel_size,
                            layer_name, hyperparams, True, bias_initializer=keras.initializers.Constant(bias_init)))
        if layer_name == "BoxPredictor":
            self._box_encoder_layers = layers
        else:
            self._class_predictor_layers = layers
        self._layers_in_order = layers

    def call(self, features, training=None):
        out = features
        for layer in self._layers_in_order:
            out = layer(out, training=training) if isinstance(layer, keras.layers.Dropout) else layer(out)
        if self._clip_range is not None:
            out = tf.clip_by_value(out, self._clip_range[0], self._clip_range[1])
        batch = features.shape[0] if features.shape[0] is not None else tf.shape(features)[0]
        return tf.reshape(out, [batch, -1, self._filters_per_location])


class WeightSharedConvolutionalBoxPredictor(keras.layers.Layer):
    def __init__(self, is_training: bool, num_classes: int, box_prediction_head, class_prediction_head,
                 conv_hyperparams, depth: int, num_layers_before_predictor: int, freeze_batchnorm: bool,
                 kernel_size: int = 3, apply_batch_norm: bool = False, share_prediction_tower: bool = False,
                 use_depthwise: bool = False, name=None):
        super().__init__(name=name)
        self._is_training = is_training
        self._num_classes = num_classes
        self._freeze_batchnorm = freeze_batchnorm
        self._box_prediction_head = box_prediction_head
        self._prediction_heads = {CLASS_PREDICTIONS_WITH_BACKGROUND: class_prediction_head}
        self._conv_hyperparams = conv_hyperparams
        self._depth = depth
        self._num_layers_before_predictor = num_layers_before_predictor
        self._kernel_size = kernel_size
        self._apply_batch_norm = apply_batch_norm
        self._share_prediction_tower = share_prediction_tower
        self._use_depthwise = use_depthwise
        self._additional_projection_layers: List[List] = []
        self._base_tower_layers_for_heads: Dict[str, List] = {BOX_ENCODINGS: [],
                                                              CLASS_PREDICTIONS_WITH_BACKGROUND: []}
        self._head_scope_conv_layers: Dict[str, List] = {}

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def _use_bias(self) -> bool:
        return not (self._apply_batch_norm and not self._conv_hyperparams._force_use_bias)

    def _tower(self, scope: str, feature_index: int) -> List:
        bn_training = self._is_training and not self._freeze_batchnorm
        if scope not in self._head_scope_conv_layers:
            self._head_scope_conv_layers[scope] = [
                _conv(self._use_depthwise, self._depth, self._kernel_size, f"{scope}/conv2d_{i}",
                      self._conv_hyperparams, self._use_bias()) for i in range(self._num_layers_before_predictor)]
        layers = []
        for i, conv in enumerate(self._head_scope_conv_layers[scope]):
            if self._apply_batch_norm:
                norm = self._conv_hyperparams.build_batch_norm(
                    training=bn_training, name=f"{scope}/conv2d_{i}/BatchNorm/feature_{feature_index}")
            else:
                norm = keras.layers.Lambda(tf.identity)
            layers += [conv, norm, self._conv_hyperparams.build_activation_layer(
                name=f"{scope}/conv2d_{i}/activation_{feature_index}")]
        return layers

    def build(self, input_shapes):
        channels = [int(shape[-1]) for shape in input_shapes]
        counter, target = (0, max(set(channels), key=channels.count)) if len(set(channels)) > 1 else (-1, -1)
        for feature_index in range(len(input_shapes)):
            projection = []
            if counter >= 0:
                projection.append(keras.layers.Conv2D(target, [1, 1], strides=1, padding="SAME",
                                                      name=f"ProjectionLayer/conv2d_{counter}",
                                                      **self._conv_hyperparams.params(use_bias=self._use_bias())))
                if self._apply_batch_norm:
                    projection.append(self._conv_hyperparams.build_batch_norm(
                        training=self._is_training and not self._freeze_batchnorm,
                        name=f"ProjectionLayer/conv2d_{counter}/BatchNorm"))
                counter += 1
            self._additional_projection_layers.append(projection)
            box_scope = "PredictionTower" if self._share_prediction_tower else "BoxPredictionTower"
            self._base_tower_layers_for_heads[BOX_ENCODINGS].append(self._tower(box_scope, feature_index))
            if not self._share_prediction_tower:
                self._base_tower_layers_for_heads[CLASS_PREDICTIONS_WITH_BACKGROUND].append(
                    self._tower("ClassPredictionTower", feature_index))
        self.built = True

    def call(self, image_features, training=None):
        predictions = collections.defaultdict(list)
        for index, feature in enumerate(image_features):
            for layer in self._additional_projection_layers[index]:
                feature = layer(feature)
            box_feature = feature
            for layer in self._base_tower_layers_for_heads[BOX_ENCODINGS][index]:
                box_feature = layer(box_feature)
            predictions[BOX_ENCODINGS].append(self._box_prediction_head(box_feature))
            class_feature = box_feature
            if not self._share_prediction_tower:
                class_feature = feature
                for layer in self._base_tower_layers_for_heads[CLASS_PREDICTIONS_WITH_BACKGROUND][index]:
                    class_feature = layer(class_feature)
            predictions[CLASS_PREDICTIONS_WITH_BACKGROUND].append(
                self._prediction_heads[CLASS_PREDICTIONS_WITH_BACKGROUND](class_feature))
        return dict(predictions)
