"""SSD ResNet50/101/152 V1 FPN feature extractors (the OD API's ssd_resnet_v1_fpn_keras_feature_extractor.py,
SSDResNet{50,101,152}V1FpnKerasFeatureExtractor; RetinaNet with the weight-shared box predictor).

The backbone is the Keras-applications ResNet V1 graph shared with Faster R-CNN
(faster_rcnn_resnet_keras.ResnetV1Backbone: layer names conv1_conv ... conv5_block3_out, same layer order, hence
the same classification_backbone/layer_with_weights-N checkpoint keys), built with the OD API's resnet_v1
_LayersOverride settings: conv widths max(int(filters * depth_multiplier), min_depth), no conv bias, and either
the config's conv_hyperparams (override_base_feature_extractor_hyperparams: their regularizer, initializer, batch
norm and activation -- RELU_6 in the sample configs) or the defaults (l2 0.0001, variance scaling, batch norm
momentum 0.997 / epsilon 1e-5, ReLU).

The block outputs conv2..conv5 ("block1".."block4", strides 4..32) feed an FPN (FeatureMaps/top_down/projection_N,
smoothing_N) for levels fpn_min_level..min(fpn_max_level, 5); coarser levels come from stride-2 3x3 convs
bottom_up_block5, bottom_up_block6, ... on the last FPN map. Inputs are mean-subtracted (VGG channel means) and must
be at least 129 pixels high and wide.
"""
from typing import List, Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.core.freezable_batch_norm import FreezableBatchNormalization
from tfsynth.models.faster_rcnn_resnet_keras import CHANNEL_MEANS, ResnetV1Backbone
from tfsynth.models.layer_factory import fresh_initializer
from tfsynth.models.ssd_fpn_feature_extractor import SSDFpnKerasFeatureExtractor

# ResNet depth -> the layers whose outputs feed the FPN (levels 2..5), as in the OD API.
RESNET_OUTPUT_LAYERS = {
    50: ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"],
    101: ["conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out"],
    152: ["conv2_block3_out", "conv3_block8_out", "conv4_block36_out", "conv5_block3_out"],
}
RESNET_BLOCK_NAMES = ["block1", "block2", "block3", "block4"]


class ResnetV1LayerFactory:
    """The OD API's resnet_v1 _LayersOverride: conv / batch norm / activation for ResnetV1Backbone."""

    def __init__(self, batchnorm_training: Optional[bool], conv_hyperparams=None, depth_multiplier: float = 1.0,
                 min_depth: int = 8, weight_decay: float = 0.0001, default_batchnorm_momentum: float = 0.997,
                 default_batchnorm_epsilon: float = 1e-5):
        self._batchnorm_training = batchnorm_training
        self._conv_hyperparams = conv_hyperparams
        self._depth_multiplier = depth_multiplier
        self._min_depth = min_depth
        self._momentum = default_batchnorm_momentum
        self._epsilon = default_batchnorm_epsilon
        self._regularizer = keras.regularizers.l2(weight_decay)
        # tf.compat.v1.variance_scaling_initializer() defaults: scale 1, fan_in, truncated normal.
        self._initializer = keras.initializers.VarianceScaling(scale=1.0, mode="fan_in",
                                                               distribution="truncated_normal")

    def conv(self, filters: int, kernel_size: int, strides: int, name: str) -> keras.layers.Layer:
        filters = max(int(filters * self._depth_multiplier), self._min_depth)
        if self._conv_hyperparams is not None:
            kwargs = self._conv_hyperparams.params()
        else:
            kwargs = {"kernel_regularizer": self._regularizer, "kernel_initializer": fresh_initializer(self._initializer)}
        kwargs["use_bias"] = False
        # Strided convs wider than 1x1 (only conv1_conv) run 'valid' on input the backbone pads explicitly.
        kwargs["padding"] = "valid" if strides > 1 and kernel_size > 1 else "same"
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, name=name, **kwargs)

    def batch_norm(self, name: str) -> keras.layers.Layer:
        if self._conv_hyperparams is not None:
            return self._conv_hyperparams.build_batch_norm(training=self._batchnorm_training, name=name)
        return FreezableBatchNormalization(training=self._batchnorm_training, axis=3, momentum=self._momentum,
                                           epsilon=self._epsilon, center=True, scale=True, name=name)

    def relu(self, name: str) -> keras.layers.Layer:
        if self._conv_hyperparams is not None:
            return self._conv_hyperparams.build_activation_layer(name=name)
        return keras.layers.Lambda(tf.nn.relu, name=name)


class SSDResNetV1FpnKerasFeatureExtractor(SSDFpnKerasFeatureExtractor):
    """Attributes classification_backbone, _fpn_features_generator and _coarse_feature_layers carry the OD API's
    checkpoint keys."""

    def __init__(self, *args, resnet_depth: int, **kwargs):
        super().__init__(*args, **kwargs)
        if resnet_depth not in RESNET_OUTPUT_LAYERS:
            raise ValueError(f"ResNet depth {resnet_depth}: expected one of {sorted(RESNET_OUTPUT_LAYERS)}")
        # The OD API accepts and silently drops these two for ResNet FPN; tfsynth says so instead.
        for field in ("use_explicit_padding", "use_depthwise"):
            if getattr(self, f"_{field}"):
                raise ValueError(f"model.ssd.feature_extractor.{field} = true: not an option of the SSD ResNet V1 "
                                 f"FPN extractors (the OD API ignores it); remove it")
        if not 2 <= self._fpn_min_level <= 5 or self._fpn_max_level < self._fpn_min_level:
            raise ValueError(f"model.ssd.feature_extractor.fpn: min_level {self._fpn_min_level} / max_level "
                             f"{self._fpn_max_level}: expected 2 <= min_level <= 5 and max_level >= min_level")
        self._resnet_depth = resnet_depth
        self._declare_fpn_layers()

    def build(self, input_shape):
        batchnorm_training = self._backbone_batchnorm_training()
        layer_factory = ResnetV1LayerFactory(
            batchnorm_training, conv_hyperparams=self._backbone_conv_hyperparams(),
            depth_multiplier=self._depth_multiplier, min_depth=self._min_depth)
        full = ResnetV1Backbone(self._resnet_depth, batchnorm_training, layer_factory=layer_factory).model
        self.classification_backbone = self._backbone_with_outputs(full, RESNET_OUTPUT_LAYERS[self._resnet_depth])
        # use_depthwise and use_explicit_padding are false here (refused above): plain SAME convs, as in the OD API.
        self._build_fpn_layers()
        self.built = True

    def _coarse_layer_name(self, level: int) -> str:
        return f"bottom_up_block{level - 1}"

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """VGG-style per-channel mean subtraction (inputs 0..255, RGB); inputs without 3 channels are unchanged."""
        if resized_inputs.shape[3] == 3:
            return resized_inputs - [[list(CHANNEL_MEANS)]]
        return resized_inputs

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 129)
        by_block = dict(zip(RESNET_BLOCK_NAMES, image_features))
        blocks = [f"block{level - 1}" for level in self._fpn_levels()]
        return self._fpn_feature_maps([(block, by_block[block]) for block in blocks])


class SSDResNet50V1FpnKerasFeatureExtractor(SSDResNetV1FpnKerasFeatureExtractor):
    def __init__(self, *args, name: str = "ResNet50V1_FPN", **kwargs):
        super().__init__(*args, resnet_depth=50, name=name, **kwargs)


class SSDResNet101V1FpnKerasFeatureExtractor(SSDResNetV1FpnKerasFeatureExtractor):
    def __init__(self, *args, name: str = "ResNet101V1_FPN", **kwargs):
        super().__init__(*args, resnet_depth=101, name=name, **kwargs)


class SSDResNet152V1FpnKerasFeatureExtractor(SSDResNetV1FpnKerasFeatureExtractor):
    def __init__(self, *args, name: str = "ResNet152V1_FPN", **kwargs):
        super().__init__(*args, resnet_depth=152, name=name, **kwargs)
