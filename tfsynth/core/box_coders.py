"""Box coders: a box written relative to its anchor, and back (the OD API's faster_rcnn, square and mean_stddev
coders, with their config names, code layouts and float32 results).

encode(boxes [N, 4], anchors [N, 4]) -> codes [N, code_size]; decode(codes, anchors) -> boxes [N, 4].

The faster_rcnn and square coders are one scheme, told apart only by how they measure a box's extent:
    code = [y offset / anchor extent, x offset / anchor extent, log(extent / anchor extent) ...] * scale_factors
with extents (height, width) for faster_rcnn -> [ty, tx, th, tw] (y offsets in heights, x offsets in widths), and
the single extent sqrt(height * width) for square -> [ty, tx, tl]. Both read boxes through box_ops.CentreSize.
Every code column is its own [N] tensor: elementwise float32 kernels (log, exp) may round the last bit
differently with the position of an element in a longer tensor, and per-column tensors keep the OD API's results.
"""
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf

from tfsynth.core.box_ops import CentreSize, corners_from_centre_size

# Added to both extents before dividing and taking the log: a zero-size box or anchor would give inf or NaN.
_SIZE_EPSILON = 1e-8


class _CentreExtentCoder:
    """The shared centre-offset / log-extent scheme; subclasses say how extents are measured."""

    code_size: int
    config_name: str

    def __init__(self, scale_factors: Optional[Sequence[float]] = None):
        if scale_factors and (len(scale_factors) != self.code_size or min(scale_factors) <= 0):
            raise ValueError(f"{self.config_name}: scale factors must be {self.code_size} positive numbers, got "
                             f"{list(scale_factors)}")
        # Per-column factors (e.g. 10, 10, 5, 5) bring the regression targets of the columns to comparable sizes;
        # None leaves the codes unscaled.
        self.scale_factors: Optional[List[float]] = list(scale_factors) if scale_factors else None

    @staticmethod
    def _extents(boxes: CentreSize) -> Tuple[tf.Tensor, ...]:
        """The extents codes are measured in: the first scales y offsets, the last x offsets."""
        raise NotImplementedError

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Codes [N, code_size] of boxes [N, 4] relative to anchors [N, 4]."""
        box, anchor = CentreSize.from_corners(boxes), CentreSize.from_corners(anchors)
        box_extents = [e + _SIZE_EPSILON for e in self._extents(box)]
        anchor_extents = [e + _SIZE_EPSILON for e in self._extents(anchor)]
        columns = [(box.y - anchor.y) / anchor_extents[0], (box.x - anchor.x) / anchor_extents[-1]]
        columns += [tf.math.log(e / a) for e, a in zip(box_extents, anchor_extents)]
        if self.scale_factors:
            columns = [c * f for c, f in zip(columns, self.scale_factors)]
        return tf.stack(columns, axis=1)

    def decode(self, rel_codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Boxes [N, 4] from codes [N, code_size] relative to anchors [N, 4]."""
        anchor = CentreSize.from_corners(anchors)
        # The anchor's own extents: the epsilon only guards encode's division and log.
        anchor_extents = self._extents(anchor)
        columns = tf.unstack(rel_codes, num=self.code_size, axis=1)
        if self.scale_factors:
            columns = [c / f for c, f in zip(columns, self.scale_factors)]
        extents = [tf.exp(c) * a for c, a in zip(columns[2:], anchor_extents)]
        return corners_from_centre_size(columns[0] * anchor_extents[0] + anchor.y,
                                        columns[1] * anchor_extents[-1] + anchor.x, extents[0], extents[-1])


class FasterRcnnBoxCoder(_CentreExtentCoder):
    """[ty, tx, th, tw]: y offset / anchor height, x offset / anchor width, log height and width ratios."""

    code_size = 4
    config_name = "faster_rcnn_box_coder"

    @staticmethod
    def _extents(boxes: CentreSize) -> Tuple[tf.Tensor, ...]:
        return boxes.height, boxes.width


class SquareBoxCoder(_CentreExtentCoder):
    """[ty, tx, tl]: offsets and log ratio measured in l = sqrt(height * width), so every box decodes square."""

    code_size = 3
    config_name = "square_box_coder"

    @staticmethod
    def _extents(boxes: CentreSize) -> Tuple[tf.Tensor, ...]:
        return (tf.sqrt(boxes.height * boxes.width),)


class MeanStddevBoxCoder:
    """Corner offsets from the anchor in units of stddev: (box - anchor) / stddev."""

    code_size = 4

    def __init__(self, stddev: float = 0.01):
        self.stddev = stddev

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Codes [N, 4] of boxes [N, 4] relative to anchors [N, 4]."""
        return (boxes - anchors) / self.stddev

    def decode(self, rel_codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Boxes [N, 4] from codes [N, 4] relative to anchors [N, 4]."""
        return rel_codes * self.stddev + anchors
