"""Detection losses (the OD API's core/losses.py): per-anchor localization losses [B, A], per-anchor-and-class
classification losses [B, A, C] (softmax: [B, A]), and the hard example miner.

Every loss is called as loss(prediction, target, weights=..., ignore_nan_targets=False, losses_mask=None).
"""
from typing import Any, List, Optional

import tensorflow as tf

from tfsynth.core import box_ops, matchers


class Loss:
    def __call__(self, prediction_tensor, target_tensor, ignore_nan_targets: bool = False,
                 losses_mask: Optional[tf.Tensor] = None, **params):
        if ignore_nan_targets:
            target_tensor = tf.where(tf.math.is_nan(target_tensor), prediction_tensor, target_tensor)
        if losses_mask is not None:
            multiplier = self._mask_multiplier(prediction_tensor, losses_mask)
            prediction_tensor *= multiplier
            target_tensor *= multiplier
            if "weights" in params:
                params["weights"] = tf.convert_to_tensor(params["weights"])
                params["weights"] *= self._mask_multiplier(params["weights"], losses_mask)
        return self._compute_loss(prediction_tensor, target_tensor, **params)

    @staticmethod
    def _mask_multiplier(tensor, losses_mask):
        return tf.cast(tf.reshape(losses_mask, [-1] + [1] * (len(tensor.shape) - 1)), tf.float32)

    def _compute_loss(self, prediction_tensor, target_tensor, **params):
        raise NotImplementedError


class WeightedL2LocalizationLoss(Loss):
    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        weighted_diff = (prediction_tensor - target_tensor) * tf.expand_dims(weights, 2)
        return tf.reduce_sum(0.5 * tf.square(weighted_diff), 2)


class WeightedSmoothL1LocalizationLoss(Loss):
    """Huber loss with the given delta, summed over the code."""

    def __init__(self, delta: float = 1.0):
        self._delta = delta

    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        abs_error = tf.abs(prediction_tensor - target_tensor)
        quadratic = tf.minimum(abs_error, self._delta)
        linear = abs_error - quadratic
        huber = 0.5 * quadratic * quadratic + self._delta * linear
        return tf.reduce_sum(huber * tf.expand_dims(weights, 2), axis=2)


class WeightedIOULocalizationLoss(Loss):
    """1 - IoU of predicted and target boxes (both as corner boxes)."""

    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        predicted = tf.reshape(prediction_tensor, [-1, 4])
        target = tf.reshape(target_tensor, [-1, 4])
        inter = tf.linalg.diag_part(box_ops.intersection(predicted, target))
        union = box_ops.area(predicted) + box_ops.area(target) - inter
        ious = tf.where(tf.equal(inter, 0.0), tf.zeros_like(inter), inter / union)
        return tf.reshape(1.0 - ious, tf.shape(weights)) * weights


class L1LocalizationLoss(Loss):
    """Absolute difference per element, times weights broadcast over the last axis (CenterNet's box scale and
    offset losses, where each "anchor" is one groundtruth centre)."""

    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        return tf.abs(target_tensor - prediction_tensor) * tf.cast(weights, tf.float32)


class PenaltyReducedLogisticFocalLoss(Loss):
    """CenterNet's pixel-wise focal loss (Zhou et al. 2019, eq. 1), per pixel and class, [B, P, C].

    A pixel whose target is exactly 1 (an object centre) is a positive: -(1 - p)^alpha log p. Every other pixel
    is a negative whose penalty shrinks near a centre by (1 - target)^beta: -(1 - y)^beta p^alpha log(1 - p).
    p is the sigmoid of the logit, clipped to [clip, 1 - clip] so that the logs stay finite.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, sigmoid_clip_value: float = 1e-4):
        self._alpha = alpha
        self._beta = beta
        self._sigmoid_clip_value = sigmoid_clip_value

    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        probabilities = tf.clip_by_value(tf.sigmoid(prediction_tensor), self._sigmoid_clip_value,
                                         1 - self._sigmoid_clip_value)
        at_centre = tf.pow(1 - probabilities, self._alpha) * tf.math.log(probabilities)
        elsewhere = (tf.pow(1 - target_tensor, self._beta) * tf.pow(probabilities, self._alpha)
                     * tf.math.log(1 - probabilities))
        return -tf.where(tf.equal(target_tensor, 1.0), at_centre, elsewhere) * weights


def _restrict_to_classes(weights: tf.Tensor, class_indices: Optional[tf.Tensor], num_classes) -> tf.Tensor:
    """weights [B, A, C] with the columns of classes outside class_indices zeroed (None: all classes count)."""
    if class_indices is None:
        return weights
    counted = tf.reduce_max(tf.one_hot(class_indices, num_classes), axis=0)
    return weights * counted[None, None, :]


def _by_target(targets: tf.Tensor, at_one, at_zero):
    """at_one where the target is 1, at_zero where it is 0 (and the linear blend for soft targets)."""
    return targets * at_one + (1 - targets) * at_zero


class WeightedSigmoidClassificationLoss(Loss):
    """Independent sigmoid cross entropy per anchor and class, [B, A, C]."""

    def _compute_loss(self, prediction_tensor, target_tensor, weights, class_indices=None):
        weights = _restrict_to_classes(weights, class_indices, tf.shape(prediction_tensor)[2])
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=target_tensor, logits=prediction_tensor) * weights


class SigmoidFocalClassificationLoss(Loss):
    """Focal loss (Lin et al. 2017): sigmoid cross entropy scaled by alpha_t * (1 - p_t)^gamma, [B, A, C].

    p_t is the probability the model gives the target's own value, so anchors it already gets right (most of the
    background) add little; alpha_t weighs positives by alpha and negatives by 1 - alpha. gamma 0 or alpha None
    makes that factor 1.
    """

    def __init__(self, gamma: float = 2.0, alpha: Optional[float] = 0.25):
        self._gamma = gamma
        self._alpha = alpha

    def _compute_loss(self, prediction_tensor, target_tensor, weights, class_indices=None):
        weights = _restrict_to_classes(weights, class_indices, tf.shape(prediction_tensor)[2])
        cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=target_tensor, logits=prediction_tensor)
        probabilities = tf.sigmoid(prediction_tensor)
        # A factor that is switched off stays in the product as 1.0 rather than leaving it: graph mode regroups a
        # product chain by its shape, and the same chain in every configuration keeps the float32 results.
        focus = (tf.pow(1.0 - _by_target(target_tensor, probabilities, 1 - probabilities), self._gamma)
                 if self._gamma else 1.0)
        balance = _by_target(target_tensor, self._alpha, 1 - self._alpha) if self._alpha is not None else 1.0
        return focus * balance * cross_entropy * weights


class WeightedSoftmaxClassificationLoss(Loss):
    """Softmax cross entropy per anchor, [B, A]."""

    def __init__(self, logit_scale: float = 1.0):
        self._logit_scale = logit_scale

    def _compute_loss(self, prediction_tensor, target_tensor, weights):
        weights = tf.reduce_mean(weights, axis=2)
        num_classes = prediction_tensor.shape[-1]
        prediction_tensor = tf.divide(prediction_tensor, self._logit_scale)
        per_row = tf.nn.softmax_cross_entropy_with_logits(labels=tf.reshape(target_tensor, [-1, num_classes]),
                                                          logits=tf.reshape(prediction_tensor, [-1, num_classes]))
        return tf.reshape(per_row, tf.shape(weights)) * weights


# Hard example mining runs its NMS on the highest-loss anchors only when the IoU threshold is this high (SSD's
# 0.99: few anchors suppressed); below it, over every anchor as the OD API does. The prefix holds the negatives
# needed, every positive that could be among them, and this many more for the ones suppressed.
_PREFIX_NMS_MIN_IOU = 0.9
_PREFIX_NMS_MARGIN = 64


class HardExampleMiner:
    """Online hard example mining (the OD API's HardExampleMiner): NMS over the per-anchor losses, then at most
    max_negatives_per_positive negatives per positive (at least min_negatives_per_image)."""

    def __init__(self, num_hard_examples: Optional[int] = 64, iou_threshold: float = 0.7, loss_type: str = "both",
                 cls_loss_weight: float = 0.05, loc_loss_weight: float = 0.06,
                 max_negatives_per_positive: Optional[float] = None, min_negatives_per_image: int = 0):
        self._num_hard_examples = num_hard_examples
        self._iou_threshold = iou_threshold
        self._loss_type = loss_type
        self._cls_loss_weight = cls_loss_weight
        self._loc_loss_weight = loc_loss_weight
        self._max_negatives_per_positive = max_negatives_per_positive
        self._min_negatives_per_image = min_negatives_per_image

    def __call__(self, location_losses: tf.Tensor, cls_losses: tf.Tensor, decoded_boxes: List[tf.Tensor],
                 match_list: Optional[List[tf.Tensor]] = None):
        location_losses = tf.unstack(location_losses)
        cls_losses = tf.unstack(cls_losses)
        if match_list is None:
            match_list = [None] * len(decoded_boxes)
        if not len(location_losses) == len(decoded_boxes) == len(cls_losses) == len(match_list):
            raise ValueError("hard example miner: losses, boxes and matches differ in batch size")
        selected = self._selected_per_image(location_losses, cls_losses, decoded_boxes, match_list)
        mined_loc = [tf.reduce_sum(tf.gather(loss, indices)) for loss, indices in zip(location_losses, selected)]
        mined_cls = [tf.reduce_sum(tf.gather(loss, indices)) for loss, indices in zip(cls_losses, selected)]
        return tf.reduce_sum(tf.stack(mined_loc)), tf.reduce_sum(tf.stack(mined_cls))

    def _selected_per_image(self, location_losses: List[tf.Tensor], cls_losses: List[tf.Tensor],
                            decoded_boxes: List[tf.Tensor], match_list: List[Optional[tf.Tensor]]) -> List[tf.Tensor]:
        """The mined anchor indices of each image. Several images of equal anchor count run one selection in a
        tf.map_fn (indices padded to the anchor count), not one copy per image: unrolled, the batch's copies of the
        NMS and its fallback were a large part of tracing an SSD training step. Same indices either way."""
        def select(image_loc, image_cls, boxes, match):
            image_losses = image_cls
            if self._loss_type == "loc":
                image_losses = image_loc
            elif self._loss_type == "both":
                image_losses = image_cls * self._cls_loss_weight + image_loc * self._loc_loss_weight
            num_hard = self._num_hard_examples if self._num_hard_examples is not None else tf.shape(boxes)[0]
            if self._max_negatives_per_positive is not None and match is not None:
                return self._mined_indices(boxes, image_losses, num_hard, match)
            return tf.image.non_max_suppression(boxes, image_losses, num_hard, self._iou_threshold)

        batchable = (len(decoded_boxes) > 1 and all(match is not None for match in match_list)
                     and len({boxes.shape[0] for boxes in decoded_boxes}) == 1 and decoded_boxes[0].shape[0])
        if not batchable:
            return [select(*image) for image in zip(location_losses, cls_losses, decoded_boxes, match_list)]
        num_anchors = decoded_boxes[0].shape[0]

        def select_padded(image):
            indices = tf.cast(select(*image), tf.int32)
            count = tf.shape(indices)[0]
            return tf.pad(indices, [[0, num_anchors - count]], constant_values=-1), count

        # Indices are integers: nothing differentiable passes through the selection.
        inputs = tuple(tf.stop_gradient(tf.stack(parts)) for parts in
                       (location_losses, cls_losses, decoded_boxes)) + (tf.stack(match_list),)
        padded, counts = tf.map_fn(select_padded, inputs, fn_output_signature=(tf.int32, tf.int32))
        return [padded[index, :counts[index]] for index in range(len(decoded_boxes))]

    def _mined_indices(self, boxes: tf.Tensor, losses: tf.Tensor, num_hard: Any, match: tf.Tensor) -> tf.Tensor:
        """The anchors the OD API's mining keeps, in its order: NMS over the losses (at most num_hard), then all
        kept positives and the first max_negatives kept negatives (_subsample).

        The same indices, computed faster. NMS over every anchor compares each kept box with all kept before it
        (about n^2 / 2 IoUs for n anchors when, as with SSD's iou_threshold 0.99, nearly all are kept): it was
        close to half of an SSDLite training step. But only a prefix of the loss order matters: the first
        max_negatives kept negatives, and the positives wherever they rank. So NMS runs on the highest-loss
        anchors (enough to hold the negatives needed, if few are suppressed), and each positive beyond them is
        kept if no anchor ranked above it overlaps it by more than the threshold (then nothing can suppress it).
        Where that does not settle every index (a positive beyond the prefix has such an overlap, too few
        negatives survive in the prefix, num_hard is below the number of anchors) the full NMS runs instead."""
        def full_nms():
            return self._subsample(tf.image.non_max_suppression(boxes, losses, num_hard, self._iou_threshold), match)

        if self._iou_threshold < _PREFIX_NMS_MIN_IOU:  # many suppressions: the prefix would rarely settle it
            return full_nms()
        num_anchors = tf.shape(boxes)[0]
        positives = matchers.matched_column_indicator(match)
        negatives = matchers.unmatched_column_indicator(match)
        num_matched = tf.reduce_sum(tf.cast(positives, tf.int32))
        # Ties in loss: lower index first, as the NMS kernel orders them.
        order = tf.argsort(losses, direction="DESCENDING", stable=True)
        rank = tf.scatter_nd(order[:, None], tf.range(num_anchors), [num_anchors])
        prefix_size = tf.minimum(num_anchors, self._max_negatives(num_matched) + num_matched + _PREFIX_NMS_MARGIN)
        prefix = order[:prefix_size]
        kept_in_prefix = tf.gather(prefix, tf.image.non_max_suppression(
            tf.gather(boxes, prefix), tf.gather(losses, prefix), prefix_size, self._iou_threshold))
        beyond = tf.cast(tf.reshape(tf.where(positives & (rank >= prefix_size)), [-1]), tf.int32)
        beyond = tf.gather(beyond, tf.argsort(tf.gather(rank, beyond), stable=True))
        corners = tf.concat([tf.minimum(boxes[:, :2], boxes[:, 2:]), tf.maximum(boxes[:, :2], boxes[:, 2:])], 1)
        overlaps = box_ops.iou(tf.gather(corners, beyond), corners)
        ranked_above = rank[None, :] < tf.gather(rank, beyond)[:, None]
        # A small margin below the threshold: a rounding difference from the kernel's IoU must not decide.
        contested = tf.reduce_any((overlaps > self._iou_threshold - 1e-4) & ranked_above)
        candidates = tf.concat([kept_in_prefix, beyond], 0)
        num_positives = tf.reduce_sum(tf.cast(tf.gather(positives, candidates), tf.int32))
        negatives_in_prefix = tf.reduce_sum(tf.cast(tf.gather(negatives, kept_in_prefix), tf.int32))
        settled = (tf.logical_not(contested) & (num_hard >= num_anchors)
                   & ((negatives_in_prefix >= self._max_negatives(num_positives)) | (prefix_size >= num_anchors)))
        return tf.cond(settled, lambda: self._subsample(candidates, match), full_nms)

    def _max_negatives(self, num_positives: tf.Tensor) -> tf.Tensor:
        return tf.maximum(self._min_negatives_per_image, tf.cast(
            self._max_negatives_per_positive * tf.cast(num_positives, dtype=tf.float32), dtype=tf.int32))

    def _subsample(self, indices: tf.Tensor, match: tf.Tensor) -> tf.Tensor:
        positives = tf.gather(matchers.matched_column_indicator(match), indices)
        negatives = tf.gather(matchers.unmatched_column_indicator(match), indices)
        num_positives = tf.reduce_sum(tf.cast(positives, dtype=tf.int32))
        max_negatives = self._max_negatives(num_positives)
        topk_negatives = tf.less_equal(tf.cumsum(tf.cast(negatives, dtype=tf.int32)), max_negatives)
        keep = tf.where(tf.logical_or(positives, topk_negatives))
        return tf.reshape(tf.gather(indices, keep), [-1])
