"""MobileNetV2 as the OD API builds it for its Keras SSD extractors (keras_models/mobilenet_v2.py).

The graph is keras.applications' MobileNetV2 (same layers, same order, hence the same `layer_with_weights-N`
checkpoint keys) with the OD API's overrides: 'same' padding on stride-2 layers instead of ZeroPadding2D,
min_depth on non-expansion convs, Conv_1 fixed at 1280 (times alpha when alpha < 1), and norm/activation layers
from conv_hyperparams when given.
"""
import tf_keras as keras

from tfsynth.models.layer_factory import LayerFactory

# (expansion, output filters, stride) of blocks 0..16.
_BLOCKS = ([(1, 16, 1)] + [(6, 24, 2), (6, 24, 1)] + [(6, 32, 2)] + [(6, 32, 1)] * 2 + [(6, 64, 2)]
           + [(6, 64, 1)] * 3 + [(6, 96, 1)] * 3 + [(6, 160, 2)] + [(6, 160, 1)] * 2 + [(6, 320, 1)])


def make_divisible(v: float, divisor: int, min_value: int = None) -> int:
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # do not round down by more than 10%
        new_v += divisor
    return new_v


def _inverted_res_block(f: LayerFactory, inputs, expansion: int, stride: int, alpha: float, filters: int,
                        block_id: int):
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = f.conv2d(expansion * in_channels, 1, name=prefix + "expand", apply_min_depth=False)(x)
        x = f.batch_norm(prefix + "expand_BN")(x)
        x = f.relu6(prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    x = f.depthwise_conv2d(3, strides=stride, name=prefix + "depthwise")(x)
    x = f.batch_norm(prefix + "depthwise_BN")(x)
    x = f.relu6(prefix + "depthwise_relu")(x)
    x = f.conv2d(pointwise_filters, 1, name=prefix + "project")(x)
    x = f.batch_norm(prefix + "project_BN")(x)
    # keras decides the residual from its own width (before min_depth), as in the OD API.
    if in_channels == pointwise_filters and stride == 1:
        return keras.layers.Add(name=prefix + "add")([inputs, x])
    return x


def mobilenet_v2(batchnorm_training, conv_hyperparams=None, use_explicit_padding=False, alpha=1.0,
                 min_depth=None, conv_1_filters: int = 1280) -> keras.Model:
    """The full MobileNetV2 (include_top=False) as a functional keras Model with input [None, None, None, 3].

    conv_1_filters: width of the last 1x1 conv (the OD API's Conv_1 conv def). None of the OD API's SSD extractors
    changes it: SSD MobileNetV2 FPNLite defines a 256-wide one but never passes it, so its Conv_1 is 1280 wide.
    """
    f = LayerFactory(batchnorm_training, conv_hyperparams, use_explicit_padding,
                     default_batchnorm_momentum=0.999, default_initializer_stddev=0.09, min_depth=min_depth or 0)
    inputs = keras.layers.Input(shape=(None, None, 3))
    x = f.conv2d(make_divisible(32 * alpha, 8), 3, strides=2, name="Conv1")(inputs)
    x = f.batch_norm("bn_Conv1")(x)
    x = f.relu6("Conv1_relu")(x)
    for block_id, (expansion, filters, stride) in enumerate(_BLOCKS):
        x = _inverted_res_block(f, x, expansion, stride, alpha, filters, block_id)
    last_filters = make_divisible(conv_1_filters * alpha, 8) if alpha < 1.0 else conv_1_filters
    x = f.conv2d(last_filters, 1, name="Conv_1")(x)
    x = f.batch_norm("Conv_1_bn")(x)
    x = f.relu6("out_relu")(x)
    return keras.Model(inputs=inputs, outputs=x, name=f"mobilenetv2_{alpha:0.2f}")
