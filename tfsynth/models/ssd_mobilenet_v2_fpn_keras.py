"""SSD MobileNetV2 FPN feature extractor (the OD API's ssd_mobilenet_v2_fpn_keras; FPNLite with use_depthwise).

Backbone outputs layer_4/7/14/19 (strides 4..32) feed an FPN for levels fpn_min_level..min(fpn_max_level, 5);
coarser levels come from stride-2 3x3 convs on the last FPN map. With use_depthwise the last backbone conv is
256 wide and FPN convs are separable (FPNLite).
"""
from typing import List

import tensorflow as tf
import tf_keras as keras

from tfsynth.models import mobilenet_v2
from tfsynth.models.feature_map_generators import KerasFpnTopDownFeatureMaps, create_conv_block
from tfsynth.models.layer_factory import fixed_padding
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, check_min_image_dim, pad_to_multiple


class SSDMobileNetV2FpnKerasFeatureExtractor(SSDKerasFeatureExtractor):
    def __init__(self, *args, fpn_min_level: int = 3, fpn_max_level: int = 7, additional_layer_depth: int = 256,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._fpn_min_level = fpn_min_level
        self._fpn_max_level = fpn_max_level
        self._additional_layer_depth = additional_layer_depth
        self._feature_blocks = ["layer_4", "layer_7", "layer_14", "layer_19"]
        self.classification_backbone = None
        self._fpn_features_generator = None
        self._coarse_feature_layers = []

    def _depth_fn(self, depth: int) -> int:
        return max(int(depth * self._depth_multiplier), self._min_depth)

    def build(self, input_shape):
        full = mobilenet_v2.mobilenet_v2(
            batchnorm_training=(self._is_training and not self._freeze_batchnorm),
            conv_hyperparams=(self._conv_hyperparams if self._override_base_feature_extractor_hyperparams
                              else None),
            use_explicit_padding=self._use_explicit_padding, alpha=self._depth_multiplier,
            min_depth=self._min_depth, conv_1_filters=256 if self._use_depthwise else 1280)
        names = {layer.name for layer in full.layers}
        outputs = []
        for layer_idx in (4, 7, 14):
            add_name, project_name = f"block_{layer_idx - 2}_add", f"block_{layer_idx - 2}_project_BN"
            outputs.append(full.get_layer(add_name if add_name in names else project_name).output)
        outputs.append(full.get_layer("out_relu").output)
        self.classification_backbone = keras.Model(inputs=full.inputs, outputs=outputs)
        self._base_fpn_max_level = min(self._fpn_max_level, 5)
        self._num_levels = self._base_fpn_max_level + 1 - self._fpn_min_level
        depth = self._depth_fn(self._additional_layer_depth)
        self._fpn_features_generator = KerasFpnTopDownFeatureMaps(
            num_levels=self._num_levels, depth=depth, use_depthwise=self._use_depthwise,
            use_explicit_padding=self._use_explicit_padding, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm, name="FeatureMaps")
        padding = "VALID" if self._use_explicit_padding else "SAME"
        for i in range(self._base_fpn_max_level + 1, self._fpn_max_level + 1):
            layers = []
            if self._use_explicit_padding:
                layers.append(keras.layers.Lambda(lambda x: fixed_padding(x, 3), name="fixed_padding"))
            layers.extend(create_conv_block(self._use_depthwise, 3, padding, 2,
                                            f"bottom_up_Conv2d_{i - self._base_fpn_max_level + 13}",
                                            self._conv_hyperparams, self._is_training, self._freeze_batchnorm,
                                            depth))
            self._coarse_feature_layers.append(layers)
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        return (2.0 / 255.0) * resized_inputs - 1.0

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        preprocessed_inputs = check_min_image_dim(33, preprocessed_inputs)
        image_features = self.classification_backbone(pad_to_multiple(preprocessed_inputs, self._pad_to_multiple))
        blocks = [self._feature_blocks[level - 2] for level in range(self._fpn_min_level,
                                                                      self._base_fpn_max_level + 1)]
        start = len(self._feature_blocks) - self._num_levels
        fpn_features = self._fpn_features_generator(
            [(key, image_features[start + index]) for index, key in enumerate(blocks)])
        feature_maps = [fpn_features[f"top_down_{block}"] for block in blocks]
        last = fpn_features[f"top_down_{self._feature_blocks[self._base_fpn_max_level - 2]}"]
        for layers in self._coarse_feature_layers:
            for layer in layers:
                last = layer(last)
            feature_maps.append(last)
        return feature_maps
