"""Keras SSD box predictors and their heads (the OD API's predictors/convolutional_keras_box_predictor.py and
predictors/heads/keras_{box,class}_head.py), with the OD API's attribute names, which are the checkpoint keys:
_box_predictor/_prediction_heads/{box_encodings,class_predictions_with_background}/<map>/_box_encoder_layers/<j>/...
"""
import collections
from typing import Dict, List, Optional

import tensorflow as tf
import tf_keras as keras

BOX_ENCODINGS = "box_encodings"
CLASS_PREDICTIONS_WITH_BACKGROUND = "class_predictions_with_background"


def _batch_size(features: tf.Tensor):
    return features.shape[0] if features.shape[0] is not None else tf.shape(features)[0]


def _depthwise_then_pointwise(prefix: str, kernel_size: int, filters: int, conv_hyperparams, bn_training,
                              **conv_kwargs) -> List[keras.layers.Layer]:
    """SSDLite head: depthwise kxk + norm + activation, then a biased 1x1 conv."""
    return [
        keras.layers.DepthwiseConv2D([kernel_size, kernel_size], padding="SAME", depth_multiplier=1, strides=1,
                                     dilation_rate=1, name=prefix + "_depthwise", **conv_hyperparams.params()),
        conv_hyperparams.build_batch_norm(training=bn_training, name=prefix + "_depthwise_batchnorm"),
        conv_hyperparams.build_activation_layer(name=prefix + "_depthwise_activation"),
        keras.layers.Conv2D(filters, [1, 1], name=prefix, **conv_hyperparams.params(use_bias=True), **conv_kwargs),
    ]


class ConvolutionalBoxHead(keras.layers.Layer):
    """Box encodings [batch, H*W*A, 1, code_size] of one feature map."""

    def __init__(self, is_training: bool, box_code_size: int, kernel_size: int, num_predictions_per_location: int,
                 conv_hyperparams, freeze_batchnorm: bool, use_depthwise: bool = False,
                 box_encodings_clip_range=None, name=None):
        super().__init__(name=name)
        self._box_code_size = box_code_size
        self._box_encodings_clip_range = box_encodings_clip_range
        filters = num_predictions_per_location * box_code_size
        if use_depthwise:
            self._box_encoder_layers = _depthwise_then_pointwise(
                "BoxEncodingPredictor", kernel_size, filters, conv_hyperparams, is_training and not freeze_batchnorm)
        else:
            self._box_encoder_layers = [keras.layers.Conv2D(
                filters, [kernel_size, kernel_size], padding="SAME", name="BoxEncodingPredictor",
                **conv_hyperparams.params(use_bias=True))]

    def call(self, features):
        box_encodings = features
        for layer in self._box_encoder_layers:
            box_encodings = layer(box_encodings)
        if self._box_encodings_clip_range is not None:
            box_encodings = tf.clip_by_value(box_encodings, self._box_encodings_clip_range[0],
                                             self._box_encodings_clip_range[1])
        return tf.reshape(box_encodings, [_batch_size(features), -1, 1, self._box_code_size])


class ConvolutionalClassHead(keras.layers.Layer):
    """Class logits [batch, H*W*A, num_class_slots] of one feature map."""

    def __init__(self, is_training: bool, num_class_slots: int, use_dropout: bool, dropout_keep_prob: float,
                 kernel_size: int, num_predictions_per_location: int, conv_hyperparams, freeze_batchnorm: bool,
                 class_prediction_bias_init: float = 0.0, use_depthwise: bool = False, name=None):
        super().__init__(name=name)
        self._is_training = is_training
        self._num_class_slots = num_class_slots
        self._class_predictor_layers = []
        if use_dropout:
            self._class_predictor_layers.append(keras.layers.Dropout(rate=1.0 - dropout_keep_prob))
        filters = num_predictions_per_location * num_class_slots
        bias_init = keras.initializers.Constant(class_prediction_bias_init)
        if use_depthwise:
            self._class_predictor_layers.extend(_depthwise_then_pointwise(
                "ClassPredictor", kernel_size, filters, conv_hyperparams, is_training and not freeze_batchnorm,
                bias_initializer=bias_init))
        else:
            self._class_predictor_layers.append(keras.layers.Conv2D(
                filters, [kernel_size, kernel_size], padding="SAME", name="ClassPredictor",
                bias_initializer=bias_init, **conv_hyperparams.params(use_bias=True)))

    def call(self, features):
        logits = features
        for layer in self._class_predictor_layers:
            if isinstance(layer, keras.layers.Dropout):
                logits = layer(logits, training=self._is_training)
            else:
                logits = layer(logits)
        return tf.reshape(logits, [_batch_size(features), -1, self._num_class_slots])


class ConvolutionalBoxPredictor(keras.layers.Layer):
    """One box head and one class head per feature map, optionally after shared 1x1 convs."""

    def __init__(self, is_training: bool, num_classes: int, box_prediction_heads: List, class_prediction_heads: List,
                 conv_hyperparams, num_layers_before_predictor: int, min_depth: int, max_depth: int,
                 freeze_batchnorm: bool, inplace_batchnorm_update: bool, name=None):
        super().__init__(name=name)
        self._is_training = is_training
        self._num_classes = num_classes
        self._freeze_batchnorm = freeze_batchnorm
        self._prediction_heads = {BOX_ENCODINGS: box_prediction_heads,
                                  CLASS_PREDICTIONS_WITH_BACKGROUND: class_prediction_heads}
        self._sorted_head_names = sorted(self._prediction_heads.keys())
        self._conv_hyperparams = conv_hyperparams
        self._min_depth = min_depth
        self._max_depth = max_depth
        self._num_layers_before_predictor = num_layers_before_predictor
        self._shared_nets = []

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def build(self, input_shapes):
        if len(input_shapes) != len(self._prediction_heads[BOX_ENCODINGS]):
            raise ValueError(f"box predictor: {len(input_shapes)} feature maps but "
                             f"{len(self._prediction_heads[BOX_ENCODINGS])} heads (one per anchor layer)")
        for stack_index, input_shape in enumerate(input_shapes):
            net = []
            depth = max(min(input_shape[-1], self._max_depth), self._min_depth)
            if depth > 0 and self._num_layers_before_predictor > 0:
                for i in range(self._num_layers_before_predictor):
                    name = f"SharedConvolutions_{stack_index}/Conv2d_{i}_1x1_{depth}"
                    net.append(keras.layers.Conv2D(depth, [1, 1], name=name, padding="SAME",
                                                   **self._conv_hyperparams.params()))
                    net.append(self._conv_hyperparams.build_batch_norm(
                        training=(self._is_training and not self._freeze_batchnorm), name=name + "_norm"))
                    net.append(self._conv_hyperparams.build_activation_layer(name=name + "_activation"))
            self._shared_nets.append(net)
        self.built = True

    def call(self, image_features) -> Dict[str, List[tf.Tensor]]:
        predictions = collections.defaultdict(list)
        for index, net in enumerate(image_features):
            for layer in self._shared_nets[index]:
                net = layer(net)
            for head_name in self._sorted_head_names:
                predictions[head_name].append(self._prediction_heads[head_name][index](net))
        return dict(predictions)
