"""SSD MobileNetV1 feature extractor (the OD API's ssd_mobilenet_v1_keras, SSDMobileNetV1KerasFeatureExtractor).

Feature maps: conv_pw_11_relu (stride 16, 512 channels at alpha 1) and conv_pw_13_relu (stride 32, 1024), then
four extra maps of depth 512, 256, 256, 128 made by 1x1 + 3x3/s2 convs (depthwise 3x3 with use_depthwise), named
FeatureMaps/Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512 ... as in the OD API.
"""
from typing import List

import tensorflow as tf

from tfsynth.models import mobilenet_v1
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, scale_to_minus_one_to_one

# The backbone maps the extra feature maps start from: the OD API's names, and the keras layers that hold them.
BACKBONE_MAPS = ["Conv2d_11_pointwise", "Conv2d_13_pointwise"]
BACKBONE_OUTPUT_LAYERS = ["conv_pw_11_relu", "conv_pw_13_relu"]


class SSDMobileNetV1KerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone and _feature_map_generator carry the OD API's checkpoint keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._feature_map_layout = self._multi_resolution_layout(BACKBONE_MAPS)
        self.classification_backbone = None
        self._feature_map_generator = None

    def build(self, input_shape):
        full = mobilenet_v1.mobilenet_v1(**self._mobilenet_backbone_kwargs())
        self.classification_backbone = self._backbone_with_outputs(full, BACKBONE_OUTPUT_LAYERS)
        self._feature_map_generator = self._multi_resolution_feature_maps(self._feature_map_layout)
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return scale_to_minus_one_to_one(resized_inputs)

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 33)
        feature_maps = self._feature_map_generator(dict(zip(BACKBONE_MAPS, image_features)))
        return list(feature_maps.values())
