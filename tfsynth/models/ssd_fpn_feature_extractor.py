"""Base class of the SSD FPN feature extractors (MobileNetV1 / MobileNetV2 / ResNet V1 FPN): the FPN top-down
maps for levels fpn_min_level..min(fpn_max_level, 5) and the coarser levels made by stride-2 3x3 convs on the last
FPN map, as in the OD API.

Subclasses set their own attributes, then call _declare_fpn_layers() last in __init__: the checkpoint object graph
keeps the order in which attributes are tracked, and the OD API's tracks classification_backbone,
_fpn_features_generator and _coarse_feature_layers after the extractor's settings.
"""
from typing import List, Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.feature_map_generators import KerasFpnTopDownFeatureMaps, create_conv_block, fpn_and_coarse_maps
from tfsynth.models.layer_factory import fixed_padding
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor


class SSDFpnKerasFeatureExtractor(SSDKerasFeatureExtractor):
    """Attributes classification_backbone, _fpn_features_generator and _coarse_feature_layers carry the OD API's
    checkpoint keys. Subclasses build classification_backbone, then call _build_fpn_layers()."""

    def __init__(self, *args, fpn_min_level: int = 3, fpn_max_level: int = 7, additional_layer_depth: int = 256,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._fpn_min_level = fpn_min_level
        self._fpn_max_level = fpn_max_level
        self._additional_layer_depth = additional_layer_depth

    def _declare_fpn_layers(self) -> None:
        self.classification_backbone = None
        self._fpn_features_generator = None
        self._coarse_feature_layers = []

    # Number of the backbone's last block in the OD API's MobileNet FPN naming: the coarse blocks are numbered on
    # from it (MobileNetV1: Conv2d_13, so bottom_up_Conv2d_14, ...). Subclasses with another backbone override it.
    _LAST_BACKBONE_BLOCK = 13

    def _coarse_layer_name(self, level: int) -> str:
        """Name of the stride-2 conv block that makes FPN level `level` (above min(fpn_max_level, 5)): the OD API's
        MobileNet FPN names, numbered on from the backbone's last block."""
        return f"bottom_up_Conv2d_{level - self._base_fpn_max_level + self._LAST_BACKBONE_BLOCK}"

    def _fpn_levels(self) -> range:
        """The levels the FPN top-down pathway makes, fine to coarse."""
        return range(self._fpn_min_level, self._base_fpn_max_level + 1)

    def _build_fpn_layers(self) -> None:
        """FeatureMaps (the top-down pathway) and the coarse conv blocks, with the extractor's use_depthwise and
        use_explicit_padding."""
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
            layers.extend(create_conv_block(self._use_depthwise, 3, padding, 2, self._coarse_layer_name(level),
                                            self._conv_hyperparams, self._is_training, self._freeze_batchnorm,
                                            depth))
            self._coarse_feature_layers.append(layers)

    def _fpn_inputs_from_last_maps(self, block_names: Sequence[str],
                                   image_features: Sequence[tf.Tensor]) -> List[Tuple[str, tf.Tensor]]:
        """(name of level L's block, map) for the FPN levels, the maps being the last num_levels backbone outputs.

        As in the OD API's MobileNet FPN extractors: the last num_levels outputs whatever the levels (they coincide
        when fpn_max_level >= 5, the sample configs' case); kept so other level choices give its variable shapes.
        """
        blocks = [block_names[level - 2] for level in self._fpn_levels()]
        start = len(block_names) - self._num_levels
        return [(block, image_features[start + index]) for index, block in enumerate(blocks)]

    def _fpn_feature_maps(self, fpn_inputs: List[Tuple[str, tf.Tensor]]) -> List[tf.Tensor]:
        """The FPN maps of fpn_inputs ((block name, backbone map), fine to coarse), then the coarse levels."""
        return fpn_and_coarse_maps(self._fpn_features_generator, self._coarse_feature_layers, fpn_inputs)
