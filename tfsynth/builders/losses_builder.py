"""Loss proto -> (classification_loss, localization_loss, classification_weight, localization_weight,
hard_example_miner), as the OD API's losses_builder (random sampling / expected-loss weighting unsupported)."""
from tfsynth.builders.config_check import reject_unhonoured, require_oneof
from tfsynth.core import losses


def _focal(c):
    return losses.SigmoidFocalClassificationLoss(gamma=c.gamma, alpha=c.alpha if c.HasField("alpha") else None)


_CLASSIFICATION = {
    "weighted_sigmoid": lambda c: losses.WeightedSigmoidClassificationLoss(),
    "weighted_sigmoid_focal": _focal,
    "weighted_softmax": lambda c: losses.WeightedSoftmaxClassificationLoss(logit_scale=c.logit_scale),
}
_LOCALIZATION = {
    "weighted_l2": lambda c: losses.WeightedL2LocalizationLoss(),
    "weighted_smooth_l1": lambda c: losses.WeightedSmoothL1LocalizationLoss(delta=c.delta),
    "weighted_iou": lambda c: losses.WeightedIOULocalizationLoss(),
}
# CenterNet's losses, for its heatmap ([B, cells, classes]) and its box targets ([boxes, 2]); the per-anchor losses
# above do not fit those shapes (weighted L2 and smooth L1 would broadcast the box weights across boxes), nor these
# SSD's and Faster R-CNN's.
CENTER_NET_CLASSIFICATION = {
    # alpha and beta have no proto defaults: an unset one is 0, as in the OD API (its sample configs set both).
    "penalty_reduced_logistic_focal_loss": lambda c: losses.PenaltyReducedLogisticFocalLoss(alpha=c.alpha,
                                                                                            beta=c.beta),
}
CENTER_NET_LOCALIZATION = {"l1_localization_loss": lambda c: losses.L1LocalizationLoss()}
_LOSS_TYPES = {0: "both", 1: "cls", 2: "loc"}


def build_hard_example_miner(c, classification_weight: float, localization_weight: float):
    return losses.HardExampleMiner(
        num_hard_examples=c.num_hard_examples if c.num_hard_examples > 0 else None, iou_threshold=c.iou_threshold,
        loss_type=_LOSS_TYPES[c.loss_type], cls_loss_weight=classification_weight,
        loc_loss_weight=localization_weight,
        max_negatives_per_positive=c.max_negatives_per_positive if c.max_negatives_per_positive > 0 else None,
        min_negatives_per_image=c.min_negatives_per_image)


def build_classification_loss(config, where: str, supported=None):
    """ClassificationLoss proto -> (loss, which branch) from `supported` (default: the per-anchor losses); errors
    name the field under `where`."""
    supported = _CLASSIFICATION if supported is None else supported
    kind = require_oneof(config, "classification_loss", supported, where)
    branch = getattr(config, kind)
    reject_unhonoured(branch, {"gamma", "alpha", "beta", "logit_scale"}, f"{where}.{kind}")
    return supported[kind](branch), kind


def build_localization_loss(config, where: str, supported=None):
    """LocalizationLoss proto -> loss from `supported` (default: the per-anchor losses); errors name the field
    under `where`."""
    supported = _LOCALIZATION if supported is None else supported
    kind = require_oneof(config, "localization_loss", supported, where)
    branch = getattr(config, kind)
    reject_unhonoured(branch, {"delta"}, f"{where}.{kind}")
    return supported[kind](branch)


def build(config, where: str = "loss"):
    reject_unhonoured(config, {"localization_loss", "classification_loss", "hard_example_miner",
                               "classification_weight", "localization_weight"}, where)
    classification_loss, cls_kind = build_classification_loss(config.classification_loss,
                                                               f"{where}.classification_loss")
    localization_loss = build_localization_loss(config.localization_loss, f"{where}.localization_loss")
    miner = None
    if config.HasField("hard_example_miner"):
        if cls_kind == "weighted_sigmoid_focal":
            raise ValueError(f"{where}.hard_example_miner: should not be used with weighted_sigmoid_focal")
        miner = build_hard_example_miner(config.hard_example_miner, config.classification_weight,
                                         config.localization_weight)
    return (classification_loss, localization_loss, config.classification_weight, config.localization_weight,
            miner)
