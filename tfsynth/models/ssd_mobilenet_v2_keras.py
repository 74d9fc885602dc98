"""SSD MobileNetV2 feature extractor (the OD API's ssd_mobilenet_v2_keras; SSDLite with use_depthwise).

Feature maps: block_13_expand_relu (stride 16, 576 channels at alpha 1), out_relu (stride 32), then four extra
maps of depth 512, 256, 256, 128 made by 1x1 + 3x3/s2 convs (depthwise 3x3 for SSDLite).
"""
from typing import List

import tensorflow as tf
import tf_keras as keras

from tfsynth.models import mobilenet_v2
from tfsynth.models.feature_map_generators import KerasMultiResolutionFeatureMaps
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, check_min_image_dim, pad_to_multiple


class SSDMobileNetV2KerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone and feature_map_generator carry the OD API's checkpoint keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._feature_map_layout = {
            "from_layer": ["layer_15/expansion_output", "layer_19", "", "", "", ""][:self._num_layers],
            "layer_depth": [-1, -1, 512, 256, 256, 128][:self._num_layers],
            "use_depthwise": self._use_depthwise,
            "use_explicit_padding": self._use_explicit_padding,
        }
        self.classification_backbone = None
        self.feature_map_generator = None

    def build(self, input_shape):
        full = mobilenet_v2.mobilenet_v2(
            batchnorm_training=(self._is_training and not self._freeze_batchnorm),
            conv_hyperparams=(self._conv_hyperparams if self._override_base_feature_extractor_hyperparams
                              else None),
            use_explicit_padding=self._use_explicit_padding, alpha=self._depth_multiplier,
            min_depth=self._min_depth)
        self.classification_backbone = keras.Model(
            inputs=full.inputs,
            outputs=[full.get_layer(name="block_13_expand_relu").output, full.get_layer(name="out_relu").output])
        self.feature_map_generator = KerasMultiResolutionFeatureMaps(
            feature_map_layout=self._feature_map_layout, depth_multiplier=self._depth_multiplier,
            min_depth=self._min_depth, insert_1x1_conv=True, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm, name="FeatureMaps")
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return (2.0 / 255.0) * resized_inputs - 1.0

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        preprocessed_inputs = check_min_image_dim(33, preprocessed_inputs)
        image_features = self.classification_backbone(pad_to_multiple(preprocessed_inputs, self._pad_to_multiple))
        feature_maps = self.feature_map_generator({"layer_15/expansion_output": image_features[0],
                                                   "layer_19": image_features[1]})
        return list(feature_maps.values())
