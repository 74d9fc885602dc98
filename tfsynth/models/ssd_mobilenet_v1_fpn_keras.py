"""SSD MobileNetV1 FPN feature extractor (the OD API's ssd_mobilenet_v1_fpn_keras,
SSDMobileNetV1FpnKerasFeatureExtractor).

Backbone outputs conv_pw_3/5/11/13_relu (strides 4, 8, 16, 32; the OD API's Conv2d_3/5/11/13_pointwise) feed an FPN
(FeatureMaps/projection_N, smoothing_N) for levels fpn_min_level..min(fpn_max_level, 5); coarser levels come from
stride-2 3x3 convs on the last FPN map (bottom_up_Conv2d_14, _15, ...). With use_depthwise the FPN convs are
separable and conv_pw_12 / conv_pw_13 are 512 / 256 wide.
"""
from typing import List

import tensorflow as tf
import tf_keras as keras

from tfsynth.models import mobilenet_v1
from tfsynth.models.feature_map_generators import KerasFpnTopDownFeatureMaps, create_conv_block
from tfsynth.models.layer_factory import fixed_padding
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, check_min_image_dim, pad_to_multiple

# FPN level 2..5 -> the OD API's name of the backbone map, and the keras layer that holds it.
FEATURE_BLOCKS = ["Conv2d_3_pointwise", "Conv2d_5_pointwise", "Conv2d_11_pointwise", "Conv2d_13_pointwise"]
BACKBONE_OUTPUT_LAYERS = ["conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"]


class SSDMobileNetV1FpnKerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone, _fpn_features_generator and _coarse_feature_layers carry the OD API's
    checkpoint keys."""

    def __init__(self, *args, fpn_min_level: int = 3, fpn_max_level: int = 7, additional_layer_depth: int = 256,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if not 2 <= fpn_min_level <= 5 or fpn_max_level < fpn_min_level:
            raise ValueError(f"fpn min_level {fpn_min_level} / max_level {fpn_max_level}: expected "
                             f"2 <= min_level <= 5 and max_level >= min_level")
        self._fpn_min_level = fpn_min_level
        self._fpn_max_level = fpn_max_level
        self._additional_layer_depth = additional_layer_depth
        self._conv_defs = mobilenet_v1.FPN_DEPTHWISE_CONV_DEFS if self._use_depthwise else None
        self.classification_backbone = None
        self._fpn_features_generator = None
        self._coarse_feature_layers = []

    def _depth_fn(self, depth: int) -> int:
        return max(int(depth * self._depth_multiplier), self._min_depth)

    def build(self, input_shape):
        full = mobilenet_v1.mobilenet_v1(
            batchnorm_training=(self._is_training and not self._freeze_batchnorm),
            conv_hyperparams=(self._conv_hyperparams if self._override_base_feature_extractor_hyperparams
                              else None),
            use_explicit_padding=self._use_explicit_padding, alpha=self._depth_multiplier,
            min_depth=self._min_depth, conv_defs=self._conv_defs)
        self.classification_backbone = keras.Model(
            inputs=full.inputs, outputs=[full.get_layer(name=name).output for name in BACKBONE_OUTPUT_LAYERS])
        self._base_fpn_max_level = min(self._fpn_max_level, 5)
        self._num_levels = self._base_fpn_max_level + 1 - self._fpn_min_level
        depth = self._depth_fn(self._additional_layer_depth)
        self._fpn_features_generator = KerasFpnTopDownFeatureMaps(
            num_levels=self._num_levels, depth=depth, use_depthwise=self._use_depthwise,
            use_explicit_padding=self._use_explicit_padding, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm, name="FeatureMaps")
        padding = "VALID" if self._use_explicit_padding else "SAME"
        for level in range(self._base_fpn_max_level + 1, self._fpn_max_level + 1):
            layers = []
            if self._use_explicit_padding:
                layers.append(keras.layers.Lambda(lambda x: fixed_padding(x, 3), name="fixed_padding"))
            layers.extend(create_conv_block(self._use_depthwise, 3, padding, 2,
                                            f"bottom_up_Conv2d_{level - self._base_fpn_max_level + 13}",
                                            self._conv_hyperparams, self._is_training, self._freeze_batchnorm,
                                            depth))
            self._coarse_feature_layers.append(layers)
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return (2.0 / 255.0) * resized_inputs - 1.0

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        preprocessed_inputs = check_min_image_dim(33, preprocessed_inputs)
        image_features = self.classification_backbone(pad_to_multiple(preprocessed_inputs, self._pad_to_multiple))
        blocks = [FEATURE_BLOCKS[level - 2] for level in range(self._fpn_min_level, self._base_fpn_max_level + 1)]
        # As in the OD API: the last num_levels backbone outputs, whatever the levels (they coincide when
        # fpn_max_level >= 5, the sample configs' case); kept so other level choices give its variable shapes.
        start = len(FEATURE_BLOCKS) - self._num_levels
        fpn_features = self._fpn_features_generator(
            [(block, image_features[start + index]) for index, block in enumerate(blocks)])
        feature_maps = [fpn_features[f"top_down_{block}"] for block in blocks]
        last = fpn_features[f"top_down_{FEATURE_BLOCKS[self._base_fpn_max_level - 2]}"]
        for layers in self._coarse_feature_layers:
            for layer in layers:
                last = layer(last)
            feature_maps.append(last)
        return feature_maps
