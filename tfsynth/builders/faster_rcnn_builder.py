"""FasterRcnn proto -> FasterRCNNMetaArch (the OD API's model_builder._build_faster_rcnn_model, Keras path).

model_builder.META_ARCH_BUILDERS lists build() under 'faster_rcnn'. Fields that tfsynth does not build raise
an error naming them (Mask R-CNN, R-FCN, context R-CNN, ...).
"""
import functools
from typing import Callable, Dict, Tuple

from tfsynth.builders import hyperparams_builder, image_resizer_builder, losses_builder, post_processing_builder
from tfsynth.builders.config_check import UnsupportedConfigError, reject_unhonoured, require_oneof
from tfsynth.core import losses, post_processing
from tfsynth.core.anchor_generators import MultiscaleAnchorGenerator
from tfsynth.core.balanced_sampler import BalancedPositiveNegativeSampler
from tfsynth.core.box_coders import FasterRcnnBoxCoder
from tfsynth.core.crop_and_resize import multilevel_matmul_crop_and_resize, multilevel_native_crop_and_resize
from tfsynth.core.grid_anchor_generator import GridAnchorGenerator
from tfsynth.core.matchers import ArgMaxMatcher
from tfsynth.core.region_similarity import IouSimilarity
from tfsynth.core.target_assigner import TargetAssigner
from tfsynth.meta_architectures.faster_rcnn import FasterRCNNMetaArch
from tfsynth.models import mask_rcnn_box_predictor
from tfsynth.models.faster_rcnn_inception_resnet_v2_keras import FasterRCNNInceptionResnetV2KerasFeatureExtractor
from tfsynth.models.faster_rcnn_resnet_fpn_keras import FasterRCNNResnetV1FpnKerasFeatureExtractor
from tfsynth.models.faster_rcnn_resnet_keras import FasterRCNNResnetKerasFeatureExtractor


def _resnet(depth: int) -> Callable:
    def make(**kwargs):
        return FasterRCNNResnetKerasFeatureExtractor(resnet_depth=depth, **kwargs)
    return make


def _resnet_fpn(depth: int) -> Callable:
    def make(**kwargs):
        return FasterRCNNResnetV1FpnKerasFeatureExtractor(resnet_depth=depth, **kwargs)
    return make


# feature_extractor.type -> (factory, is FPN)
FASTER_RCNN_FEATURE_EXTRACTORS: Dict[str, Tuple[Callable, bool]] = {
    "faster_rcnn_resnet50_keras": (_resnet(50), False),
    "faster_rcnn_resnet101_keras": (_resnet(101), False),
    "faster_rcnn_resnet152_keras": (_resnet(152), False),
    "faster_rcnn_resnet50_fpn_keras": (_resnet_fpn(50), True),
    "faster_rcnn_resnet101_fpn_keras": (_resnet_fpn(101), True),
    "faster_rcnn_resnet152_fpn_keras": (_resnet_fpn(152), True),
    "faster_rcnn_inception_resnet_v2_keras": (FasterRCNNInceptionResnetV2KerasFeatureExtractor, False),
}
# The OD API's TF1 (slim) names build the same Keras extractor.
TF1_ALIASES = {"faster_rcnn_resnet50": "faster_rcnn_resnet50_keras",
               "faster_rcnn_resnet101": "faster_rcnn_resnet101_keras",
               "faster_rcnn_resnet152": "faster_rcnn_resnet152_keras",
               "faster_rcnn_inception_resnet_v2": "faster_rcnn_inception_resnet_v2_keras"}


def feature_extractor_entry(config, where: str) -> Tuple[Callable, bool]:
    """FASTER_RCNN_FEATURE_EXTRACTORS' entry for a feature_extractor message; NotImplementedError naming the type."""
    type_name = TF1_ALIASES.get(config.type, config.type)
    if type_name not in FASTER_RCNN_FEATURE_EXTRACTORS:
        raise NotImplementedError(f"{where}.type = {config.type!r}: Faster R-CNN feature extractor not implemented "
                                  f"in tfsynth (available: {', '.join(sorted(FASTER_RCNN_FEATURE_EXTRACTORS))})")
    return FASTER_RCNN_FEATURE_EXTRACTORS[type_name]


def _build_feature_extractor(config, is_training: bool, where: str):
    factory, is_fpn = feature_extractor_entry(config, where)
    honoured = {"type", "first_stage_features_stride", "batch_norm_trainable"}
    kwargs = dict(is_training=is_training, first_stage_features_stride=config.first_stage_features_stride,
                  batch_norm_trainable=config.batch_norm_trainable)
    if is_fpn:
        honoured |= {"fpn", "conv_hyperparams", "override_base_feature_extractor_hyperparams"}
        reject_unhonoured(config.fpn, {"min_level", "max_level", "additional_layer_depth"}, f"{where}.fpn")
        kwargs.update(conv_hyperparams=hyperparams_builder.build(config.conv_hyperparams,
                                                                 f"{where}.conv_hyperparams"),
                      fpn_min_level=config.fpn.min_level, fpn_max_level=config.fpn.max_level,
                      additional_layer_depth=config.fpn.additional_layer_depth,
                      override_base_feature_extractor_hyperparams=(
                          config.override_base_feature_extractor_hyperparams))
    reject_unhonoured(config, honoured, where)
    return factory(**kwargs), is_fpn


def _build_anchor_generator(config, where: str):
    kind = require_oneof(config, "anchor_generator_oneof", {"grid_anchor_generator", "multiscale_anchor_generator"},
                         where)
    if kind == "multiscale_anchor_generator":
        c = config.multiscale_anchor_generator
        return MultiscaleAnchorGenerator(min_level=c.min_level, max_level=c.max_level, anchor_scale=c.anchor_scale,
                                         aspect_ratios=list(c.aspect_ratios), scales_per_octave=c.scales_per_octave,
                                         normalize_coordinates=c.normalize_coordinates)
    c = config.grid_anchor_generator
    return GridAnchorGenerator(scales=[float(s) for s in c.scales], aspect_ratios=[float(r) for r in c.aspect_ratios],
                               base_anchor_size=[c.height, c.width], anchor_stride=[c.height_stride, c.width_stride],
                               anchor_offset=[c.height_offset, c.width_offset])


def _without_op(hyperparams):
    """A copy without `op` (CONV/FC): in the Keras models the layer type comes from the caller, as in the OD API."""
    copy = type(hyperparams)()
    copy.CopyFrom(hyperparams)
    copy.ClearField("op")
    return copy


def _build_mask_rcnn_box_predictor(config, where: str, is_training: bool, num_classes: int):
    kind = require_oneof(config, "box_predictor_oneof", {"mask_rcnn_box_predictor"}, where)
    c = config.mask_rcnn_box_predictor
    where = f"{where}.{kind}"
    if c.predict_instance_masks or c.predict_keypoints:
        raise NotImplementedError(f"{where}.predict_instance_masks / predict_keypoints: Mask R-CNN (instance "
                                  "masks) is not implemented in tfsynth")
    # conv_hyperparams and the mask_* fields only configure the mask head, which is off.
    reject_unhonoured(c, {"fc_hyperparams", "use_dropout", "dropout_keep_probability", "box_code_size",
                          "share_box_across_classes", "conv_hyperparams", "mask_height", "mask_width",
                          "mask_prediction_num_conv_layers", "mask_prediction_conv_depth",
                          "masks_are_class_agnostic", "convolve_then_upsample_masks"}, where)
    fc_hyperparams = hyperparams_builder.build(_without_op(c.fc_hyperparams), f"{where}.fc_hyperparams")
    box_head = mask_rcnn_box_predictor.MaskRCNNBoxHead(
        is_training=is_training, num_classes=num_classes, fc_hyperparams=fc_hyperparams, freeze_batchnorm=False,
        use_dropout=c.use_dropout, dropout_keep_prob=c.dropout_keep_probability, box_code_size=c.box_code_size,
        share_box_across_classes=c.share_box_across_classes)
    class_head = mask_rcnn_box_predictor.MaskRCNNClassHead(
        is_training=is_training, num_class_slots=num_classes + 1, fc_hyperparams=fc_hyperparams,
        freeze_batchnorm=False, use_dropout=c.use_dropout, dropout_keep_prob=c.dropout_keep_probability)
    return mask_rcnn_box_predictor.MaskRCNNKerasBoxPredictor(
        is_training=is_training, num_classes=num_classes, freeze_batchnorm=False, box_prediction_head=box_head,
        class_prediction_head=class_head)


def _build_second_stage_classification_loss(config, where: str):
    kind = config.WhichOneof("classification_loss")
    if kind in (None, "weighted_softmax"):
        # Unset: the OD API's default is softmax with anchor-wise outputs.
        reject_unhonoured(config.weighted_softmax, {"logit_scale"}, f"{where}.weighted_softmax")
        return losses.WeightedSoftmaxClassificationLoss(logit_scale=config.weighted_softmax.logit_scale)
    if kind == "weighted_sigmoid":
        return losses.WeightedSigmoidClassificationLoss()
    if kind == "weighted_sigmoid_focal":
        c = config.weighted_sigmoid_focal
        return losses.SigmoidFocalClassificationLoss(gamma=c.gamma, alpha=c.alpha if c.HasField("alpha") else None)
    raise UnsupportedConfigError(f"{where}.{kind}: not implemented in tfsynth")


def _target_assigner(stage: str, use_matmul_gather: bool) -> TargetAssigner:
    """The OD API's create_target_assigner('FasterRCNN', stage)."""
    if stage == "proposal":
        matcher = ArgMaxMatcher(matched_threshold=0.7, unmatched_threshold=0.3, force_match_for_each_row=True,
                                use_matmul_gather=use_matmul_gather)
    else:  # detection: every proposal under IoU 0.5 is a candidate negative
        matcher = ArgMaxMatcher(matched_threshold=0.5, negatives_lower_than_unmatched=True,
                                use_matmul_gather=use_matmul_gather)
    return TargetAssigner(IouSimilarity(), matcher, FasterRcnnBoxCoder(scale_factors=[10.0, 10.0, 5.0, 5.0]))


_HONOURED = {
    "number_of_stages", "num_classes", "image_resizer", "feature_extractor", "first_stage_anchor_generator",
    "first_stage_atrous_rate", "first_stage_box_predictor_conv_hyperparams", "first_stage_box_predictor_kernel_size",
    "first_stage_box_predictor_depth", "first_stage_minibatch_size", "first_stage_positive_balance_fraction",
    "first_stage_nms_score_threshold", "first_stage_nms_iou_threshold", "first_stage_max_proposals",
    "first_stage_localization_loss_weight", "first_stage_objectness_loss_weight", "initial_crop_size",
    "maxpool_kernel_size", "maxpool_stride", "second_stage_box_predictor", "second_stage_batch_size",
    "second_stage_balance_fraction", "second_stage_post_processing", "second_stage_localization_loss_weight",
    "second_stage_classification_loss_weight", "second_stage_mask_prediction_loss_weight", "hard_example_miner",
    "second_stage_classification_loss", "use_matmul_crop_and_resize", "clip_anchors_to_image",
    # Exact either way (gathers), or the same sampling distribution / NMS result with fixed shapes (TPU paths):
    "use_matmul_gather_in_matcher", "use_static_balanced_label_sampler", "use_static_shapes",
    "use_static_shapes_for_eval", "use_partitioned_nms_in_first_stage", "resize_masks",
}


def build(config, is_training: bool, add_summaries: bool = True) -> FasterRCNNMetaArch:
    """model.faster_rcnn proto -> FasterRCNNMetaArch."""
    return FasterRCNNMetaArch(**_build_components(config, is_training))


def check_config(config, is_training: bool = True) -> None:
    """Raises what build() would raise for model.faster_rcnn, without creating the (large) backbone."""
    _build_components(config, is_training)


def _build_components(config, is_training: bool) -> Dict:
    """The FasterRCNNMetaArch constructor arguments; the feature extractor's Keras models are not made yet."""
    where = "model.faster_rcnn"
    if config.inplace_batchnorm_update:
        raise ValueError(f"{where}.inplace_batchnorm_update: inplace batchnorm updates are not supported (as in "
                         "the OD API's Keras models)")
    reject_unhonoured(config, _HONOURED, where)
    if config.num_classes <= 0:
        raise ValueError(f"{where}.num_classes = {config.num_classes}: expected a positive number of classes")
    if config.number_of_stages not in (1, 2):
        raise NotImplementedError(f"{where}.number_of_stages = {config.number_of_stages}: only 1 and 2 are "
                                  "implemented (3 is Mask R-CNN)")
    feature_extractor, is_fpn = _build_feature_extractor(config.feature_extractor, is_training,
                                                         f"{where}.feature_extractor")
    anchor_generator = _build_anchor_generator(config.first_stage_anchor_generator,
                                               f"{where}.first_stage_anchor_generator")
    if is_fpn != isinstance(anchor_generator, MultiscaleAnchorGenerator):
        raise ValueError(f"{where}.first_stage_anchor_generator: FPN feature extractors need a "
                         "multiscale_anchor_generator and the others a grid_anchor_generator")
    use_static_shapes = config.use_static_shapes and (config.use_static_shapes_for_eval or is_training)
    first_stage_nms_fn = functools.partial(
        post_processing.batch_multiclass_non_max_suppression, score_thresh=config.first_stage_nms_score_threshold,
        iou_thresh=config.first_stage_nms_iou_threshold, max_size_per_class=config.first_stage_max_proposals,
        max_total_size=config.first_stage_max_proposals)
    if not 0 <= config.first_stage_nms_iou_threshold <= 1:
        raise ValueError(f"{where}.first_stage_nms_iou_threshold = {config.first_stage_nms_iou_threshold}: "
                         "expected a value in [0, 1]")
    if not 0 < config.first_stage_positive_balance_fraction < 1:
        raise ValueError(f"{where}.first_stage_positive_balance_fraction: expected a value in (0, 1)")
    crop_and_resize_fn = (multilevel_matmul_crop_and_resize if config.use_matmul_crop_and_resize
                          else multilevel_native_crop_and_resize)
    second_stage_box_predictor = None
    second_stage_nms_params: Dict = {}
    score_conversion_fn = None
    if config.number_of_stages >= 2:
        if not config.initial_crop_size:
            raise ValueError(f"{where}.initial_crop_size: must be set (e.g. 14) for a two-stage model")
        second_stage_box_predictor = _build_mask_rcnn_box_predictor(
            config.second_stage_box_predictor, f"{where}.second_stage_box_predictor", is_training,
            config.num_classes)
        nms_fn, score_conversion_fn = post_processing_builder.build(config.second_stage_post_processing,
                                                                    f"{where}.second_stage_post_processing")
        second_stage_nms_params = dict(nms_fn.keywords)
    hard_example_miner = None
    if config.HasField("hard_example_miner"):
        hard_example_miner = losses_builder.build_hard_example_miner(
            config.hard_example_miner, config.second_stage_classification_loss_weight,
            config.second_stage_localization_loss_weight)
    is_static_sampler = config.use_static_balanced_label_sampler and use_static_shapes
    return dict(
        is_training=is_training, num_classes=config.num_classes,
        image_resizer_fn=image_resizer_builder.build(config.image_resizer, f"{where}.image_resizer"),
        feature_extractor=feature_extractor, number_of_stages=config.number_of_stages,
        first_stage_anchor_generator=anchor_generator,
        first_stage_target_assigner=_target_assigner("proposal", config.use_matmul_gather_in_matcher),
        first_stage_atrous_rate=config.first_stage_atrous_rate,
        first_stage_box_predictor_arg_scope_fn=hyperparams_builder.build(
            _without_op(config.first_stage_box_predictor_conv_hyperparams),
            f"{where}.first_stage_box_predictor_conv_hyperparams"),
        first_stage_box_predictor_kernel_size=config.first_stage_box_predictor_kernel_size,
        first_stage_box_predictor_depth=config.first_stage_box_predictor_depth,
        first_stage_minibatch_size=config.first_stage_minibatch_size,
        first_stage_sampler=BalancedPositiveNegativeSampler(config.first_stage_positive_balance_fraction,
                                                            is_static=is_static_sampler),
        first_stage_non_max_suppression_fn=first_stage_nms_fn,
        first_stage_max_proposals=config.first_stage_max_proposals,
        first_stage_localization_loss_weight=config.first_stage_localization_loss_weight,
        first_stage_objectness_loss_weight=config.first_stage_objectness_loss_weight,
        crop_and_resize_fn=crop_and_resize_fn, initial_crop_size=config.initial_crop_size,
        maxpool_kernel_size=config.maxpool_kernel_size, maxpool_stride=config.maxpool_stride,
        second_stage_target_assigner=_target_assigner("detection", config.use_matmul_gather_in_matcher),
        second_stage_mask_rcnn_box_predictor=second_stage_box_predictor,
        second_stage_batch_size=config.second_stage_batch_size,
        second_stage_sampler=BalancedPositiveNegativeSampler(config.second_stage_balance_fraction,
                                                             is_static=is_static_sampler),
        second_stage_non_max_suppression_params=second_stage_nms_params,
        second_stage_score_conversion_fn=score_conversion_fn,
        second_stage_localization_loss_weight=config.second_stage_localization_loss_weight,
        second_stage_classification_loss_weight=config.second_stage_classification_loss_weight,
        second_stage_classification_loss=_build_second_stage_classification_loss(
            config.second_stage_classification_loss, f"{where}.second_stage_classification_loss"),
        hard_example_miner=hard_example_miner, clip_anchors_to_image=config.clip_anchors_to_image,
        use_static_shapes=use_static_shapes)
