"""SSD MobileNetV2 feature extractor (the OD API's ssd_mobilenet_v2_keras; SSDLite with use_depthwise).

Feature maps: block_13_expand_relu (stride 16, 576 channels at alpha 1), out_relu (stride 32), then four extra
maps of depth 512, 256, 256, 128 made by 1x1 + 3x3/s2 convs (depthwise 3x3 for SSDLite).
"""
from typing import List

import tensorflow as tf

from tfsynth.models import mobilenet_v2
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, scale_to_minus_one_to_one

# The backbone maps the extra feature maps start from: the OD API's names, and the keras layers that hold them.
BACKBONE_MAPS = ["layer_15/expansion_output", "layer_19"]
BACKBONE_OUTPUT_LAYERS = ["block_13_expand_relu", "out_relu"]


class SSDMobileNetV2KerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone and feature_map_generator carry the OD API's checkpoint keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._feature_map_layout = self._multi_resolution_layout(BACKBONE_MAPS)
        self.classification_backbone = None
        self.feature_map_generator = None

    def build(self, input_shape):
        full = mobilenet_v2.mobilenet_v2(**self._mobilenet_backbone_kwargs())
        self.classification_backbone = self._backbone_with_outputs(full, BACKBONE_OUTPUT_LAYERS)
        self.feature_map_generator = self._multi_resolution_feature_maps(self._feature_map_layout)
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return scale_to_minus_one_to_one(resized_inputs)

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 33)
        feature_maps = self.feature_map_generator(dict(zip(BACKBONE_MAPS, image_features)))
        return list(feature_maps.values())
