"""Crop-and-resize of feature maps to proposal boxes: the OD API's spatial_transform_ops
multilevel_native_crop_and_resize (tf.image.crop_and_resize) and multilevel_matmul_crop_and_resize (gathers and a
2x2 weighted pooling, use_matmul_crop_and_resize), with the same arithmetic so crops match the OD API's.

Both take features as a list of levels [B, H_l, W_l, C], boxes [B, N, 4] normalized [ymin, xmin, ymax, xmax],
box_levels [B, N] int32 (None: every box on level 0) and crop_size [h, w]; they return [B, N, h, w, C].
"""
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf


def _box_image_indices(boxes: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(boxes)
    return tf.reshape(tf.ones(shape[:2], tf.int32) * tf.range(shape[0])[:, None], [-1])


def native_crop_and_resize(image: tf.Tensor, boxes: tf.Tensor, crop_size: Sequence[int]) -> tf.Tensor:
    """tf.image.crop_and_resize of every box of every image, [B, N, h, w, C]."""
    cropped = tf.image.crop_and_resize(image, tf.reshape(boxes, [-1, 4]), _box_image_indices(boxes), crop_size)
    return tf.reshape(cropped, tf.concat([tf.shape(boxes)[:2], tf.shape(cropped)[1:]], 0))


def multilevel_native_crop_and_resize(features: List[tf.Tensor], boxes: tf.Tensor, box_levels: Optional[tf.Tensor],
                                      crop_size: Sequence[int]) -> tf.Tensor:
    if box_levels is None:
        return native_crop_and_resize(features[0], boxes, crop_size)
    crops = []
    for level, image in enumerate(features):
        cropped = native_crop_and_resize(image, boxes, crop_size)
        on_level = tf.equal(box_levels, level)[:, :, None, None, None]
        crops.append(tf.where(on_level, cropped, tf.zeros_like(cropped)))
    return tf.math.reduce_sum(crops, axis=0)


def _pad_levels_to_max_size(features: List[tf.Tensor]) -> Tuple[tf.Tensor, tf.Tensor]:
    """Levels zero-padded to the largest and stacked: [B, L, Hmax, Wmax, C], true sizes [L, 2]."""
    if len(features) == 1:
        return features[0][:, None], tf.shape(features[0])[1:3][None]
    max_height = tf.reduce_max([tf.shape(f)[1] for f in features])
    max_width = tf.reduce_max([tf.shape(f)[2] for f in features])
    padded = [tf.image.pad_to_bounding_box(f, 0, 0, max_height, max_width) for f in features]
    return tf.stack(padded, axis=1), tf.stack([tf.shape(f)[1:3] for f in features])


def _box_grid(boxes: tf.Tensor, size_y: int, size_x: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """Sample coordinates with align_corners: first and last samples on the box edges, [B, N, size]."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes[:, :, None, :], axis=-1)
    bin_size_y = (ymax - ymin) / (size_y - 1)
    bin_size_x = (xmax - xmin) / (size_x - 1)
    grid_y = ymin + bin_size_y * tf.range(size_y, dtype=tf.float32)
    grid_x = xmin + bin_size_x * tf.range(size_x, dtype=tf.float32)
    return grid_y, grid_x


def multilevel_matmul_crop_and_resize(features: List[tf.Tensor], boxes: tf.Tensor,
                                      box_levels: Optional[tf.Tensor], crop_size: Sequence[int],
                                      extrapolation_value: float = 0.0) -> tf.Tensor:
    """Bilinear crops (align_corners) by gathering the 4 neighbours of each sample and a weighted 2x2 sum pool."""
    if box_levels is None:
        box_levels = tf.zeros(tf.shape(boxes)[:2], tf.int32)
    stacked, true_shapes = _pad_levels_to_max_size(features)
    batch_size = tf.shape(stacked)[0]
    num_levels = stacked.shape[1]
    max_height = tf.shape(stacked)[2]
    max_width = tf.shape(stacked)[3]
    num_filters = stacked.shape[4]
    num_boxes = tf.shape(boxes)[1]
    size_y, size_x = int(crop_size[0]), int(crop_size[1])

    level_shapes = tf.gather(tf.cast(true_shapes, boxes.dtype), box_levels)  # [B, N, 2]
    boxes = boxes * tf.concat([level_shapes - 1] * 2, axis=-1)  # absolute feature-map coordinates
    grid_y, grid_x = _box_grid(boxes, size_y, size_x)
    y0 = tf.cast(tf.floor(grid_y), tf.int32)
    x0 = tf.cast(tf.floor(grid_x), tf.int32)
    y1 = tf.cast(tf.floor(grid_y + 1), tf.int32)
    x1 = tf.cast(tf.floor(grid_x + 1), tf.int32)
    neighbour_y = tf.reshape(tf.stack([y0, y1], axis=3), [batch_size, num_boxes, -1])  # [B, N, 2*size_y]
    neighbour_x = tf.reshape(tf.stack([x0, x1], axis=3), [batch_size, num_boxes, -1])

    # Flat row index of every (image, level, y, x) neighbour; -1 marks neighbours outside the level's map.
    level_offset = max_height * max_width
    index = (tf.range(batch_size)[:, None, None, None] * (num_levels * level_offset)
             + (box_levels * level_offset)[:, :, None, None]
             + (neighbour_y * max_width)[:, :, :, None]
             + neighbour_x[:, :, None, :])
    height = tf.cast(level_shapes[:, :, 0:1], tf.int32)
    width = tf.cast(level_shapes[:, :, 1:2], tf.int32)
    valid = tf.logical_and(
        tf.logical_and(neighbour_y >= 0, neighbour_y < height)[:, :, :, None],
        tf.logical_and(neighbour_x >= 0, neighbour_x < width)[:, :, None, :])
    index = tf.reshape(tf.where(valid, index, -1 * tf.ones_like(index)), [-1])
    flat_features = tf.reshape(stacked, [-1, num_filters])
    padded_features = tf.concat([extrapolation_value * tf.ones([1, num_filters], flat_features.dtype),
                                 flat_features], axis=0)
    values = tf.reshape(tf.gather(padded_features, index + 1),
                        [batch_size, num_boxes, size_y * 2, size_x * 2, num_filters])

    # Bilinear weights of the 2x2 neighbours; x4 turns the 2x2 average pool into a sum.
    ly = grid_y - tf.cast(y0, tf.float32)
    lx = grid_x - tf.cast(x0, tf.float32)
    hy = 1.0 - ly
    hx = 1.0 - lx
    kernel_y = tf.reshape(tf.stack([hy, ly], axis=3), [batch_size, num_boxes, size_y * 2, 1])
    kernel_x = tf.reshape(tf.stack([hx, lx], axis=3), [batch_size, num_boxes, 1, size_x * 2])
    values *= (kernel_y * kernel_x * 4)[..., None]
    values = tf.reshape(values, [batch_size * num_boxes, size_y * 2, size_x * 2, num_filters])
    pooled = tf.nn.avg_pool(values, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    return tf.reshape(pooled, [batch_size, num_boxes, size_y, size_x, num_filters])
