"""Box coders: anchor-relative encodings of boxes (the OD API's faster_rcnn, mean_stddev and square coders).

encode(boxes [N, 4], anchors [N, 4]) -> codes [N, code_size]; decode(codes, anchors) -> boxes. Each coder does the
OD API's float32 arithmetic in the OD API's order so decoded detections match it exactly.
"""
from typing import Optional, Sequence

import tensorflow as tf

from tfsynth.core.box_ops import center_size

EPSILON = 1e-8


class FasterRcnnBoxCoder:
    """[ty, tx, th, tw] = [dy / ha, dx / wa, log(h / ha), log(w / wa)] * scale_factors."""

    code_size = 4

    def __init__(self, scale_factors: Optional[Sequence[float]] = None):
        if scale_factors:
            if len(scale_factors) != 4 or any(s <= 0 for s in scale_factors):
                raise ValueError(f"faster_rcnn_box_coder: scale factors must be 4 positive numbers, got "
                                 f"{scale_factors}")
        self.scale_factors = list(scale_factors) if scale_factors else None

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        ycenter_a, xcenter_a, ha, wa = center_size(anchors)
        ycenter, xcenter, h, w = center_size(boxes)
        # Avoid NaN in division and log below.
        ha += EPSILON
        wa += EPSILON
        h += EPSILON
        w += EPSILON
        tx = (xcenter - xcenter_a) / wa
        ty = (ycenter - ycenter_a) / ha
        tw = tf.math.log(w / wa)
        th = tf.math.log(h / ha)
        if self.scale_factors:
            ty *= self.scale_factors[0]
            tx *= self.scale_factors[1]
            th *= self.scale_factors[2]
            tw *= self.scale_factors[3]
        return tf.transpose(tf.stack([ty, tx, th, tw]))

    def decode(self, rel_codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        ycenter_a, xcenter_a, ha, wa = center_size(anchors)
        ty, tx, th, tw = tf.unstack(tf.transpose(rel_codes))
        if self.scale_factors:
            ty /= self.scale_factors[0]
            tx /= self.scale_factors[1]
            th /= self.scale_factors[2]
            tw /= self.scale_factors[3]
        w = tf.exp(tw) * wa
        h = tf.exp(th) * ha
        ycenter = ty * ha + ycenter_a
        xcenter = tx * wa + xcenter_a
        return tf.transpose(tf.stack([ycenter - h / 2.0, xcenter - w / 2.0, ycenter + h / 2.0, xcenter + w / 2.0]))


class MeanStddevBoxCoder:
    """(box corners - anchor corners) / stddev."""

    code_size = 4

    def __init__(self, stddev: float = 0.01):
        self.stddev = stddev

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        return (boxes - anchors) / self.stddev

    def decode(self, rel_codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        return rel_codes * self.stddev + anchors


class SquareBoxCoder:
    """[ty, tx, tl] with l = sqrt(h * w): a square-box coder (the OD API's square_box_coder)."""

    code_size = 3

    def __init__(self, scale_factors: Optional[Sequence[float]] = None):
        if scale_factors and (len(scale_factors) != 3 or any(s <= 0 for s in scale_factors)):
            raise ValueError(f"square_box_coder: scale factors must be 3 positive numbers, got {scale_factors}")
        self.scale_factors = list(scale_factors) if scale_factors else None

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        ycenter_a, xcenter_a, ha, wa = center_size(anchors)
        la = tf.sqrt(ha * wa)
        ycenter, xcenter, h, w = center_size(boxes)
        l = tf.sqrt(h * w)
        la += EPSILON
        l += EPSILON
        tx = (xcenter - xcenter_a) / la
        ty = (ycenter - ycenter_a) / la
        tl = tf.math.log(l / la)
        if self.scale_factors:
            ty *= self.scale_factors[0]
            tx *= self.scale_factors[1]
            tl *= self.scale_factors[2]
        return tf.transpose(tf.stack([ty, tx, tl]))

    def decode(self, rel_codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        ycenter_a, xcenter_a, ha, wa = center_size(anchors)
        la = tf.sqrt(ha * wa)
        ty, tx, tl = tf.unstack(tf.transpose(rel_codes))
        if self.scale_factors:
            ty /= self.scale_factors[0]
            tx /= self.scale_factors[1]
            tl /= self.scale_factors[2]
        l = tf.exp(tl) * la
        ycenter = ty * la + ycenter_a
        xcenter = tx * la + xcenter_a
        return tf.transpose(tf.stack([ycenter - l / 2.0, xcenter - l / 2.0, ycenter + l / 2.0, xcenter + l / 2.0]))
