"""Box and batch helpers that both Faster R-CNN stages use: absolute <-> normalized boxes, per-image maps, clip
windows from image shapes, and decoding a batch of box encodings against per-image anchors.

Faster R-CNN works in absolute pixels of the padded input (anchors, proposals, groundtruth for the target
assigners) and hands normalized boxes to crop_and_resize and to the outside world; these helpers convert between
the two the way the OD API does, for the same float32 results.
"""
from typing import Callable, List

import tensorflow as tf


def scale_boxes(boxes: tf.Tensor, y_scale, x_scale) -> tf.Tensor:
    """[N, 4] boxes with y multiplied by y_scale and x by x_scale (the OD API's box_list_ops.scale)."""
    y_scale = tf.cast(y_scale, tf.float32)
    x_scale = tf.cast(x_scale, tf.float32)
    y_min, x_min, y_max, x_max = tf.split(boxes, 4, axis=1)
    return tf.concat([y_scale * y_min, x_scale * x_min, y_scale * y_max, x_scale * x_max], 1)


def to_normalized(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Absolute -> normalized as the OD API does it: multiplied by 1 / size (not divided)."""
    return scale_boxes(boxes, 1 / tf.cast(height, tf.float32), 1 / tf.cast(width, tf.float32))


def map_images(fn: Callable, elems: List[tf.Tensor], dtype=tf.float32) -> tf.Tensor:
    """fn per image: unrolled for a static batch (the OD API's static_or_dynamic_map_fn), else tf.map_fn."""
    if elems[0].shape[0] is not None:
        return tf.stack([fn([e[i] for e in elems]) for i in range(elems[0].shape[0])])
    return tf.map_fn(fn, elems, fn_output_signature=dtype)


def normalize_per_image(boxes: tf.Tensor, image_shapes: tf.Tensor) -> tf.Tensor:
    """[B, N, 4] absolute boxes -> normalized by each image's [height, width, ...] row of image_shapes."""
    return map_images(lambda args: to_normalized(args[0], args[1][0], args[1][1]), [boxes, image_shapes])


def combined_shape(tensor: tf.Tensor) -> List:
    """The shape as a list with Python ints where static and scalar tensors where not."""
    static = tensor.shape.as_list()
    dynamic = tf.shape(tensor)
    return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def clip_windows(image_shapes: tf.Tensor) -> tf.Tensor:
    """[B, 4] absolute windows [0, 0, height, width] of [B, >=2] image shapes."""
    heights = image_shapes[:, 0]
    widths = image_shapes[:, 1]
    return tf.cast(tf.stack([tf.zeros_like(heights), tf.zeros_like(heights), heights, widths], axis=1), tf.float32)


def image_batch_shape_2d(image_shape: tf.Tensor) -> tf.Tensor:
    """[B, H, W, C] shape of a batch -> [B, 3] (H, W, C) per image."""
    return tf.tile(tf.expand_dims(image_shape[1:], 0), [image_shape[0], 1])


def batch_decode(box_coder, box_encodings: tf.Tensor, anchor_boxes: tf.Tensor) -> tf.Tensor:
    """[B, N, q, code] encodings against [B, N, 4] anchors -> [B, N, q, 4] boxes (q: one box per class or 1)."""
    shape = combined_shape(box_encodings)
    num_classes = shape[2]
    tiled_anchors = tf.tile(tf.expand_dims(anchor_boxes, 2), [1, 1, num_classes, 1])
    decoded = box_coder.decode(tf.reshape(box_encodings, [-1, box_coder.code_size]),
                               tf.reshape(tiled_anchors, [-1, 4]))
    return tf.reshape(decoded, tf.stack([shape[0], shape[1], num_classes, 4]))
