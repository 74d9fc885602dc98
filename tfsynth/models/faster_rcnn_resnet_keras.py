"""Faster R-CNN ResNet v1 {50, 101, 152} Keras feature extractors (the OD API's
faster_rcnn_resnet_keras_feature_extractor.py on models/keras_models/resnet_v1.py).

The backbone is the Keras-applications ResNet v1 graph with the OD API's changes: convolutions without bias, a
stride-2 7x7 stem convolution on explicitly ("fixed") padded input instead of ZeroPadding2D, 'SAME' max pooling,
FreezableBatchNormalization (momentum 0.997, epsilon 1e-5) and ReLU as Lambda layers. Layer names are the Keras
ones (conv1_conv, conv2_block1_0_bn, ..., conv5_block3_out), so variables are named as in the OD API, and the
layers are connected in the same order, so the functional models' checkpoint keys
(layer_with_weights-N) are the OD API's.

Two models share the backbone's layers: the proposal model (image -> conv4 output, stride 16) and the box
classifier model (cropped conv4 features -> conv5 output).
"""
from typing import Dict, List, Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from tfsynth.core.freezable_batch_norm import FreezableBatchNormalization
from tfsynth.models.faster_rcnn_split_backbone import SplitBackboneFeatureExtractor
from tfsynth.models.layer_factory import fresh_initializer

# ResNet depth -> blocks per stage conv2..conv5 (the Keras applications' stack1 counts).
RESNET_STAGE_BLOCKS: Dict[int, Sequence[int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
STAGE_FILTERS = (64, 128, 256, 512)
CHANNEL_MEANS = (123.68, 116.779, 103.939)  # RGB, the VGG means the OD API subtracts


def fixed_padding(inputs: tf.Tensor, kernel_size: int) -> tf.Tensor:
    """Pads so that a VALID conv of kernel_size gives the output size of a SAME conv, whatever the input size."""
    pad_total = kernel_size - 1
    pad_begin = pad_total // 2
    pad_end = pad_total - pad_begin
    return tf.pad(inputs, [[0, 0], [pad_begin, pad_end], [pad_begin, pad_end], [0, 0]])


class _LayerFactory:
    """Makes the backbone's layers with the OD API's settings."""

    def __init__(self, batchnorm_training: Optional[bool], weight_decay: float):
        self._batchnorm_training = batchnorm_training
        self._regularizer = keras.regularizers.l2(weight_decay)
        # tf.compat.v1.variance_scaling_initializer() defaults: scale 1, fan_in, truncated normal.
        self._initializer = keras.initializers.VarianceScaling(scale=1.0, mode="fan_in",
                                                               distribution="truncated_normal")

    def conv(self, filters: int, kernel_size: int, strides: int, name: str) -> keras.layers.Layer:
        padding = "valid" if strides > 1 and kernel_size > 1 else "same"
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                                   kernel_regularizer=self._regularizer,
                                   kernel_initializer=fresh_initializer(self._initializer),
                                   name=name)

    def batch_norm(self, name: str) -> keras.layers.Layer:
        return FreezableBatchNormalization(training=self._batchnorm_training, axis=3, momentum=0.997,
                                           epsilon=1e-5, center=True, scale=True, name=name)

    @staticmethod
    def relu(name: str) -> keras.layers.Layer:
        return keras.layers.Lambda(tf.nn.relu, name=name)


class _Block:
    """One bottleneck block (Keras applications' block1): [shortcut conv+bn], 1x1, 3x3, 1x1 (x4 filters)."""

    def __init__(self, layers: _LayerFactory, filters: int, stride: int, conv_shortcut: bool, name: str):
        self.name = name
        self.shortcut = None
        if conv_shortcut:
            self.shortcut = (layers.conv(4 * filters, 1, stride, name + "_0_conv"), layers.batch_norm(name + "_0_bn"))
        self.conv1 = (layers.conv(filters, 1, stride, name + "_1_conv"), layers.batch_norm(name + "_1_bn"),
                      layers.relu(name + "_1_relu"))
        self.conv2 = (layers.conv(filters, 3, 1, name + "_2_conv"), layers.batch_norm(name + "_2_bn"),
                      layers.relu(name + "_2_relu"))
        self.conv3 = (layers.conv(4 * filters, 1, 1, name + "_3_conv"), layers.batch_norm(name + "_3_bn"))
        self.add = keras.layers.Add(name=name + "_add")
        self.out = layers.relu(name + "_out")

    def __call__(self, x):
        # Same call order as the Keras application: the shortcut branch first, then add([shortcut, x]); the
        # functional model's layer order (and so its checkpoint keys) follows from it.
        shortcut = x
        if self.shortcut is not None:
            shortcut = self.shortcut[1](self.shortcut[0](x))
        for layer in self.conv1 + self.conv2 + self.conv3:
            x = layer(x)
        return self.out(self.add([shortcut, x]))


class ResnetV1Backbone:
    """ResNet v1 layers and the full functional model (image -> conv5 output), as the OD API builds it."""

    def __init__(self, depth: int, batchnorm_training: Optional[bool], weight_decay: float = 0.0,
                 layer_factory=None):
        """layer_factory: an object with conv/batch_norm/relu like _LayerFactory (the SSD ResNet FPN extractors
        pass one built from conv_hyperparams); None builds the Faster R-CNN defaults."""
        if depth not in RESNET_STAGE_BLOCKS:
            raise ValueError(f"ResNet depth {depth}: expected one of {sorted(RESNET_STAGE_BLOCKS)}")
        layers = layer_factory or _LayerFactory(batchnorm_training, weight_decay)
        self.depth = depth
        self.stem_pad = keras.layers.Lambda(lambda x: fixed_padding(x, 7), name="conv1_pad")
        self.stem = (layers.conv(64, 7, 2, "conv1_conv"), layers.batch_norm("conv1_bn"), layers.relu("conv1_relu"))
        self.pool = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool")
        self.stages: List[List[_Block]] = []
        for stage, (blocks, filters) in enumerate(zip(RESNET_STAGE_BLOCKS[depth], STAGE_FILTERS)):
            first_stride = 1 if stage == 0 else 2
            self.stages.append([_Block(layers, filters, first_stride if b == 0 else 1, b == 0,
                                       f"conv{stage + 2}_block{b + 1}") for b in range(blocks)])
        image = keras.layers.Input(shape=(None, None, 3))
        self.conv4_output = self.apply_conv1_to_conv4(image)
        self.model = keras.Model(inputs=image, outputs=self.apply_conv5(self.conv4_output),
                                 name=f"resnet{depth}")
        self.image_input = image

    def apply_conv1_to_conv4(self, x):
        x = self.stem_pad(x)
        for layer in self.stem:
            x = layer(x)
        x = self.pool(x)
        for stage in self.stages[:3]:
            for block in stage:
                x = block(x)
        return x

    @property
    def proposal_features(self):
        """The conv4 output tensor of the full model (where the first half ends)."""
        return self.conv4_output

    def apply_second_half(self, x):
        """conv4 features -> conv5 output (SplitBackboneFeatureExtractor's name for apply_conv5)."""
        return self.apply_conv5(x)

    def apply_conv5(self, x):
        for block in self.stages[3]:
            x = block(x)
        return x


class FasterRCNNResnetKerasFeatureExtractor(SplitBackboneFeatureExtractor):
    """preprocess (mean subtraction) and the two Keras models of Faster R-CNN (OD API names and checkpoints):
    image -> conv4 output [B, H/16, W/16, 1024]; crops -> conv5 output [K, h/2, w/2, 2048]."""

    def __init__(self, is_training: bool, resnet_depth: int, first_stage_features_stride: int = 16,
                 batch_norm_trainable: bool = False, weight_decay: float = 0.0):
        if first_stage_features_stride != 16:
            raise ValueError(f"feature_extractor.first_stage_features_stride = {first_stage_features_stride}: the "
                             "ResNet Faster R-CNN extractors support only 16")
        super().__init__(is_training, batch_norm_trainable, weight_decay)
        self._first_stage_features_stride = first_stage_features_stride
        self._resnet_depth = resnet_depth

    def _make_backbone(self) -> ResnetV1Backbone:
        return ResnetV1Backbone(self._resnet_depth, batchnorm_training=self._train_batch_norm,
                                weight_decay=self._weight_decay)

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """VGG-style per-channel mean subtraction (inputs 0..255, RGB); inputs without 3 channels are unchanged."""
        if resized_inputs.shape[3] == 3:
            return resized_inputs - [[list(CHANNEL_MEANS)]]
        return resized_inputs


def faster_rcnn_resnet50_keras(**kwargs) -> FasterRCNNResnetKerasFeatureExtractor:
    return FasterRCNNResnetKerasFeatureExtractor(resnet_depth=50, **kwargs)


def faster_rcnn_resnet101_keras(**kwargs) -> FasterRCNNResnetKerasFeatureExtractor:
    return FasterRCNNResnetKerasFeatureExtractor(resnet_depth=101, **kwargs)


def faster_rcnn_resnet152_keras(**kwargs) -> FasterRCNNResnetKerasFeatureExtractor:
    return FasterRCNNResnetKerasFeatureExtractor(resnet_depth=152, **kwargs)
