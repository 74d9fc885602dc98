"""CenterNet's training targets ("Objects as Points", Zhou et al. 2019), as the OD API computes them.

Every box is taken to the output grid (normalized coordinates times the output height and width, the input size
divided by the network's stride). Its centre's grid cell is where the box is predicted:
- the class heatmap holds, per class, the largest of the boxes' Gaussians around their centre cells, each with a
  sigma from the box size (a box shifted by up to that distance keeps at least min_overlap IoU);
- the box's height and width (in output cells) and the centre's offset from its cell are regression targets at
  that cell only.
"""
from typing import List, Optional, Tuple, Union

import tensorflow as tf

# A size that may be a Python int or a scalar tensor (a dynamic image height or width).
Size = Union[int, tf.Tensor]


def _upper_root(a: Union[float, tf.Tensor], b: tf.Tensor, c: tf.Tensor) -> tf.Tensor:
    """(-b + sqrt(b^2 - 4ac)) / 2 for each of the three quadratics below.

    The quadratics' leading coefficients are 1, 4 and 4*min_iou; the root divides by 2, not 2a: the OD API keeps
    the original CenterNet code's formula rather than CornerNet's corrected one. Kept, so that the targets, and so
    a trained model's heatmaps, are the OD API's.
    """
    return (-b + tf.sqrt(b ** 2 - 4 * a * c)) / 2.0


def max_shift_for_overlap(heights: tf.Tensor, widths: tf.Tensor, min_iou: float) -> tf.Tensor:
    """How far (in output cells) a box's corners may move and keep min_iou with it: the least of three cases,
    a shifted box that overlaps it, one inside it, and one around it. [N] heights, widths -> [N]."""
    shifted = _upper_root(1, -(heights + widths), widths * heights * ((1 - min_iou) / (1 + min_iou)))
    inside = _upper_root(4, -2 * (heights + widths), (1 - min_iou) * widths * heights)
    around = _upper_root(4 * min_iou, (2 * min_iou) * (widths + heights), (min_iou - 1) * widths * heights)
    return tf.reduce_min([shifted, around, inside], axis=0)


def gaussian_sigma(heights: tf.Tensor, widths: tf.Tensor, min_iou: float) -> tf.Tensor:
    """The heatmap Gaussian's sigma per box: a diameter of 2 * floor(shift) + 1 cells holds 3 sigma each side."""
    shift = max_shift_for_overlap(heights, widths, min_iou)
    return (2 * tf.maximum(tf.floor(shift), 0.0) + 1) / 6.0


def output_size(height: Size, width: Size, stride: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """The output grid's (height, width) for an input of height x width: input // stride, at least 1."""
    return tf.maximum(height // stride, 1), tf.maximum(width // stride, 1)


def _centres_and_sizes_on_grid(boxes: tf.Tensor, out_height: Size, out_width: Size,
                               maximum_normalized_coordinate: float):
    """Normalized [N, 4] boxes -> (y centre, x centre, height, width) in output cells, [N] each. Boxes past
    maximum_normalized_coordinate are not normalized: an error, as in the OD API, rather than wrong targets."""
    check = tf.debugging.assert_less_equal(
        tf.reduce_max(tf.concat([boxes, tf.zeros([1, 4])], axis=0)), maximum_normalized_coordinate,
        message=f"CenterNet groundtruth boxes: expected normalized coordinates (at most "
                f"{maximum_normalized_coordinate})")
    with tf.control_dependencies([check]):
        scale = tf.cast(tf.stack([out_height, out_width, out_height, out_width]), tf.float32)
        ymin, xmin, ymax, xmax = tf.unstack(boxes * scale, axis=1)
    heights, widths = ymax - ymin, xmax - xmin
    return ymin + heights / 2.0, xmin + widths / 2.0, heights, widths


def center_heatmap_targets(height: Size, width: Size, stride: int, boxes_list: List[tf.Tensor], classes_list: List[tf.Tensor],
                           weights_list: List[Optional[tf.Tensor]], min_overlap: float = 0.7,
                           maximum_normalized_coordinate: float = 1.1) -> tf.Tensor:
    """Per-class centre heatmaps [B, out_h, out_w, C] of an input height x width.

    boxes_list: per image [N, 4] normalized boxes; classes_list: [N, C] one-hot; weights_list: [N] or None. A box
    of weight 0 (padding) adds nothing; overlapping Gaussians of one class merge by their maximum.
    """
    out_height, out_width = output_size(height, width, stride)
    y_grid, x_grid = tf.meshgrid(tf.range(tf.cast(out_height, tf.float32)),
                                 tf.range(tf.cast(out_width, tf.float32)), indexing="ij")
    heatmaps = []
    for boxes, classes, weights in zip(boxes_list, classes_list, weights_list):
        y_centre, x_centre, heights, widths = _centres_and_sizes_on_grid(boxes, out_height, out_width,
                                                                         maximum_normalized_coordinate)
        sigma = gaussian_sigma(heights, widths, min_overlap)
        squared_distance = ((y_grid[..., None] - tf.floor(y_centre)) ** 2
                            + (x_grid[..., None] - tf.floor(x_centre)) ** 2)  # [h, w, N]
        gaussians = tf.exp(-squared_distance / (2 * sigma * sigma))
        per_box_and_class = gaussians[..., None] * tf.cast(classes, tf.float32)[None, None]  # [h, w, N, C]
        if weights is not None:
            per_box_and_class *= tf.reshape(tf.cast(weights, tf.float32), [1, 1, -1, 1])
        # The maximum over no boxes is the lowest float: an image without boxes gets an all-zero heatmap.
        heatmaps.append(tf.maximum(tf.reduce_max(per_box_and_class, axis=2), 0.0))
    return tf.stop_gradient(tf.stack(heatmaps, axis=0))


def box_size_and_offset_targets(height: Size, width: Size, stride: int, boxes_list: List[tf.Tensor],
                                weights_list: List[Optional[tf.Tensor]], maximum_normalized_coordinate: float = 1.1):
    """Where each box is regressed and what to: (indices [N, 3] of (image, y cell, x cell), height and width in
    output cells [N, 2], centre offset from its cell [N, 2], weights [N]) over the batch's boxes."""
    out_height, out_width = output_size(height, width, stride)
    indices, sizes, offsets, box_weights = [], [], [], []
    for image_index, (boxes, weights) in enumerate(zip(boxes_list, weights_list)):
        y_centre, x_centre, heights, widths = _centres_and_sizes_on_grid(boxes, out_height, out_width,
                                                                         maximum_normalized_coordinate)
        y_cell, x_cell = tf.floor(y_centre), tf.floor(x_centre)
        cells = tf.cast(tf.stack([y_cell, x_cell], axis=1), tf.int32)
        indices.append(tf.concat([tf.fill([tf.shape(cells)[0], 1], image_index), cells], axis=1))
        sizes.append(tf.stack([heights, widths], axis=1))
        offsets.append(tf.stack([y_centre - y_cell, x_centre - x_cell], axis=1))
        box_weights.append(tf.ones_like(y_centre) if weights is None else tf.cast(weights, tf.float32))
    return (tf.concat(indices, 0), tf.concat(sizes, 0), tf.concat(offsets, 0), tf.concat(box_weights, 0))


def gather_at_cells(predictions: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """predictions [B, H, W, C] at indices [N, 3] of (image, y, x) -> [N, C]."""
    shape = tf.shape(predictions)
    flat_indices = (indices[:, 0] * shape[1] + indices[:, 1]) * shape[2] + indices[:, 2]
    return tf.gather(tf.reshape(predictions, [-1, shape[3]]), flat_indices)


def count_boxes(weights_list: List[tf.Tensor]) -> tf.Tensor:
    """The number of boxes of nonzero weight in the batch, at least 1 (the CenterNet losses' divisor)."""
    counts = [tf.math.count_nonzero(weights, dtype=tf.int32) for weights in weights_list]
    return tf.cast(tf.maximum(tf.add_n(counts) if counts else 0, 1), tf.float32)
