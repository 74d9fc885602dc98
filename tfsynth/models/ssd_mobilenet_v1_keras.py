"""SSD MobileNetV1 feature extractor (the OD API's ssd_mobilenet_v1_keras, SSDMobileNetV1KerasFeatureExtractor).

Feature maps: conv_pw_11_relu (stride 16, 512 channels at alpha 1) and conv_pw_13_relu (stride 32, 1024), then
four extra maps of depth 512, 256, 256, 128 made by 1x1 + 3x3/s2 convs (depthwise 3x3 with use_depthwise), named
FeatureMaps/Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512 ... as in the OD API.
"""
from typing import List

import tensorflow as tf
import tf_keras as keras

from tfsynth.models import mobilenet_v1
from tfsynth.models.feature_map_generators import KerasMultiResolutionFeatureMaps
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, check_min_image_dim, pad_to_multiple


class SSDMobileNetV1KerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone and _feature_map_generator carry the OD API's checkpoint keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._feature_map_layout = {
            "from_layer": ["Conv2d_11_pointwise", "Conv2d_13_pointwise", "", "", "", ""][:self._num_layers],
            "layer_depth": [-1, -1, 512, 256, 256, 128][:self._num_layers],
            "use_explicit_padding": self._use_explicit_padding,
            "use_depthwise": self._use_depthwise,
        }
        self.classification_backbone = None
        self._feature_map_generator = None

    def build(self, input_shape):
        full = mobilenet_v1.mobilenet_v1(
            batchnorm_training=(self._is_training and not self._freeze_batchnorm),
            conv_hyperparams=(self._conv_hyperparams if self._override_base_feature_extractor_hyperparams
                              else None),
            use_explicit_padding=self._use_explicit_padding, alpha=self._depth_multiplier,
            min_depth=self._min_depth)
        self.classification_backbone = keras.Model(
            inputs=full.inputs,
            outputs=[full.get_layer(name="conv_pw_11_relu").output, full.get_layer(name="conv_pw_13_relu").output])
        self._feature_map_generator = KerasMultiResolutionFeatureMaps(
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
        feature_maps = self._feature_map_generator({"Conv2d_11_pointwise": image_features[0],
                                                    "Conv2d_13_pointwise": image_features[1]})
        return list(feature_maps.values())
