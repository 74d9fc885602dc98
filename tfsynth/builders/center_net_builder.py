"""CenterNet proto -> CenterNetMetaArch (the OD API's model_builder._build_center_net_model), boxes only.

model_builder.META_ARCH_BUILDERS lists build() under 'center_net'. The other CenterNet tasks (keypoints, masks,
DensePose, tracking, DeepMAC) and the extractors not built here (ResNet v1 18/34) are refused by name.
"""
from typing import Callable, Dict

from tfsynth.builders import image_resizer_builder, losses_builder
from tfsynth.builders.config_check import UnsupportedConfigError, reject_unhonoured
from tfsynth.meta_architectures.center_net import CenterNetMetaArch, HeadParams
from tfsynth.models import center_net_feature_extractors as extractors


def _resnet_v1_fpn(depth: int) -> Callable:
    return lambda config, **normalization: extractors.CenterNetResnetV1FpnFeatureExtractor(depth, **normalization)


def _resnet_v2(depth: int) -> Callable:
    return lambda config, **normalization: extractors.CenterNetResnetFeatureExtractor(depth, **normalization)


def _mobilenet_v2_fpn(separable_by_name: bool) -> Callable:
    def make(config, **normalization):
        # As the OD API's builder: the type name makes the convs separable only when use_separable_conv is written
        # in the config (either value); without it they are plain, whatever the type. Its checkpoints follow that.
        separable = config.HasField("use_separable_conv") and (config.use_separable_conv or separable_by_name)
        return extractors.CenterNetMobileNetV2FpnFeatureExtractor(
            depth_multiplier=config.depth_multiplier, use_separable_conv=separable,
            upsampling_interpolation=config.upsampling_interpolation, **normalization)
    return make


def _mobilenet_v2(config, **normalization):
    return extractors.CenterNetMobileNetV2FeatureExtractor(depth_multiplier=config.depth_multiplier,
                                                           **normalization)


def _hourglass(name: str) -> Callable:
    return lambda config, **normalization: extractors.CenterNetHourglassFeatureExtractor(name, **normalization)


# feature_extractor.type -> (factory(config, channel_means=, channel_stds=, bgr_ordering=), fields it reads
# beyond those three)
CENTER_NET_FEATURE_EXTRACTORS: Dict[str, tuple] = {
    "resnet_v1_50_fpn": (_resnet_v1_fpn(50), set()),
    "resnet_v1_101_fpn": (_resnet_v1_fpn(101), set()),
    "resnet_v2_50": (_resnet_v2(50), set()),
    "resnet_v2_101": (_resnet_v2(101), set()),
    "mobilenet_v2_fpn": (_mobilenet_v2_fpn(False), {"depth_multiplier", "use_separable_conv",
                                                    "upsampling_interpolation"}),
    "mobilenet_v2_fpn_sep_conv": (_mobilenet_v2_fpn(True), {"depth_multiplier", "use_separable_conv",
                                                            "upsampling_interpolation"}),
    "mobilenet_v2": (_mobilenet_v2, {"depth_multiplier"}),
    **{name: (_hourglass(name), set()) for name in ("hourglass_10", "hourglass_20", "hourglass_32", "hourglass_52",
                                                    "hourglass_104")},
}
NOT_BUILT = {
    "resnet_v1_18_fpn": "the OD API's own ResNet v1 18/34", "resnet_v1_34_fpn": "the OD API's own ResNet v1 18/34",
}
# The other CenterNet tasks: each one a field tfsynth refuses by name.
_OTHER_TASKS = ("keypoint_estimation_task", "keypoint_label_map_path", "mask_estimation_task",
                "densepose_estimation_task", "track_estimation_task", "temporal_offset_task",
                "deepmac_mask_estimation")


def feature_extractor_entry(config, where: str) -> tuple:
    """CENTER_NET_FEATURE_EXTRACTORS' entry for a feature_extractor message; an error naming the type otherwise."""
    if config.type in NOT_BUILT:
        raise UnsupportedConfigError(f"{where}.type = {config.type!r}: {NOT_BUILT[config.type]} are not "
                                     f"implemented in tfsynth (available: "
                                     f"{', '.join(sorted(CENTER_NET_FEATURE_EXTRACTORS))})")
    if config.type not in CENTER_NET_FEATURE_EXTRACTORS:
        raise ValueError(f"{where}.type = {config.type!r}: not a CenterNet feature extractor (expected one of "
                         f"{', '.join(sorted(CENTER_NET_FEATURE_EXTRACTORS))})")
    return CENTER_NET_FEATURE_EXTRACTORS[config.type]


def _build_feature_extractor(config, where: str):
    factory, extra_fields = feature_extractor_entry(config, where)
    reject_unhonoured(config, {"type", "channel_means", "channel_stds", "bgr_ordering"} | extra_fields, where,
                      hints={"use_depthwise": "no CenterNet extractor built here reads it; the OD API ignores it",
                             "depth_multiplier": "only the MobileNetV2 extractors take it"})
    for name in ("channel_means", "channel_stds"):
        values = getattr(config, name)
        if values and len(values) != 3:
            raise ValueError(f"{where}.{name}: {len(values)} values; expected 3 (one per RGB channel) or none")
    if any(std == 0 for std in config.channel_stds):
        raise ValueError(f"{where}.channel_stds: a standard deviation of 0 divides by zero; expected nonzero values")
    if config.depth_multiplier <= 0:
        raise ValueError(f"{where}.depth_multiplier = {config.depth_multiplier}: expected a positive number")
    return factory(config, channel_means=list(config.channel_means), channel_stds=list(config.channel_stds),
                   bgr_ordering=config.bgr_ordering)


def _head_params(config, field: str, where: str) -> HeadParams:
    """A head's PredictionHeadParams, or the OD API's default of one 3x3 conv of 256 when the field is absent."""
    if not config.HasField(field):
        return HeadParams()
    params = getattr(config, field)
    if len(params.kernel_sizes) != len(params.num_filters) or not params.num_filters:
        raise ValueError(f"{where}.{field}: {len(params.kernel_sizes)} kernel_sizes and {len(params.num_filters)} "
                         f"num_filters; expected the same number, at least one")
    return HeadParams(params.kernel_sizes, params.num_filters)


def build(config, is_training: bool, add_summaries: bool = True) -> CenterNetMetaArch:
    """model.center_net -> CenterNetMetaArch. Needs object_detection_task and object_center_params."""
    where = "model.center_net"
    hints = {task: "tfsynth's CenterNet predicts boxes only; remove this task to train the box detector"
             for task in _OTHER_TASKS}
    hints["keypoint_label_map_path"] = ("tfsynth's CenterNet predicts boxes only; remove keypoint_estimation_task and "
                                        "keypoint_label_map_path to train the box detector")
    hints["post_processing"] = "CenterNet's max-pool peak picking stands in for NMS"
    # compute_heatmap_sparse is accepted and not read: the OD API's sparse heatmap holds the same values (classes are
    # one-hot here), it only takes less memory to build.
    reject_unhonoured(config, {"num_classes", "feature_extractor", "image_resizer", "use_depthwise",
                               "compute_heatmap_sparse", "object_detection_task", "object_center_params"},
                      where, hints)
    if config.num_classes <= 0:
        raise ValueError(f"{where}.num_classes = {config.num_classes}: expected a positive number of classes")
    if not config.HasField("object_detection_task"):
        raise ValueError(f"{where}.object_detection_task: missing; tfsynth's CenterNet predicts boxes and needs it "
                         f"(e.g. object_detection_task {{ localization_loss {{ l1_localization_loss {{}} }} }})")
    detection, center = config.object_detection_task, config.object_center_params
    detection_where, center_where = f"{where}.object_detection_task", f"{where}.object_center_params"
    reject_unhonoured(detection, {"task_loss_weight", "offset_loss_weight", "scale_loss_weight",
                                  "localization_loss", "scale_head_params", "offset_head_params"}, detection_where)
    reject_unhonoured(center, {"object_center_loss_weight", "classification_loss", "heatmap_bias_init",
                               "min_box_overlap_iou", "max_box_predictions", "center_head_params",
                               "peak_max_pool_kernel_size"}, center_where,
                      {"use_labeled_classes": "needs groundtruth_labeled_classes in the records",
                       "keypoint_weights_for_center": "keypoint tasks are not built"})
    if not 0 < center.min_box_overlap_iou < 1:
        raise ValueError(f"{center_where}.min_box_overlap_iou = {center.min_box_overlap_iou}: expected a value "
                         f"between 0 and 1")
    if center.max_box_predictions <= 0:
        raise ValueError(f"{center_where}.max_box_predictions = {center.max_box_predictions}: expected at least 1")
    # The OD API builds these from a full Loss message with a dummy other half; only the half that is read counts.
    center_loss, _ = losses_builder.build_classification_loss(
        center.classification_loss, f"{center_where}.classification_loss", losses_builder.CENTER_NET_CLASSIFICATION)
    localization_loss = losses_builder.build_localization_loss(
        detection.localization_loss, f"{detection_where}.localization_loss", losses_builder.CENTER_NET_LOCALIZATION)
    feature_extractor = _build_feature_extractor(config.feature_extractor, f"{where}.feature_extractor")
    return CenterNetMetaArch(
        is_training=is_training, num_classes=config.num_classes, feature_extractor=feature_extractor,
        image_resizer_fn=image_resizer_builder.build(config.image_resizer, f"{where}.image_resizer"),
        center_loss=center_loss, localization_loss=localization_loss,
        center_head=_head_params(center, "center_head_params", center_where),
        scale_head=_head_params(detection, "scale_head_params", detection_where),
        offset_head=_head_params(detection, "offset_head_params", detection_where),
        object_center_loss_weight=center.object_center_loss_weight, heatmap_bias_init=center.heatmap_bias_init,
        min_box_overlap_iou=center.min_box_overlap_iou, max_box_predictions=center.max_box_predictions,
        peak_max_pool_kernel_size=center.peak_max_pool_kernel_size,
        task_loss_weight=detection.task_loss_weight, scale_loss_weight=detection.scale_loss_weight,
        offset_loss_weight=detection.offset_loss_weight, use_depthwise=config.use_depthwise)
