"""BoxCoder proto -> box coder."""
from tfsynth.builders.config_check import require_oneof
from tfsynth.core import box_coders

_BUILDERS = {
    "faster_rcnn_box_coder": lambda c: box_coders.FasterRcnnBoxCoder(
        [c.y_scale, c.x_scale, c.height_scale, c.width_scale]),
    "mean_stddev_box_coder": lambda c: box_coders.MeanStddevBoxCoder(stddev=c.stddev),
    "square_box_coder": lambda c: box_coders.SquareBoxCoder([c.y_scale, c.x_scale, c.length_scale]),
}


def build(config, where: str = "box_coder"):
    kind = require_oneof(config, "box_coder_oneof", _BUILDERS, where)
    return _BUILDERS[kind](getattr(config, kind))
