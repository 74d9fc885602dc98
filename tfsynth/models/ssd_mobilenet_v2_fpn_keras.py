"""SSD MobileNetV2 FPN feature extractor (the OD API's ssd_mobilenet_v2_fpn_keras; FPNLite with use_depthwise).

FPN levels 2..5 are the OD API's layer_4 / layer_7 / layer_14 / layer_19 (strides 4, 8, 16, 32): the outputs of
block_2_add, block_5_add and block_12_add (block_N_project_BN where a block has no residual add), and out_relu, the
ReLU6 after Conv_1. They feed an FPN (FeatureMaps/top_down/projection_N, smoothing_N) for levels
fpn_min_level..min(fpn_max_level, 5); coarser levels come from stride-2 3x3 conv blocks on the last FPN map, named
bottom_up_Conv2d_20, _21, ... (numbered on from the backbone's 19 layers). With use_depthwise (FPNLite) the FPN and
coarse convs are separable.

Conv_1 stays 1280 wide with use_depthwise too: the OD API's extractor defines a 256-wide Conv_1 for that case but
never hands it to the backbone, so its checkpoints (the TF2 Zoo's FPNLite ones included) hold a 1280-wide Conv_1
and a 1280 -> depth projection_3.
"""
from typing import List

import tensorflow as tf

from tfsynth.models import mobilenet_v2
from tfsynth.models.ssd_feature_extractor import scale_to_minus_one_to_one
from tfsynth.models.ssd_fpn_feature_extractor import SSDFpnKerasFeatureExtractor

# FPN level 2..5 -> the OD API's name of the backbone map (keys top_down_<name> of the FPN's outputs).
FEATURE_BLOCKS = ["layer_4", "layer_7", "layer_14", "layer_19"]


def backbone_output_layers(layer_names) -> List[str]:
    """The keras layers whose outputs are FEATURE_BLOCKS: layer_N is the output of inverted residual block N - 2
    (its add, or its project batch norm when the block has no residual connection); layer_19 is out_relu."""
    outputs = []
    for layer in (4, 7, 14):
        add_name, project_name = f"block_{layer - 2}_add", f"block_{layer - 2}_project_BN"
        outputs.append(add_name if add_name in layer_names else project_name)
    return outputs + ["out_relu"]


class SSDMobileNetV2FpnKerasFeatureExtractor(SSDFpnKerasFeatureExtractor):
    """Attributes classification_backbone, _fpn_features_generator and _coarse_feature_layers carry the OD API's
    checkpoint keys."""

    # The OD API numbers the coarse blocks on from MobileNetV2's 19 layers (bottom_up_Conv2d_20, ...).
    _LAST_BACKBONE_BLOCK = 19

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Tracked before the layers, as in the OD API (the checkpoint object graph keeps attribute order).
        self._feature_blocks = list(FEATURE_BLOCKS)
        self._declare_fpn_layers()

    def build(self, input_shape):
        full = mobilenet_v2.mobilenet_v2(**self._mobilenet_backbone_kwargs())
        names = {layer.name for layer in full.layers}
        self.classification_backbone = self._backbone_with_outputs(full, backbone_output_layers(names))
        self._build_fpn_layers()
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] -> [-1, 1]."""
        return scale_to_minus_one_to_one(resized_inputs)

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        image_features = self._backbone_features(preprocessed_inputs, 33)
        return self._fpn_feature_maps(self._fpn_inputs_from_last_maps(self._feature_blocks, image_features))
