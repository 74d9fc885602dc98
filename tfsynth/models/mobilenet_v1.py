"""MobileNetV1 as the OD API builds it for its Keras SSD extractors (keras_models/mobilenet_v1.py).

The graph is keras.applications' MobileNet (include_top=False): conv1 (3x3/s2) then 13 depthwise-separable
blocks conv_dw_N / conv_pw_N, each followed by batch norm and ReLU6, with the same layer names and order (hence the
same `layer_with_weights-N` checkpoint keys) and the OD API's overrides:
- 'same' padding everywhere (keras' ZeroPadding2D + 'valid' before stride-2 depthwise convs is dropped), or fixed
  padding + 'valid' on every conv wider than 1x1 with use_explicit_padding;
- the width multiplier `alpha` applied a second time and then min_depth, in the conv override (keras already
  multiplied the filters by alpha once; the OD API multiplies again, so alpha < 1 gives alpha**2 widths);
- conv_defs: {conv name: filters} replacing keras' filters before that second multiplication (FPNLite's 512 and
  256 wide conv_pw_12 / conv_pw_13);
- batch norm / activation from conv_hyperparams when given, else FreezableBatchNormalization(momentum 0.9997,
  epsilon 1e-3) and ReLU6 Lambdas; default regularizer l2(0.00004 * 0.5), truncated normal(0.09) initializer.
"""
from typing import Dict, Optional

import tf_keras as keras

from tfsynth.models.layer_factory import LayerFactory

# Pointwise filters and depthwise stride of blocks 1..13 (keras.applications.MobileNet).
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))

# SSD MobileNetV1 FPN with use_depthwise narrows the last two pointwise convs (the OD API's modified config).
FPN_DEPTHWISE_CONV_DEFS = {"conv_pw_12": 512, "conv_pw_13": 256}


def _filters(keras_filters: int, alpha: float, min_depth: Optional[int], name: str,
             conv_defs: Optional[Dict[str, int]]) -> int:
    """The width of conv `name`: keras' int(filters * alpha), then the OD API override's conv_defs, * alpha,
    min_depth."""
    filters = int(keras_filters * alpha)
    if conv_defs and conv_defs.get(name):
        filters = conv_defs[name]
    filters = int(filters * alpha)
    if min_depth and filters < min_depth:
        filters = min_depth
    return filters


def mobilenet_v1(batchnorm_training: Optional[bool], conv_hyperparams=None, use_explicit_padding: bool = False,
                 alpha: float = 1.0, min_depth: Optional[int] = None, conv_defs: Optional[Dict[str, int]] = None,
                 default_batchnorm_momentum: float = 0.9997) -> keras.Model:
    """The MobileNetV1 body as a functional keras Model, input [None, None, None, 3], output conv_pw_13_relu.

    batchnorm_training: None follows the call's `training`, False freezes batch norm.
    conv_hyperparams: a KerasLayerHyperparams (override_base_feature_extractor_hyperparams) or None.
    """
    f = LayerFactory(batchnorm_training, conv_hyperparams, use_explicit_padding,
                     default_batchnorm_momentum=default_batchnorm_momentum, default_initializer_stddev=0.09,
                     min_depth=0)
    inputs = keras.layers.Input(shape=(None, None, 3))
    x = f.conv2d(_filters(32, alpha, min_depth, "conv1", conv_defs), 3, strides=2, name="conv1")(inputs)
    x = f.batch_norm("conv1_bn")(x)
    x = f.relu6("conv1_relu")(x)
    for block_id, (pointwise_filters, stride) in enumerate(BLOCKS, start=1):
        x = f.depthwise_conv2d(3, strides=stride, name=f"conv_dw_{block_id}")(x)
        x = f.batch_norm(f"conv_dw_{block_id}_bn")(x)
        x = f.relu6(f"conv_dw_{block_id}_relu")(x)
        name = f"conv_pw_{block_id}"
        x = f.conv2d(_filters(pointwise_filters, alpha, min_depth, name, conv_defs), 1, name=name)(x)
        x = f.batch_norm(f"conv_pw_{block_id}_bn")(x)
        x = f.relu6(f"conv_pw_{block_id}_relu")(x)
    return keras.Model(inputs=inputs, outputs=x, name=f"mobilenet_{alpha:0.2f}")
