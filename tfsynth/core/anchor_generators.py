"""Anchor generators: the OD API's ssd_anchor_generator (MultipleGridAnchorGenerator) and
multiscale_anchor_generator (one grid per FPN level).

Both return, for a list of feature-map sizes, one [N_i, 4] float32 tensor of [ymin, xmin, ymax, xmax] anchors per
map, ordered row, column, then anchor shape -- the order the box predictor's outputs are reshaped in. The float32
arithmetic follows the OD API's step by step, so anchors (and hence decoded boxes) match it bit for bit.
"""
import math
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf


def tile_anchors(grid_height, grid_width, scales, aspect_ratios, base_anchor_size, anchor_stride,
                 anchor_offset) -> tf.Tensor:
    """Anchors of the given (scale, aspect ratio) shapes centred on every cell of a grid, [H*W*A, 4]."""
    ratio_sqrts = tf.sqrt(tf.constant(aspect_ratios, tf.float32))
    scales = tf.constant(scales, tf.float32)
    heights = scales / ratio_sqrts * base_anchor_size[0]
    widths = scales * ratio_sqrts * base_anchor_size[1]
    y_centers = tf.cast(tf.range(grid_height), tf.float32) * anchor_stride[0] + anchor_offset[0]
    x_centers = tf.cast(tf.range(grid_width), tf.float32) * anchor_stride[1] + anchor_offset[1]
    # [H, W] grids of centres, then [H, W, A] grids of centres and sizes (the OD API's ops.meshgrid order).
    y_grid = tf.tile(y_centers[:, None], [1, tf.size(x_centers)])
    x_grid = tf.tile(x_centers[None, :], [tf.size(y_centers), 1])
    num_shapes = tf.size(heights)
    y_centers_grid = tf.tile(y_grid[:, :, None], [1, 1, num_shapes])
    x_centers_grid = tf.tile(x_grid[:, :, None], [1, 1, num_shapes])
    heights_grid = tf.zeros_like(y_centers_grid) + heights
    widths_grid = tf.zeros_like(x_centers_grid) + widths
    centers = tf.reshape(tf.stack([y_centers_grid, x_centers_grid], axis=3), [-1, 2])
    sizes = tf.reshape(tf.stack([heights_grid, widths_grid], axis=3), [-1, 2])
    return tf.concat([centers - 0.5 * sizes, centers + 0.5 * sizes], 1)


class SsdAnchorGenerator:
    """The OD API's MultipleGridAnchorGenerator as configured by create_ssd_anchors (ssd_anchor_generator)."""

    def __init__(self, num_layers: int = 6, min_scale: float = 0.2, max_scale: float = 0.95,
                 scales: Optional[Sequence[float]] = None,
                 aspect_ratios: Sequence[float] = (1.0, 2.0, 3.0, 1.0 / 2, 1.0 / 3),
                 interpolated_scale_aspect_ratio: float = 1.0,
                 base_anchor_size: Sequence[float] = (1.0, 1.0),
                 anchor_strides: Optional[List[Tuple[float, float]]] = None,
                 anchor_offsets: Optional[List[Tuple[float, float]]] = None,
                 reduce_boxes_in_lowest_layer: bool = True):
        if scales:
            scales = list(scales) + [1.0]
        else:
            scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1)
                      for i in range(num_layers)] + [1.0]
        self.box_specs: List[List[Tuple[float, float]]] = []
        for layer, scale, scale_next in zip(range(num_layers), scales[:-1], scales[1:]):
            if layer == 0 and reduce_boxes_in_lowest_layer:
                specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
            else:
                specs = [(scale, ratio) for ratio in aspect_ratios]
                if interpolated_scale_aspect_ratio > 0.0:
                    specs.append((math.sqrt(scale * scale_next), interpolated_scale_aspect_ratio))
            self.box_specs.append(specs)
        self._base_anchor_size = list(base_anchor_size)
        self._anchor_strides = anchor_strides
        self._anchor_offsets = anchor_offsets
        for name, value in (("anchor_strides", anchor_strides), ("anchor_offsets", anchor_offsets)):
            if value is not None and len(value) != num_layers:
                raise ValueError(f"ssd_anchor_generator: {name} has {len(value)} entries, expected num_layers="
                                 f"{num_layers}")

    def num_anchors_per_location(self) -> List[int]:
        return [len(specs) for specs in self.box_specs]

    def generate(self, feature_map_shape_list, im_height=1, im_width=1) -> List[tf.Tensor]:
        """One [H_i*W_i*A_i, 4] anchor tensor per feature map, normalized to the image."""
        if len(feature_map_shape_list) != len(self.box_specs):
            raise ValueError(f"ssd_anchor_generator: got {len(feature_map_shape_list)} feature maps, configured "
                             f"for {len(self.box_specs)} (num_layers)")
        im_height = tf.cast(im_height, tf.float32)
        im_width = tf.cast(im_width, tf.float32)
        if self._anchor_strides:
            strides = [(tf.cast(s[0], tf.float32) / im_height, tf.cast(s[1], tf.float32) / im_width)
                       for s in self._anchor_strides]
        else:
            strides = [(1.0 / tf.cast(h, tf.float32), 1.0 / tf.cast(w, tf.float32))
                       for h, w in feature_map_shape_list]
        if self._anchor_offsets:
            offsets = [(tf.cast(o[0], tf.float32) / im_height, tf.cast(o[1], tf.float32) / im_width)
                       for o in self._anchor_offsets]
        else:
            offsets = [(0.5 * s[0], 0.5 * s[1]) for s in strides]
        min_im_shape = tf.minimum(im_height, im_width)
        base_anchor_size = [min_im_shape / im_height * tf.constant(self._base_anchor_size[0], tf.float32),
                            min_im_shape / im_width * tf.constant(self._base_anchor_size[1], tf.float32)]
        return [tile_anchors(shape[0], shape[1], [s for s, _ in specs], [r for _, r in specs], base_anchor_size,
                             stride, offset)
                for shape, specs, stride, offset in zip(feature_map_shape_list, self.box_specs, strides, offsets)]


class MultiscaleAnchorGenerator:
    """The OD API's MultiscaleGridAnchorGenerator: levels min_level..max_level, stride 2**level."""

    def __init__(self, min_level: int = 3, max_level: int = 7, anchor_scale: float = 4.0,
                 aspect_ratios: Sequence[float] = (1.0, 2.0, 0.5), scales_per_octave: int = 2,
                 normalize_coordinates: bool = True):
        self.levels = list(range(min_level, max_level + 1))
        self._anchor_scale = anchor_scale
        self._aspect_ratios = list(aspect_ratios)
        self._scales = [2 ** (float(s) / scales_per_octave) for s in range(scales_per_octave)]
        self._normalize_coordinates = normalize_coordinates

    def num_anchors_per_location(self) -> List[int]:
        return [len(self._aspect_ratios) * len(self._scales)] * len(self.levels)

    def generate(self, feature_map_shape_list, im_height=1, im_width=1) -> List[tf.Tensor]:
        if len(feature_map_shape_list) != len(self.levels):
            raise ValueError(f"multiscale_anchor_generator: got {len(feature_map_shape_list)} feature maps, "
                             f"configured for levels {self.levels}")
        # Aspect-ratio-major, scale-minor: the OD API's GridAnchorGenerator meshgrid order.
        scales = [s for _ in self._aspect_ratios for s in self._scales]
        ratios = [r for r in self._aspect_ratios for _ in self._scales]
        anchors = []
        for (feat_h, feat_w), level in zip(feature_map_shape_list, self.levels):
            stride = 2 ** level
            offset = [0.0, 0.0]
            if isinstance(im_height, int) and isinstance(im_width, int):
                if im_height % 2.0 ** level == 0 or im_height == 1:
                    offset[0] = stride / 2.0
                if im_width % 2.0 ** level == 0 or im_width == 1:
                    offset[1] = stride / 2.0
            if tf.is_tensor(im_height) and tf.is_tensor(im_width):
                offset = [stride / 2.0, stride / 2.0]
            base = tf.constant([stride * self._anchor_scale] * 2, tf.float32)
            grid = tile_anchors(feat_h, feat_w, scales, ratios, base, tf.constant([stride, stride], tf.float32),
                                tf.constant(offset, tf.float32))
            if self._normalize_coordinates:
                if isinstance(im_height, int) and (im_height == 1 or im_width == 1):
                    raise ValueError("multiscale_anchor_generator: normalize_coordinates needs the image size")
                y_scale = tf.cast(1 / tf.cast(im_height, tf.float32), tf.float32)
                x_scale = tf.cast(1 / tf.cast(im_width, tf.float32), tf.float32)
                y_min, x_min, y_max, x_max = tf.split(grid, 4, axis=1)
                grid = tf.concat([y_scale * y_min, x_scale * x_min, y_scale * y_max, x_scale * x_max], 1)
            anchors.append(grid)
        return anchors
