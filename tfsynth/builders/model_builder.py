"""DetectionModel proto -> DetectionModel (the OD API's model_builder.build, TF2/Keras models only).

META_ARCH_BUILDERS maps the `model` oneof name to a builder(config, is_training, add_summaries): SSD's is here,
Faster R-CNN's in faster_rcnn_builder, CenterNet's in center_net_builder; the table is the one list of them (no
builder adds itself on import).
SSD_FEATURE_EXTRACTORS maps feature_extractor.type to a factory; TF1 names (ssd_mobilenet_v2, ...) are aliases of
the Keras extractors, so TF1 configs build the same Keras model (variables under the OD API's Keras names).
"""
from typing import Callable, Dict

from tfsynth.builders import (anchor_generator_builder, box_coder_builder, box_predictor_builder, center_net_builder,
                              faster_rcnn_builder, hyperparams_builder, image_resizer_builder, losses_builder,
                              matcher_builder, post_processing_builder)
from tfsynth.builders.config_check import UnsupportedConfigError, reject_unhonoured
from tfsynth.core.target_assigner import TargetAssigner
from tfsynth.meta_architectures.ssd import SSDMetaArch
from tfsynth.models import ssd_resnet_v1_fpn_keras
from tfsynth.models.ssd_efficientnet_bifpn_keras import EFFICIENTDET_VERSIONS, build_efficientdet_extractor
from tfsynth.models.ssd_mobilenet_v1_fpn_keras import SSDMobileNetV1FpnKerasFeatureExtractor
from tfsynth.models.ssd_mobilenet_v1_keras import SSDMobileNetV1KerasFeatureExtractor
from tfsynth.models.ssd_mobilenet_v2_fpn_keras import SSDMobileNetV2FpnKerasFeatureExtractor
from tfsynth.models.ssd_mobilenet_v2_keras import SSDMobileNetV2KerasFeatureExtractor


def _mobilenet_v2(**kwargs):
    return SSDMobileNetV2KerasFeatureExtractor(**kwargs)


def _fpn_mobilenet_v2(**kwargs):
    return SSDMobileNetV2FpnKerasFeatureExtractor(**kwargs)


def _mobilenet_v1(**kwargs):
    return SSDMobileNetV1KerasFeatureExtractor(**kwargs)


def _fpn_mobilenet_v1(**kwargs):
    return SSDMobileNetV1FpnKerasFeatureExtractor(**kwargs)


def _fpn_resnet_v1(depth: int):
    def build(**kwargs):
        extractor_class = {50: ssd_resnet_v1_fpn_keras.SSDResNet50V1FpnKerasFeatureExtractor,
                           101: ssd_resnet_v1_fpn_keras.SSDResNet101V1FpnKerasFeatureExtractor,
                           152: ssd_resnet_v1_fpn_keras.SSDResNet152V1FpnKerasFeatureExtractor}[depth]
        return extractor_class(**kwargs)
    return build


def _efficientdet(type_name: str):
    def build(**kwargs):
        return build_efficientdet_extractor(type_name, **kwargs)
    return build


# feature_extractor.type -> (factory, pyramid block it takes: None, "fpn" or "bifpn")
SSD_FEATURE_EXTRACTORS: Dict[str, tuple] = {
    "ssd_mobilenet_v2_keras": (_mobilenet_v2, None),
    "ssd_mobilenet_v2_fpn_keras": (_fpn_mobilenet_v2, "fpn"),
    "ssd_mobilenet_v1_keras": (_mobilenet_v1, None),
    "ssd_mobilenet_v1_fpn_keras": (_fpn_mobilenet_v1, "fpn"),
    "ssd_resnet50_v1_fpn_keras": (_fpn_resnet_v1(50), "fpn"),
    "ssd_resnet101_v1_fpn_keras": (_fpn_resnet_v1(101), "fpn"),
    "ssd_resnet152_v1_fpn_keras": (_fpn_resnet_v1(152), "fpn"),
    **{type_name: (_efficientdet(type_name), "bifpn") for type_name in EFFICIENTDET_VERSIONS},
}
# The OD API's TF1 (slim) names: same architecture, built as the Keras extractor.
TF1_ALIASES = {
    "ssd_mobilenet_v2": "ssd_mobilenet_v2_keras",
    "ssd_mobilenet_v1": "ssd_mobilenet_v1_keras",
    "ssd_mobilenet_v2_fpn": "ssd_mobilenet_v2_fpn_keras",
    "ssd_mobilenet_v1_fpn": "ssd_mobilenet_v1_fpn_keras",
    "ssd_resnet50_v1_fpn": "ssd_resnet50_v1_fpn_keras",
    "ssd_resnet101_v1_fpn": "ssd_resnet101_v1_fpn_keras",
    "ssd_resnet152_v1_fpn": "ssd_resnet152_v1_fpn_keras",
}


def feature_extractor_entry(config, where: str) -> tuple:
    """SSD_FEATURE_EXTRACTORS' entry for a feature_extractor message; NotImplementedError naming the type."""
    type_name = TF1_ALIASES.get(config.type, config.type)
    if type_name not in SSD_FEATURE_EXTRACTORS:
        raise NotImplementedError(f"{where}.type = {config.type!r}: feature extractor not implemented in tfsynth "
                                  f"(available: {', '.join(sorted(SSD_FEATURE_EXTRACTORS))} and TF1 aliases)")
    return SSD_FEATURE_EXTRACTORS[type_name]


def _build_feature_extractor(config, is_training: bool, freeze_batchnorm: bool, where: str):
    factory, pyramid = feature_extractor_entry(config, where)
    honoured = {"type", "depth_multiplier", "min_depth", "conv_hyperparams", "override_base_feature_extractor_hyperparams",
                "pad_to_multiple", "use_explicit_padding", "use_depthwise", "num_layers"}
    if pyramid:
        honoured.add(pyramid)
    reject_unhonoured(config, honoured, where)
    kwargs = dict(is_training=is_training, depth_multiplier=config.depth_multiplier, min_depth=config.min_depth,
                  pad_to_multiple=config.pad_to_multiple,
                  conv_hyperparams=hyperparams_builder.build(config.conv_hyperparams, f"{where}.conv_hyperparams"),
                  freeze_batchnorm=freeze_batchnorm, inplace_batchnorm_update=False,
                  use_explicit_padding=config.use_explicit_padding, use_depthwise=config.use_depthwise,
                  override_base_feature_extractor_hyperparams=config.override_base_feature_extractor_hyperparams)
    if pyramid == "bifpn":
        if config.num_layers != 6:
            raise UnsupportedConfigError(f"{where}.num_layers: not used by EfficientDet (set bifpn levels)")
        kwargs["bifpn_config"] = config.bifpn if config.HasField("bifpn") else None
    elif pyramid == "fpn":
        fpn = config.fpn
        reject_unhonoured(fpn, {"min_level", "max_level", "additional_layer_depth"}, f"{where}.fpn")
        kwargs.update(fpn_min_level=fpn.min_level, fpn_max_level=fpn.max_level,
                      additional_layer_depth=fpn.additional_layer_depth)
        if config.num_layers != 6:
            raise UnsupportedConfigError(f"{where}.num_layers: not used by FPN extractors (set fpn levels)")
    else:
        kwargs["num_layers"] = config.num_layers
    return factory(**kwargs)


def _build_ssd(config, is_training: bool, add_summaries: bool = True) -> SSDMetaArch:
    where = "model.ssd"
    reject_unhonoured(config, {"num_classes", "image_resizer", "feature_extractor", "box_coder", "matcher",
                               "similarity_calculator", "encode_background_as_zeros", "negative_class_weight",
                               "box_predictor", "anchor_generator", "post_processing",
                               "normalize_loss_by_num_matches", "normalize_loc_loss_by_codesize", "loss",
                               "freeze_batchnorm", "inplace_batchnorm_update", "add_background_class",
                               "explicit_background_class"}, where)
    if config.num_classes <= 0:
        raise ValueError(f"{where}.num_classes = {config.num_classes}: expected a positive number of classes")
    feature_extractor = _build_feature_extractor(config.feature_extractor, is_training, config.freeze_batchnorm,
                                                 f"{where}.feature_extractor")
    box_coder = box_coder_builder.build(config.box_coder, f"{where}.box_coder")
    matcher = matcher_builder.build(config.matcher, f"{where}.matcher")
    similarity = matcher_builder.build_similarity_calculator(config.similarity_calculator,
                                                             f"{where}.similarity_calculator")
    anchor_generator = anchor_generator_builder.build(config.anchor_generator, f"{where}.anchor_generator")
    box_predictor = box_predictor_builder.build_keras(
        config.box_predictor, is_training=is_training, num_classes=config.num_classes,
        num_predictions_per_location_list=anchor_generator.num_anchors_per_location(),
        freeze_batchnorm=config.freeze_batchnorm, add_background_class=config.add_background_class,
        where=f"{where}.box_predictor")
    image_resizer_fn = image_resizer_builder.build(config.image_resizer, f"{where}.image_resizer")
    nms_fn, score_conversion_fn = post_processing_builder.build(config.post_processing, f"{where}.post_processing")
    (classification_loss, localization_loss, classification_weight, localization_weight,
     hard_example_miner) = losses_builder.build(config.loss, f"{where}.loss")
    return SSDMetaArch(
        is_training=is_training, anchor_generator=anchor_generator, box_predictor=box_predictor,
        box_coder=box_coder, feature_extractor=feature_extractor,
        encode_background_as_zeros=config.encode_background_as_zeros, image_resizer_fn=image_resizer_fn,
        non_max_suppression_fn=nms_fn, score_conversion_fn=score_conversion_fn,
        classification_loss=classification_loss, localization_loss=localization_loss,
        classification_loss_weight=classification_weight, localization_loss_weight=localization_weight,
        normalize_loss_by_num_matches=config.normalize_loss_by_num_matches, hard_example_miner=hard_example_miner,
        target_assigner_instance=TargetAssigner(similarity, matcher, box_coder,
                                                negative_class_weight=config.negative_class_weight),
        add_summaries=add_summaries, normalize_loc_loss_by_codesize=config.normalize_loc_loss_by_codesize,
        freeze_batchnorm=config.freeze_batchnorm, inplace_batchnorm_update=config.inplace_batchnorm_update,
        add_background_class=config.add_background_class,
        explicit_background_class=config.explicit_background_class)


META_ARCH_BUILDERS: Dict[str, Callable] = {"ssd": _build_ssd, "faster_rcnn": faster_rcnn_builder.build,
                                           "center_net": center_net_builder.build}


def _meta_architecture(model_config) -> str:
    meta_architecture = model_config.WhichOneof("model")
    if meta_architecture is None:
        raise ValueError("model: no meta-architecture set (expected e.g. ssd { ... })")
    if meta_architecture not in META_ARCH_BUILDERS:
        raise NotImplementedError(f"model.{meta_architecture}: meta-architecture not implemented in tfsynth "
                                  f"(available: {', '.join(sorted(META_ARCH_BUILDERS))})")
    return meta_architecture


# meta-architecture -> its builder's feature_extractor_entry (the registry lookup that names an unknown type).
_FEATURE_EXTRACTOR_ENTRIES: Dict[str, Callable] = {
    "ssd": feature_extractor_entry, "faster_rcnn": faster_rcnn_builder.feature_extractor_entry,
    "center_net": center_net_builder.feature_extractor_entry}


def check_model_names(model_config) -> None:
    """The meta-architecture and feature extractor type, checked by name alone (nothing is built), with the
    errors build() gives: a typo there stops a run at once, not after its records are scanned."""
    meta_architecture = _meta_architecture(model_config)
    config = getattr(model_config, meta_architecture)
    _FEATURE_EXTRACTOR_ENTRIES[meta_architecture](config.feature_extractor,
                                                  f"model.{meta_architecture}.feature_extractor")


def build(model_config, is_training: bool, add_summaries: bool = True):
    """model_pb2.DetectionModel -> DetectionModel. NotImplementedError names meta-architectures not built."""
    meta_architecture = _meta_architecture(model_config)
    return META_ARCH_BUILDERS[meta_architecture](getattr(model_config, meta_architecture), is_training,
                                                 add_summaries)
