"""Faster R-CNN Inception-ResNet-v2 Keras feature extractor (the OD API's
faster_rcnn_inception_resnet_v2_keras_feature_extractor.py on models/keras_models/inception_resnet_v2.py).

The backbone is the Keras-applications Inception-ResNet-v2 graph with the changes the OD API injects into it:
- every 'valid' convolution and max pooling padded 'same' (align_feature_maps), so the stride-16 features line up
  with the image (a 640 input gives a 40x40 map);
- batch norm without a scale (no gamma), momentum 0.9997, epsilon 1e-3, frozen unless batch_norm_trainable;
- an L2 regularizer of weight_decay / 2 on kernels and biases (the OD API's Faster R-CNN passes 0).

Layers are created and connected in the application's order, so the functional models' checkpoint keys
(layer_with_weights-N) are the OD API's. The application names only its block layers (block35_1_conv, mixed_6a,
conv_7b, ...); the rest get the names a fresh Keras session gives them (conv2d, conv2d_1, ...), written out here so
they do not depend on what else the process has built.

Two models share the layers: the proposal model (image -> block17_20_ac, stride 16, 1088 channels) and the box
classifier model (cropped block17 features -> mixed_7a, the block8 repeats and conv_7b_ac, 1536 channels).
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

import tensorflow as tf
import tf_keras as keras

from tfsynth.core.freezable_batch_norm import FreezableBatchNormalization
from tfsynth.models.faster_rcnn_split_backbone import SplitBackboneFeatureExtractor

# Residual repeats per block type and the scale of each residual branch (the application's values).
BLOCK35_REPEATS, BLOCK35_SCALE = 10, 0.17
BLOCK17_REPEATS, BLOCK17_SCALE = 20, 0.1
BLOCK8_REPEATS, BLOCK8_SCALE = 10, 0.2
PROPOSAL_FEATURES_LAYER = "block17_20_ac"
CLASSIFIER_FEATURES_LAYER = "conv_7b_ac"
KernelSize = Union[int, Sequence[int]]


class _AutoNames:
    """The names a fresh Keras session gives unnamed layers of one kind: 'conv2d', 'conv2d_1', 'conv2d_2', ..."""

    def __init__(self, prefix: str):
        self._prefix = prefix
        self._count = 0

    def next(self) -> str:
        name = self._prefix if self._count == 0 else f"{self._prefix}_{self._count}"
        self._count += 1
        return name


class _ConvBn:
    """The application's conv2d_bn: a convolution, then (without bias) batch norm, then the activation."""

    def __init__(self, factory: "_LayerFactory", filters: int, kernel_size: KernelSize, strides: int,
                 activation: Optional[str], use_bias: bool, name: Optional[str]):
        self.layers: List[keras.layers.Layer] = [factory.conv(filters, kernel_size, strides, use_bias, name)]
        if not use_bias:
            self.layers.append(factory.batch_norm(None if name is None else name + "_bn"))
        if activation is not None:
            self.layers.append(factory.activation(activation, None if name is None else name + "_ac"))

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class _LayerFactory:
    """Makes the backbone's layers with the settings the OD API injects into the Keras application."""

    def __init__(self, batchnorm_training: Optional[bool], weight_decay: float):
        self._batchnorm_training = batchnorm_training
        # The OD API halves the slim-style weight decay for Keras's l2; a zero decay adds nothing to the loss.
        self._regularizer = keras.regularizers.l2(weight_decay * 0.5) if weight_decay else None
        self._conv_names = _AutoNames("conv2d")
        self._batch_norm_names = _AutoNames("freezable_batch_norm")
        self._activation_names = _AutoNames("activation")

    def conv(self, filters: int, kernel_size: KernelSize, strides: int, use_bias: bool,
             name: Optional[str]) -> keras.layers.Layer:
        # 'same' everywhere: align_feature_maps, as the OD API builds it for Faster R-CNN.
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=use_bias,
                                   kernel_regularizer=self._regularizer, bias_regularizer=self._regularizer,
                                   name=name or self._conv_names.next())

    def batch_norm(self, name: Optional[str]) -> keras.layers.Layer:
        return FreezableBatchNormalization(training=self._batchnorm_training, axis=3, scale=False,
                                           momentum=0.9997, epsilon=1e-3,
                                           name=name or self._batch_norm_names.next())

    def activation(self, activation: str, name: Optional[str]) -> keras.layers.Layer:
        return keras.layers.Activation(activation, name=name or self._activation_names.next())

    def conv_bn(self, filters: int, kernel_size: KernelSize, strides: int = 1, activation: Optional[str] = "relu",
                use_bias: bool = False, name: Optional[str] = None) -> _ConvBn:
        return _ConvBn(self, filters, kernel_size, strides, activation, use_bias, name)


def _apply_chain(chain: Sequence[Callable], x):
    for step in chain:
        x = step(x)
    return x


class _Branches:
    """Parallel branches (each a chain of layers) joined by a channel concatenation."""

    def __init__(self, branches: Sequence[Sequence[Callable]], name: str):
        self.branches = branches
        self.concat = keras.layers.Concatenate(axis=3, name=name)

    def __call__(self, x):
        return self.concat([_apply_chain(branch, x) for branch in self.branches])


class _ResidualBlock:
    """The application's inception_resnet_block: branches, a 1x1 up-projection with bias, x + scale * up, ReLU."""

    # Per block type: the branches as (filters, kernel size) chains of conv2d_bn.
    BRANCHES: Dict[str, Sequence[Sequence[tuple]]] = {
        "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
        "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
        "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
    }

    def __init__(self, factory: _LayerFactory, block_type: str, index: int, channels: int, scale: float,
                 activation: Optional[str] = "relu"):
        name = f"{block_type}_{index}"
        self.mixed = _Branches([[factory.conv_bn(filters, size) for filters, size in chain]
                                for chain in self.BRANCHES[block_type]], name + "_mixed")
        self.up = factory.conv_bn(channels, 1, activation=None, use_bias=True, name=name + "_conv")
        self.residual = keras.layers.Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale,
                                            arguments={"scale": scale}, name=name)
        self.activation = None if activation is None else factory.activation(activation, name + "_ac")

    def __call__(self, x):
        x = self.residual([x, self.up(self.mixed(x))])
        return x if self.activation is None else self.activation(x)


class InceptionResnetV2Backbone:
    """Inception-ResNet-v2's layers and the full functional model (image -> conv_7b_ac), as the OD API builds it."""

    def __init__(self, batchnorm_training: Optional[bool], weight_decay: float = 0.0):
        f = _LayerFactory(batchnorm_training, weight_decay)

        def max_pool(name: Optional[str] = None):
            return keras.layers.MaxPooling2D(3, strides=2, padding="same", name=name)

        # Layers in the application's creation order (the unnamed ones take their auto names in this order).
        self.stem = [f.conv_bn(32, 3, strides=2), f.conv_bn(32, 3), f.conv_bn(64, 3), max_pool("max_pooling2d"),
                     f.conv_bn(80, 1), f.conv_bn(192, 3), max_pool("max_pooling2d_1")]
        self.mixed_5b = _Branches([
            [f.conv_bn(96, 1)],
            [f.conv_bn(48, 1), f.conv_bn(64, 5)],
            [f.conv_bn(64, 1), f.conv_bn(96, 3), f.conv_bn(96, 3)],
            [keras.layers.AveragePooling2D(3, strides=1, padding="same", name="average_pooling2d"),
             f.conv_bn(64, 1)],
        ], "mixed_5b")
        self.block35 = [_ResidualBlock(f, "block35", i, 320, BLOCK35_SCALE) for i in range(1, BLOCK35_REPEATS + 1)]
        self.mixed_6a = _Branches([
            [f.conv_bn(384, 3, strides=2)],
            [f.conv_bn(256, 1), f.conv_bn(256, 3), f.conv_bn(384, 3, strides=2)],
            [max_pool("max_pooling2d_2")],
        ], "mixed_6a")
        self.block17 = [_ResidualBlock(f, "block17", i, 1088, BLOCK17_SCALE) for i in range(1, BLOCK17_REPEATS + 1)]
        self.mixed_7a = _Branches([
            [f.conv_bn(256, 1), f.conv_bn(384, 3, strides=2)],
            [f.conv_bn(256, 1), f.conv_bn(288, 3, strides=2)],
            [f.conv_bn(256, 1), f.conv_bn(288, 3), f.conv_bn(320, 3, strides=2)],
            [max_pool("max_pooling2d_3")],
        ], "mixed_7a")
        self.block8 = [_ResidualBlock(f, "block8", i, 2080, BLOCK8_SCALE) for i in range(1, BLOCK8_REPEATS)]
        # The last block8 has a residual scale of 1 and no activation.
        self.block8.append(_ResidualBlock(f, "block8", BLOCK8_REPEATS, 2080, 1.0, activation=None))
        self.conv_7b = f.conv_bn(1536, 1, name="conv_7b")

        self.image_input = keras.layers.Input(shape=(None, None, 3))
        self.proposal_features = self.apply_first_half(self.image_input)
        self.model = keras.Model(inputs=self.image_input, outputs=self.apply_second_half(self.proposal_features),
                                 name="inception_resnet_v2")

    def apply_first_half(self, x):
        """image -> block17_20_ac (stride 16, 1088 channels)."""
        return _apply_chain(self.stem + [self.mixed_5b] + self.block35 + [self.mixed_6a] + self.block17, x)

    def apply_second_half(self, x):
        """block17 features -> conv_7b_ac (stride 2 more, 1536 channels)."""
        return _apply_chain([self.mixed_7a] + self.block8 + [self.conv_7b], x)


class FasterRCNNInceptionResnetV2KerasFeatureExtractor(SplitBackboneFeatureExtractor):
    """preprocess ([-1, 1] scaling) and the two Keras models of Faster R-CNN (OD API layers and checkpoints):
    image -> block17_20_ac [B, H/16, W/16, 1088]; crops -> conv_7b_ac [K, h/2, w/2, 1536]."""

    def __init__(self, is_training: bool, first_stage_features_stride: int = 16, batch_norm_trainable: bool = False,
                 weight_decay: float = 0.0):
        if first_stage_features_stride != 16:
            # The OD API also accepts 8, but its Keras model then gives mixed_7a branches of two sizes (its
            # 384-filter convolution drops to stride 1, the 288 and 320 ones keep stride 2), which fails to
            # concatenate as soon as the second stage runs.
            raise ValueError(f"feature_extractor.first_stage_features_stride = {first_stage_features_stride}: "
                             "faster_rcnn_inception_resnet_v2_keras supports only 16")
        super().__init__(is_training, batch_norm_trainable, weight_decay)

    def _make_backbone(self) -> InceptionResnetV2Backbone:
        return InceptionResnetV2Backbone(batchnorm_training=self._train_batch_norm, weight_decay=self._weight_decay)

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """Pixels 0..255 -> [-1, 1]."""
        return (2.0 / 255.0) * resized_inputs - 1.0
