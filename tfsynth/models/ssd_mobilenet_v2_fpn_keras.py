"""SSD MobileNetV2 FPN feature extractor (the OD API's ssd_mobilenet_v2_fpn_keras; FPNLite with use_depthwise).

Backbone outputs layer_4/7/14/19 (strides 4..32) feed an FPN for levels fpn_min_level..min(fpn_max_level, 5);
coarser levels come from stride-2 3x3 convs on the last FPN map. With use_depthwise the last backbone conv is
256 wide and FPN convs are separable (FPNLite).
"""
from typing import List

import tensorflow as tf

from tfsynth.models import mobilenet_v2
from tfsynth.models.ssd_feature_extractor import scale_to_minus_one_to_one
from tfsynth.models.ssd_fpn_feature_extractor import SSDFpnKerasFeatureExtractor


class SSDMobileNetV2FpnKerasFeatureExtractor(SSDFpnKerasFeatureExtractor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._feature_blocks = ["layer_4", "layer_7", "layer_14", "layer_19"]
        self._declare_fpn_layers()

    def build(self, input_shape):
        full = mobilenet_v2.mobilenet_v2(**self._mobilenet_backbone_kwargs(),
                                         conv_1_filters=256 if self._use_depthwise else 1280)
        names = {layer.name for layer in full.layers}
        outputs = []
        for layer_idx in (4, 7, 14):
            add_name, project_name = f"block_{layer_idx - 2}_add", f"block_{layer_idx - 2}_project_BN"
            outputs.append(add_name if add_name in names else project_name)
        outputs.append("out_relu")
        self.classification_backbone = self._backbone_with_outputs(full, outputs)
        self._build_fpn_layers()
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        return scale_to_minus_one_to_one(resized_inputs)

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 33)
        return self._fpn_feature_maps(self._fpn_inputs_from_last_maps(self._feature_blocks, image_features))
