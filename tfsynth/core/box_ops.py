"""Operations on [N, 4] box tensors in the OD API's [ymin, xmin, ymax, xmax] layout.

The OD API wraps boxes in a BoxList with named extra fields; here boxes are plain tensors and the extra fields are
plain dicts of tensors whose first dimension is N, which keeps the ops easy to read and to call from tf.function.
The arithmetic follows the OD API's box_list_ops operation for operation so float32 results are identical.
"""
from typing import Dict, NamedTuple, Tuple

import tensorflow as tf

Fields = Dict[str, tf.Tensor]


class CentreSize(NamedTuple):
    """Boxes as centres and sizes, one [N] tensor per coordinate (the form box coders compute in)."""

    y: tf.Tensor
    x: tf.Tensor
    height: tf.Tensor
    width: tf.Tensor

    @classmethod
    def from_corners(cls, boxes: tf.Tensor) -> "CentreSize":
        """[N, 4] corner boxes -> centres and sizes.

        The project's one corner-to-centre conversion: every box coder reads boxes through it, so all of them
        round a centre the same way (min + size / 2, as the OD API's BoxList does, for the same float32 result).
        """
        y_min, x_min, y_max, x_max = tf.unstack(boxes, axis=1)
        height, width = y_max - y_min, x_max - x_min
        return cls(y_min + height / 2.0, x_min + width / 2.0, height, width)


def corners_from_centre_size(y: tf.Tensor, x: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """[N] centres and sizes -> [N, 4] corner boxes (the inverse of CentreSize.from_corners)."""
    half_height, half_width = height / 2.0, width / 2.0
    return tf.stack([y - half_height, x - half_width, y + half_height, x + half_width], axis=1)


def area(boxes: tf.Tensor) -> tf.Tensor:
    """Area of each box, [N]."""
    ymin, xmin, ymax, xmax = tf.split(boxes, 4, axis=1)
    return tf.squeeze((ymax - ymin) * (xmax - xmin), [1])


def intersection(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection areas, [N, M]."""
    ymin1, xmin1, ymax1, xmax1 = tf.split(boxes1, 4, axis=1)
    ymin2, xmin2, ymax2, xmax2 = tf.split(boxes2, 4, axis=1)
    heights = tf.maximum(0.0, tf.minimum(ymax1, tf.transpose(ymax2)) - tf.maximum(ymin1, tf.transpose(ymin2)))
    widths = tf.maximum(0.0, tf.minimum(xmax1, tf.transpose(xmax2)) - tf.maximum(xmin1, tf.transpose(xmin2)))
    return heights * widths


def iou(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection over union, [N, M]; 0 where the union is empty."""
    inter = intersection(boxes1, boxes2)
    union = tf.expand_dims(area(boxes1), 1) + tf.expand_dims(area(boxes2), 0) - inter
    return tf.where(tf.equal(inter, 0.0), tf.zeros_like(inter), tf.truediv(inter, union))


def ioa(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection over the area of boxes2, [N, M] (the OD API's ioa(boxlist1, boxlist2))."""
    return tf.truediv(intersection(boxes1, boxes2), tf.expand_dims(area(boxes2), 0))


def neg_sq_dist(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Negative squared distance between box corner vectors, [N, M]."""
    sq1 = tf.reduce_sum(tf.square(boxes1), 1, keepdims=True)
    sq2 = tf.reduce_sum(tf.square(boxes2), 1, keepdims=True)
    inner = tf.matmul(boxes1, boxes2, transpose_b=True)
    return -(sq1 + tf.transpose(sq2) - 2.0 * inner)


def gather(boxes: tf.Tensor, fields: Fields, indices: tf.Tensor) -> Tuple[tf.Tensor, Fields]:
    """Rows `indices` of boxes and of every field."""
    return tf.gather(boxes, indices), {k: tf.gather(v, indices) for k, v in fields.items()}


def sort_by_scores(boxes: tf.Tensor, fields: Fields) -> Tuple[tf.Tensor, Fields]:
    """Sorts boxes and fields by fields['scores'], descending (top_k, as the OD API's sort_by_field)."""
    scores = fields["scores"]
    _, order = tf.nn.top_k(scores, tf.shape(scores)[0], sorted=True)
    return gather(boxes, fields, order)


def clip_to_window(boxes: tf.Tensor, fields: Fields, window: tf.Tensor,
                   filter_nonoverlapping: bool = True) -> Tuple[tf.Tensor, Fields]:
    """Clips boxes to window [ymin, xmin, ymax, xmax]; optionally drops boxes left with zero area."""
    y_min, x_min, y_max, x_max = tf.split(boxes, 4, axis=1)
    win_y_min, win_x_min, win_y_max, win_x_max = tf.unstack(window)
    clipped = tf.concat([
        tf.maximum(tf.minimum(y_min, win_y_max), win_y_min),
        tf.maximum(tf.minimum(x_min, win_x_max), win_x_min),
        tf.maximum(tf.minimum(y_max, win_y_max), win_y_min),
        tf.maximum(tf.minimum(x_max, win_x_max), win_x_min)], 1)
    if not filter_nonoverlapping:
        return clipped, fields
    keep = tf.cast(tf.reshape(tf.where(tf.greater(area(clipped), 0.0)), [-1]), tf.int32)
    return gather(clipped, fields, keep)


def pad_or_clip(boxes: tf.Tensor, fields: Fields, size: int) -> Tuple[tf.Tensor, Fields]:
    """Zero-pads (or truncates) boxes and fields to exactly `size` rows."""
    def fit(t: tf.Tensor) -> tf.Tensor:
        t = t[:size]
        pad = tf.maximum(size - tf.shape(t)[0], 0)
        paddings = tf.concat([[[0, pad]], tf.zeros([tf.rank(t) - 1, 2], tf.int32)], 0)
        out = tf.pad(t, paddings)
        # set_shape, not tf.ensure_shape: same static shape, and no EnsureShape op (TFLite has no kernel for it)
        out.set_shape([size] + t.shape[1:].as_list())
        return out
    return fit(boxes), {k: fit(v) for k, v in fields.items()}


def to_normalized(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Absolute pixel boxes -> normalized [0, 1] coordinates."""
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    return boxes / tf.stack([height, width, height, width])


def change_coordinate_frame(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Boxes relative to `window` ([ymin, xmin, ymax, xmax]): the window becomes [0, 0, 1, 1]."""
    win_height = window[2] - window[0]
    win_width = window[3] - window[1]
    shifted = boxes - [window[0], window[1], window[0], window[1]]
    y_scale = tf.cast(1.0 / win_height, tf.float32)
    x_scale = tf.cast(1.0 / win_width, tf.float32)
    y_min, x_min, y_max, x_max = tf.split(shifted, 4, axis=1)
    return tf.concat([y_scale * y_min, x_scale * x_min, y_scale * y_max, x_scale * x_max], 1)
