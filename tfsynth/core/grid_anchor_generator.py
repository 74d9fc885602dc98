"""The OD API's GridAnchorGenerator (grid_anchor_generator): one feature map, anchors in absolute pixels.

Anchor shapes are every (scale, aspect ratio) pair, aspect-ratio-major and scale-minor (the OD API's meshgrid
order); anchors centred at offset + index * stride on each grid cell, ordered row, column, then shape.
"""
from typing import List, Optional, Sequence

import tensorflow as tf

from tfsynth.core.anchor_generators import tile_anchors


class GridAnchorGenerator:
    """Anchors of base size `base_anchor_size` scaled by `scales` and reshaped by `aspect_ratios`."""

    def __init__(self, scales: Sequence[float] = (0.5, 1.0, 2.0), aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 base_anchor_size: Optional[Sequence[float]] = None, anchor_stride: Optional[Sequence[float]] = None,
                 anchor_offset: Optional[Sequence[float]] = None):
        self._scales = [float(s) for s in scales]
        self._aspect_ratios = [float(r) for r in aspect_ratios]
        self._base_anchor_size = list(base_anchor_size) if base_anchor_size is not None else [256.0, 256.0]
        self._anchor_stride = list(anchor_stride) if anchor_stride is not None else [16.0, 16.0]
        self._anchor_offset = list(anchor_offset) if anchor_offset is not None else [0.0, 0.0]

    def name_scope(self) -> str:
        return "GridAnchorGenerator"

    def num_anchors_per_location(self) -> List[int]:
        return [len(self._scales) * len(self._aspect_ratios)]

    def generate(self, feature_map_shape_list, im_height=1, im_width=1) -> List[tf.Tensor]:
        """[[H*W*A, 4]] anchors for a single feature map of shape (H, W)."""
        if len(feature_map_shape_list) != 1:
            raise ValueError(f"grid_anchor_generator: expects one feature map, got {len(feature_map_shape_list)}")
        grid_height, grid_width = feature_map_shape_list[0]
        scales = [s for _ in self._aspect_ratios for s in self._scales]
        ratios = [r for r in self._aspect_ratios for _ in self._scales]
        return [tile_anchors(grid_height, grid_width, scales, ratios,
                             tf.constant(self._base_anchor_size, tf.float32),
                             tf.constant(self._anchor_stride, tf.float32),
                             tf.constant(self._anchor_offset, tf.float32))]
