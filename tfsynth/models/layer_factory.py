"""Layer constructors shared by the backbones: conv / depthwise / batch norm / activation built either from the
config's conv_hyperparams (override_base_feature_extractor_hyperparams) or from the OD API's backbone defaults.

This plays the part of the OD API's `_LayersOverride` classes (keras_models/mobilenet_v1.py, mobilenet_v2.py):
'same' padding everywhere (or fixed padding + 'valid' with use_explicit_padding), min_depth on the conv widths,
and the OD API's default regularizer/initializer/batch-norm momentum when no hyperparams override them.
"""
from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.core.freezable_batch_norm import FreezableBatchNormalization


def fixed_padding(inputs: tf.Tensor, kernel_size: int, rate: int = 1) -> tf.Tensor:
    """Pads height and width so a 'valid' conv of kernel_size behaves like TF-slim's explicit padding."""
    effective = kernel_size + (kernel_size - 1) * (rate - 1)
    pad_total = effective - 1
    pad_beg = pad_total // 2
    pad_end = pad_total - pad_beg
    return tf.pad(inputs, [[0, 0], [pad_beg, pad_end], [pad_beg, pad_end], [0, 0]])


def fresh_initializer(initializer):
    """A new instance of a Keras initializer with the same settings (strings pass through).

    Keras initializers without a seed return the same values every time one instance is called, so layers that
    shared one would start with identical kernels wherever their shapes agree (the OD API's TF1-style initializers
    draw anew for each layer). Each layer gets its own instance instead.
    """
    if initializer is None or isinstance(initializer, str):
        return initializer
    return initializer.__class__.from_config(initializer.get_config())


class LayerFactory:
    """Builds backbone layers the way the OD API's Keras backbones do."""

    def __init__(self, batchnorm_training: Optional[bool], conv_hyperparams=None, use_explicit_padding=False,
                 default_batchnorm_momentum: float = 0.999, default_initializer_stddev: float = 0.09,
                 min_depth: int = 0):
        self.batchnorm_training = batchnorm_training
        self.conv_hyperparams = conv_hyperparams
        self.use_explicit_padding = use_explicit_padding
        self.default_batchnorm_momentum = default_batchnorm_momentum
        self.min_depth = min_depth
        self.regularizer = keras.regularizers.l2(0.00004 * 0.5)
        self.initializer = keras.initializers.TruncatedNormal(stddev=default_initializer_stddev)

    def _padded(self, make_layer, kernel_size: int):
        if self.use_explicit_padding and kernel_size > 1:
            def padded(features):
                padded_features = keras.layers.Lambda(lambda x: fixed_padding(x, kernel_size))(features)
                return make_layer("valid")(padded_features)
            return padded
        return make_layer("same")

    def conv2d(self, filters: int, kernel_size: int, strides: int = 1, name: str = None, apply_min_depth=True):
        if apply_min_depth and self.min_depth and filters < self.min_depth:
            filters = self.min_depth
        if self.conv_hyperparams is not None:
            kwargs = self.conv_hyperparams.params(use_bias=False, activation=None)
        else:
            kwargs = {"kernel_regularizer": self.regularizer, "kernel_initializer": fresh_initializer(self.initializer),
                      "use_bias": False, "activation": None}
        return self._padded(lambda padding: keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding=padding, name=name, **kwargs), kernel_size)

    def depthwise_conv2d(self, kernel_size: int, strides: int = 1, name: str = None):
        if self.conv_hyperparams is not None:
            params = self.conv_hyperparams.params(use_bias=False, activation=None)
            kwargs = {"depthwise_regularizer": params["kernel_regularizer"],
                      "depthwise_initializer": params["kernel_initializer"], "use_bias": False}
        else:
            kwargs = {"depthwise_regularizer": self.regularizer,
                      "depthwise_initializer": fresh_initializer(self.initializer),
                      "use_bias": False}
        return self._padded(lambda padding: keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, name=name, **kwargs), kernel_size)

    def batch_norm(self, name: str):
        if self.conv_hyperparams is not None:
            return self.conv_hyperparams.build_batch_norm(training=self.batchnorm_training, name=name)
        return FreezableBatchNormalization(training=self.batchnorm_training, epsilon=1e-3,
                                           momentum=self.default_batchnorm_momentum, name=name)

    def relu6(self, name: str):
        if self.conv_hyperparams is not None:
            return self.conv_hyperparams.build_activation_layer(name=name)
        return keras.layers.Lambda(tf.nn.relu6, name=name)
