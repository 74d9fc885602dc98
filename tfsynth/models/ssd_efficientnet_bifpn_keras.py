"""EfficientDet's feature extractor: an EfficientNet backbone and a BiFPN (the OD API's
ssd_efficientnet-b0_bifpn_keras ... ssd_efficientnet-b7_bifpn_keras).

The backbone is tf-models-official's EfficientNet (official.legacy.image_classification.efficientnet), the model the
OD API builds, with rescale_input off (preprocess normalizes). Its maps for levels 3..5 are the outputs of the
layers stack_2/block_1/add, stack_4/block_2/add and stack_6/block_0/project_bn, the OD API's choice for every
EfficientNet size (for b1 and larger these are not the last blocks of their stacks). The BiFPN makes levels
min_level..max_level from them (tfsynth.models.bifpn).

Attributes _efficientnet (the backbone cut at those layers), then classification_backbone (the whole EfficientNet,
its classification top included) and _bifpn_stage carry the OD API's checkpoint paths.

Where this differs from the OD API, on purpose: freeze_batchnorm also freezes the backbone's batch norm (and with
it drop connect, which shares Keras's training flag). The OD API's EfficientNet ignores freeze_batchnorm and
updates its statistics whenever it trains; fine-tuning at the small batches this flag is set for would overwrite
pretrained statistics with noisy ones.
"""
import importlib
from typing import Dict, List, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.bifpn import KerasBiFpnFeatureMaps, input_node_names
from tfsynth.models.ssd_feature_extractor import SSDKerasFeatureExtractor, check_min_image_dim, pad_to_multiple

# Backbone level -> the EfficientNet layer whose output is that level's map (stride 2**level).
LEVEL_ENDPOINTS: Dict[int, str] = {
    1: "stack_0/block_0/project_bn",
    2: "stack_1/block_1/add",
    3: "stack_2/block_1/add",
    4: "stack_4/block_2/add",
    5: "stack_6/block_0/project_bn",
}
# ImageNet statistics of [0, 1] images, per RGB channel: EfficientNet's input normalization.
CHANNEL_MEAN = (0.485, 0.456, 0.406)
CHANNEL_STDDEV = (0.229, 0.224, 0.225)
# The smallest input side the extractor accepts (the OD API's check).
MIN_IMAGE_DIM = 129

# feature_extractor.type -> (EfficientNet version, extractor name: the variables' name scope, BiFPN iterations and
# filters when the config has no bifpn block).
EFFICIENTDET_VERSIONS: Dict[str, Tuple[str, str, int, int]] = {
    "ssd_efficientnet-b0_bifpn_keras": ("efficientnet-b0", "EfficientDet-D0", 3, 64),
    "ssd_efficientnet-b1_bifpn_keras": ("efficientnet-b1", "EfficientDet-D1", 4, 88),
    "ssd_efficientnet-b2_bifpn_keras": ("efficientnet-b2", "EfficientDet-D2", 5, 112),
    "ssd_efficientnet-b3_bifpn_keras": ("efficientnet-b3", "EfficientDet-D3", 6, 160),
    "ssd_efficientnet-b4_bifpn_keras": ("efficientnet-b4", "EfficientDet-D4", 7, 224),
    "ssd_efficientnet-b5_bifpn_keras": ("efficientnet-b5", "EfficientDet-D5", 7, 288),
    "ssd_efficientnet-b6_bifpn_keras": ("efficientnet-b6", "EfficientDet-D6-D7", 8, 384),
    "ssd_efficientnet-b7_bifpn_keras": ("efficientnet-b7", "EfficientDet-D7", 8, 384),
}


def efficientnet_model_module():
    """tf-models-official's EfficientNet module, imported when an EfficientDet is built (not with tfsynth)."""
    return importlib.import_module("official.legacy.image_classification.efficientnet.efficientnet_model")


class SSDEfficientNetBiFPNKerasFeatureExtractor(SSDKerasFeatureExtractor):
    """EfficientNet + BiFPN; feature maps for levels bifpn_min_level..bifpn_max_level, bifpn_num_filters deep."""

    def __init__(self, is_training: bool, depth_multiplier: float, min_depth: int, pad_to_multiple: int,
                 conv_hyperparams, freeze_batchnorm: bool, inplace_batchnorm_update: bool, efficientnet_version: str,
                 bifpn_min_level: int = 3, bifpn_max_level: int = 7, bifpn_num_iterations: int = 3,
                 bifpn_num_filters: int = 64, bifpn_combine_method: str = "fast_attention",
                 use_native_resize_op: bool = False, use_explicit_padding: bool = False, use_depthwise: bool = False,
                 override_base_feature_extractor_hyperparams: bool = False, name: str = None):
        where = "model.ssd.feature_extractor"
        if depth_multiplier != 1.0:
            raise ValueError(f"{where}.depth_multiplier = {depth_multiplier}: EfficientDet takes only 1.0")
        if use_explicit_padding:
            raise ValueError(f"{where}.use_explicit_padding: not supported by EfficientDet")
        if use_depthwise:
            raise ValueError(f"{where}.use_depthwise: not supported by EfficientDet (its BiFPN chooses "
                             "separable convolutions itself)")
        if bifpn_min_level < min(LEVEL_ENDPOINTS) or bifpn_min_level > max(LEVEL_ENDPOINTS):
            raise ValueError(f"{where}.bifpn.min_level = {bifpn_min_level}: expected "
                             f"{min(LEVEL_ENDPOINTS)}..{max(LEVEL_ENDPOINTS)}")
        if bifpn_max_level < bifpn_min_level:
            raise ValueError(f"{where}.bifpn.max_level = {bifpn_max_level}: expected at least min_level "
                             f"{bifpn_min_level}")
        if bifpn_num_iterations < 1 or bifpn_num_filters < 1:
            raise ValueError(f"{where}.bifpn: num_iterations ({bifpn_num_iterations}) and num_filters "
                             f"({bifpn_num_filters}) must be at least 1")
        super().__init__(is_training=is_training, depth_multiplier=depth_multiplier, min_depth=min_depth,
                         pad_to_multiple=pad_to_multiple, conv_hyperparams=conv_hyperparams,
                         freeze_batchnorm=freeze_batchnorm, inplace_batchnorm_update=inplace_batchnorm_update,
                         override_base_feature_extractor_hyperparams=override_base_feature_extractor_hyperparams,
                         name=name)
        self._bifpn_min_level = bifpn_min_level
        self._bifpn_max_level = bifpn_max_level
        self._bifpn_num_iterations = bifpn_num_iterations
        self._bifpn_num_filters = max(bifpn_num_filters, min_depth)
        self._bifpn_combine_method = bifpn_combine_method
        self._efficientnet_version = efficientnet_version
        self._use_native_resize_op = use_native_resize_op
        self._backbone_max_level = min(max(LEVEL_ENDPOINTS), bifpn_max_level)
        self._level_names = input_node_names(bifpn_min_level, self._backbone_max_level)

        overrides = {"rescale_input": False}
        if override_base_feature_extractor_hyperparams:
            overrides["weight_decay"] = conv_hyperparams.regularizer_weight()
        full = efficientnet_model_module().EfficientNet.from_name(model_name=efficientnet_version,
                                                                  overrides=overrides)
        # Tracked in this order, as in the OD API: the backbone's variables are checkpointed under _efficientnet,
        # the classification top (reached only through the whole model) under classification_backbone.
        self._efficientnet = self._backbone_with_outputs(
            full, [LEVEL_ENDPOINTS[level] for level in range(bifpn_min_level, self._backbone_max_level + 1)])
        self.classification_backbone = full
        self._bifpn_stage = None

    def build(self, input_shape):
        self._bifpn_stage = KerasBiFpnFeatureMaps(
            bifpn_num_iterations=self._bifpn_num_iterations, bifpn_num_filters=self._bifpn_num_filters,
            fpn_min_level=self._bifpn_min_level, fpn_max_level=self._bifpn_max_level,
            input_max_level=self._backbone_max_level, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm,
            combine_method=self._bifpn_combine_method, use_native_resize_op=self._use_native_resize_op,
            name="bifpn")
        self.built = True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """[0, 255] RGB -> ImageNet-normalized ((x / 255 - mean) / stddev per channel); other channel counts pass
        unchanged, as in the OD API."""
        if resized_inputs.shape[-1] != 3:
            return resized_inputs
        return ((resized_inputs / 255.0) - [[CHANNEL_MEAN]]) / [[CHANNEL_STDDEV]]

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        preprocessed_inputs = check_min_image_dim(MIN_IMAGE_DIM, preprocessed_inputs)
        preprocessed_inputs = pad_to_multiple(preprocessed_inputs, self._pad_to_multiple)
        self._check_pyramid_divides(preprocessed_inputs)
        backbone_maps = self._efficientnet(preprocessed_inputs,
                                           training=self._backbone_batchnorm_training())
        if not isinstance(backbone_maps, (list, tuple)):
            backbone_maps = [backbone_maps]
        pyramid = self._bifpn_stage(list(zip(self._level_names, backbone_maps)))
        return list(pyramid.values())

    def _check_pyramid_divides(self, images: tf.Tensor) -> None:
        """Raises for a (static) image side that is not a multiple of 2**max_level: the BiFPN adds each coarse map,
        upsampled 2x, to the map below it, and an odd size on the way (160 px: level 6 is 3 x 3, level 7 upsampled
        4 x 4) cannot be added. The OD API fails there with a shape error inside the BiFPN."""
        stride = 2 ** self._bifpn_max_level
        sides = [side for side in images.shape[1:3] if side is not None]
        if any(side % stride for side in sides):
            raise ValueError(f"image size {images.shape[1]}x{images.shape[2]}: EfficientDet with bifpn.max_level "
                             f"{self._bifpn_max_level} needs sides that are multiples of {stride} (resize to such a "
                             f"size, e.g. keep_aspect_ratio_resizer with pad_to_max_dimension and a max_dimension "
                             f"of 512, or set feature_extractor.pad_to_multiple: {stride})")


def build_efficientdet_extractor(type_name: str, bifpn_config=None, **kwargs
                                 ) -> SSDEfficientNetBiFPNKerasFeatureExtractor:
    """The extractor for a feature_extractor.type of EFFICIENTDET_VERSIONS, named as the OD API names it; the
    BiFPN's levels, iterations, filters and combine method from bifpn_config (the config's bifpn block) when given,
    else the version's defaults (levels 3..7)."""
    version, name, num_iterations, num_filters = EFFICIENTDET_VERSIONS[type_name]
    if bifpn_config is not None:
        kwargs.update(bifpn_min_level=bifpn_config.min_level, bifpn_max_level=bifpn_config.max_level,
                      bifpn_num_iterations=bifpn_config.num_iterations, bifpn_num_filters=bifpn_config.num_filters,
                      bifpn_combine_method=bifpn_config.combine_method,
                      use_native_resize_op=bifpn_config.use_native_resize_op)
    else:
        kwargs.update(bifpn_num_iterations=num_iterations, bifpn_num_filters=num_filters)
    return SSDEfficientNetBiFPNKerasFeatureExtractor(efficientnet_version=version, name=name, **kwargs)
