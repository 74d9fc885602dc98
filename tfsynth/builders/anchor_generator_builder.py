"""AnchorGenerator proto -> anchor generator."""
from tfsynth.builders.config_check import require_oneof
from tfsynth.core import anchor_generators


def _pairs(first, second, what: str, where: str):
    if not first:
        return None
    if len(first) != len(second):
        raise ValueError(f"{where}: {what} lists have different lengths ({len(first)} vs {len(second)})")
    return list(zip(first, second))


def _ssd(c, where):
    return anchor_generators.SsdAnchorGenerator(
        num_layers=c.num_layers, min_scale=c.min_scale, max_scale=c.max_scale, scales=[float(s) for s in c.scales],
        aspect_ratios=list(c.aspect_ratios), interpolated_scale_aspect_ratio=c.interpolated_scale_aspect_ratio,
        base_anchor_size=[c.base_anchor_height, c.base_anchor_width],
        anchor_strides=_pairs(c.height_stride, c.width_stride, "height_stride/width_stride", where),
        anchor_offsets=_pairs(c.height_offset, c.width_offset, "height_offset/width_offset", where),
        reduce_boxes_in_lowest_layer=c.reduce_boxes_in_lowest_layer)


def _multiscale(c, where):
    return anchor_generators.MultiscaleAnchorGenerator(
        min_level=c.min_level, max_level=c.max_level, anchor_scale=c.anchor_scale,
        aspect_ratios=list(c.aspect_ratios), scales_per_octave=c.scales_per_octave,
        normalize_coordinates=c.normalize_coordinates)


_BUILDERS = {"ssd_anchor_generator": _ssd, "multiscale_anchor_generator": _multiscale}


def build(config, where: str = "anchor_generator"):
    kind = require_oneof(config, "anchor_generator_oneof", _BUILDERS, where)
    return _BUILDERS[kind](getattr(config, kind), f"{where}.{kind}")
