"""PostProcessing proto -> (non_max_suppression_fn, score_conversion_fn), as the OD API's builder."""
import functools

import tensorflow as tf

from tfsynth.builders.config_check import reject_unhonoured
from tfsynth.core import post_processing

_SCORE_CONVERTERS = {"IDENTITY": tf.identity, "SIGMOID": tf.sigmoid, "SOFTMAX": tf.nn.softmax}


def _score_converter(config, where: str):
    name = config.DESCRIPTOR.fields_by_name["score_converter"].enum_type.values_by_number[
        config.score_converter].name
    convert = _SCORE_CONVERTERS[name]
    logit_scale = config.logit_scale

    def score_converter_fn(logits):
        return convert(tf.multiply(logits, 1.0 / logit_scale))
    return score_converter_fn


def build(config, where: str = "post_processing"):
    reject_unhonoured(config, {"batch_non_max_suppression", "score_converter", "logit_scale"}, where)
    nms = config.batch_non_max_suppression
    nms_where = f"{where}.batch_non_max_suppression"
    reject_unhonoured(nms, {"score_threshold", "iou_threshold", "max_detections_per_class", "max_total_detections",
                            "soft_nms_sigma", "change_coordinate_frame"}, nms_where)
    if not 0 <= nms.iou_threshold <= 1.0:
        raise ValueError(f"{nms_where}.iou_threshold = {nms.iou_threshold}: expected a value in [0, 1]")
    if nms.max_detections_per_class > nms.max_total_detections:
        raise ValueError(f"{nms_where}: max_detections_per_class ({nms.max_detections_per_class}) exceeds "
                         f"max_total_detections ({nms.max_total_detections})")
    nms_fn = functools.partial(post_processing.batch_multiclass_non_max_suppression,
                               score_thresh=nms.score_threshold, iou_thresh=nms.iou_threshold,
                               max_size_per_class=nms.max_detections_per_class,
                               max_total_size=nms.max_total_detections, soft_nms_sigma=nms.soft_nms_sigma,
                               change_coordinate_frame=nms.change_coordinate_frame)
    return nms_fn, _score_converter(config, where)
