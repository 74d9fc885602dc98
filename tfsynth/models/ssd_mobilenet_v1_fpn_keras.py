"""SSD MobileNetV1 FPN feature extractor (the OD API's ssd_mobilenet_v1_fpn_keras,
SSDMobileNetV1FpnKerasFeatureExtractor).

Backbone outputs conv_pw_3/5/11/13_relu (strides 4, 8, 16, 32; the OD API's Conv2d_3/5/11/13_pointwise) feed an FPN
(FeatureMaps/top_down/projection_N, smoothing_N) for levels fpn_min_level..min(fpn_max_level, 5); coarser levels
come from stride-2 3x3 convs on the last FPN map (bottom_up_Conv2d_14, _15, ...). With use_depthwise the FPN convs
are separable and conv_pw_12 / conv_pw_13 are 512 / 256 wide.
"""
from typing import List

import tensorflow as tf

from tfsynth.models import mobilenet_v1
from tfsynth.models.ssd_feature_extractor import scale_to_minus_one_to_one
from tfsynth.models.ssd_fpn_feature_extractor import SSDFpnKerasFeatureExtractor

# FPN level 2..5 -> the OD API's name of the backbone map, and the keras layer that holds it.
FEATURE_BLOCKS = ["Conv2d_3_pointwise", "Conv2d_5_pointwise", "Conv2d_11_pointwise", "Conv2d_13_pointwise"]
BACKBONE_OUTPUT_LAYERS = ["conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"]


class SSDMobileNetV1FpnKerasFeatureExtractor(SSDFpnKerasFeatureExtractor):
    """Attributes classification_backbone, _fpn_features_generator and _coarse_feature_layers carry the OD API's
    checkpoint keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not 2 <= self._fpn_min_level <= 5 or self._fpn_max_level < self._fpn_min_level:
            raise ValueError(f"fpn min_level {self._fpn_min_level} / max_level {self._fpn_max_level}: expected "
                             f"2 <= min_level <= 5 and max_level >= min_level")
        self._conv_defs = mobilenet_v1.FPN_DEPTHWISE_CONV_DEFS if self._use_depthwise else None
        self._declare_fpn_layers()

    def build(self, input_shape):
        full = mobilenet_v1.mobilenet_v1(**self._mobilenet_backbone_kwargs(), conv_defs=self._conv_defs)
        self.classification_backbone = self._backbone_with_outputs(full, BACKBONE_OUTPUT_LAYERS)
        self._build_fpn_layers()
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return scale_to_minus_one_to_one(resized_inputs)

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 33)
        return self._fpn_feature_maps(self._fpn_inputs_from_last_maps(FEATURE_BLOCKS, image_features))
