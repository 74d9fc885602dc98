"""CenterNet's feature extractors (the OD API's models/center_net_*_feature_extractor.py): one stride-4 map each.

- resnet_v1_{50,101}_fpn: keras.applications' ResNet v1; a top-down path from conv5 with nearest-neighbour 2x
  upsampling, a 1x1 "residual" conv of conv4 / conv3 / conv2 added at each step, then a 3x3 conv, batch norm and
  ReLU (256 -> 128 -> 64 -> 64 channels).
- resnet_v2_{50,101}: keras.applications' ResNet v2 to conv5, then three times a 3x3 conv and a stride-2 3x3
  transposed conv (256, 128, 64 channels), each followed by batch norm and ReLU.
- mobilenet_v2_fpn (and _sep_conv): the OD API's Keras MobileNetV2, a top-down path as ResNet v1 FPN's from
  out_relu over block_9/5/2 (64 -> 32 -> 24 -> 24 channels), nearest or bilinear upsampling, optionally separable.
- mobilenet_v2: the same MobileNetV2, then three times a 1x1 conv and a stride-2 3x3 transposed conv (256, 128, 64).
- hourglass_{10,20,32,52,104}: stacked hourglasses (models/hourglass_network.py), one stride-4 map per hourglass
  (two for hourglass_104), no normalization beyond channel_means / channel_stds.

Attribute names (_base_model, _resnet_model, _fpn_model, _feature_extractor_model, _network) and the order the
layers are made in are the OD API's: together they are the checkpoint keys, so its checkpoints restore.
Images are normalized by channel_means / channel_stds (optionally as BGR), then by the backbone's own Keras
preprocessing (Caffe-style mean subtraction for ResNet v1, [-1, 1] for ResNet v2 and MobileNetV2), as there.
"""
from typing import List, Sequence

import tensorflow as tf
import tf_keras as keras

from tfsynth.models import hourglass_network, mobilenet_v2

# conv2..conv5 outputs of each ResNet v1 depth, the bottom-up maps of the FPN.
RESNET_V1_FPN_OUTPUTS = {
    50: ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    101: ("conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out"),
}
MOBILENET_V2_FPN_OUTPUTS = ("block_2_add", "block_5_add", "block_9_add", "out_relu")


class CenterNetFeatureExtractor(keras.Model):
    """Base: the channel normalization, and the stride and number of the maps the heads read."""

    out_stride = 4
    num_feature_outputs = 1

    def __init__(self, channel_means: Sequence[float] = (), channel_stds: Sequence[float] = (),
                 bgr_ordering: bool = False):
        super().__init__()
        self._channel_means = list(channel_means) or [0.0, 0.0, 0.0]
        self._channel_stds = list(channel_stds) or [1.0, 1.0, 1.0]
        self._bgr_ordering = bgr_ordering

    def preprocess(self, inputs: tf.Tensor) -> tf.Tensor:
        """[B, H, W, 3] images (0..255) -> (BGR if bgr_ordering) minus channel_means, over channel_stds, then the
        backbone's own normalization (backbone_preprocess)."""
        if self._bgr_ordering:
            inputs = tf.reverse(inputs, axis=[3])
        means = tf.reshape(tf.constant(self._channel_means, tf.float32), [1, 1, 1, -1])
        stds = tf.reshape(tf.constant(self._channel_stds, tf.float32), [1, 1, 1, -1])
        return self.backbone_preprocess((inputs - means) / stds)

    # The backbone's own Keras normalization after channel_means / channel_stds; None: nothing more.
    keras_preprocess = None

    def backbone_preprocess(self, inputs: tf.Tensor) -> tf.Tensor:
        """The backbone's own normalization of already mean/std-normalized images (keras_preprocess, if any)."""
        return inputs if self.keras_preprocess is None else self.keras_preprocess(inputs)

    @property
    def classification_backbone(self) -> keras.Model:
        """What a 'classification' fine-tune checkpoint restores: the backbone without the upsampling layers."""
        return self._base_model

    def call(self, inputs, training=None):
        """[the stride-4 map] of the backbone and its upsampling layers (_feature_extractor_model)."""
        return [self._feature_extractor_model(inputs, training=training)]


def _conv_bn_relu(features, conv: keras.layers.Layer):
    features = conv(features)
    features = keras.layers.BatchNormalization()(features)
    return keras.layers.ReLU()(features)


def _top_down(bottom_up: List, widths: Sequence[int], output_width: int, interpolation: str,
              separable: bool):
    """The FPN-like top-down path shared by the ResNet v1 and MobileNetV2 extractors: from the coarsest map, each
    step upsamples 2x, adds a 1x1 conv of the next finer map, and runs a 3x3 conv (the next step's width; the
    last step's output_width), batch norm and ReLU."""
    top_down = keras.layers.Conv2D(widths[0], 1, strides=1, padding="same")(bottom_up[-1])
    for step, width in enumerate(widths):
        top_down = keras.layers.UpSampling2D(2, interpolation=interpolation)(top_down)
        residual = keras.layers.Conv2D(width, 1, strides=1, padding="same")(bottom_up[len(widths) - 1 - step])
        top_down = top_down + residual
        next_width = widths[step + 1] if step + 1 < len(widths) else output_width
        conv_class = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
        top_down = _conv_bn_relu(top_down, conv_class(next_width, 3, strides=1, padding="same"))
    return top_down


class CenterNetResnetV1FpnFeatureExtractor(CenterNetFeatureExtractor):
    """ResNet v1 {50, 101} with the top-down path, stride 4, 64 channels."""

    def __init__(self, depth: int, **normalization):
        super().__init__(**normalization)
        if depth not in RESNET_V1_FPN_OUTPUTS:
            raise ValueError(f"ResNet v1 FPN depth {depth}: expected one of {sorted(RESNET_V1_FPN_OUTPUTS)}")
        application = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}[depth]
        self._base_model = application(weights=None, include_top=False)
        self._resnet_model = keras.Model(
            inputs=self._base_model.input,
            outputs=[self._base_model.get_layer(name).output for name in RESNET_V1_FPN_OUTPUTS[depth]])
        bottom_up = self._resnet_model(self._base_model.input)
        top_down = _top_down(bottom_up, (256, 128, 64), 64, "nearest", separable=False)
        self._feature_extractor_model = keras.Model(inputs=self._base_model.input, outputs=top_down)

    keras_preprocess = staticmethod(keras.applications.resnet.preprocess_input)


class CenterNetResnetFeatureExtractor(CenterNetFeatureExtractor):
    """ResNet v2 {50, 101} to conv5, then three conv + transposed-conv upsamplings, stride 4, 64 channels."""

    def __init__(self, depth: int, **normalization):
        super().__init__(**normalization)
        applications = {50: keras.applications.ResNet50V2, 101: keras.applications.ResNet101V2}
        if depth not in applications:
            raise ValueError(f"ResNet v2 depth {depth}: expected one of {sorted(applications)}")
        self._base_model = applications[depth](weights=None, include_top=False)
        self._resnet_model = keras.Model(inputs=self._base_model.input,
                                         outputs=self._base_model.get_layer("conv5_block3_out").output)
        features = self._resnet_model(self._base_model.input)
        for width in (256, 128, 64):
            features = _conv_bn_relu(features, keras.layers.Conv2D(width, 3, strides=1, padding="same"))
            features = _conv_bn_relu(features, keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same"))
        self._feature_extractor_model = keras.Model(inputs=self._base_model.input, outputs=features)

    keras_preprocess = staticmethod(keras.applications.resnet_v2.preprocess_input)


class CenterNetMobileNetV2FpnFeatureExtractor(CenterNetFeatureExtractor):
    """MobileNetV2 with the top-down path over its stride-4/8/16/32 maps, stride 4, 24 channels.

    The OD API starts from ImageNet weights, downloaded, when depth_multiplier is 1; nothing is downloaded here:
    the backbone starts from its initializers unless a checkpoint is restored.
    """

    def __init__(self, depth_multiplier: float = 1.0, use_separable_conv: bool = False,
                 upsampling_interpolation: str = "nearest", **normalization):
        super().__init__(**normalization)
        if upsampling_interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling_interpolation {upsampling_interpolation!r}: expected nearest or bilinear")
        self._base_model = mobilenet_v2.mobilenet_v2(batchnorm_training=True, alpha=depth_multiplier)
        self._fpn_model = keras.Model(
            inputs=self._base_model.input,
            outputs=[self._base_model.get_layer(name).output for name in MOBILENET_V2_FPN_OUTPUTS])
        bottom_up = self._fpn_model(self._base_model.input)
        top_down = _top_down(bottom_up, (64, 32, 24), 24, upsampling_interpolation, use_separable_conv)
        self._feature_extractor_model = keras.Model(inputs=self._base_model.input, outputs=top_down)

    keras_preprocess = staticmethod(keras.applications.mobilenet_v2.preprocess_input)


class CenterNetMobileNetV2FeatureExtractor(CenterNetFeatureExtractor):
    """MobileNetV2, then three 1x1 conv + stride-2 transposed-conv upsamplings, stride 4, 64 channels.

    The whole network (the MobileNetV2 called as one nested layer, then the upsampling layers) is `_network`, as in
    the OD API, and is also what a 'classification' checkpoint restores there.
    """

    def __init__(self, depth_multiplier: float = 1.0, **normalization):
        super().__init__(**normalization)
        backbone = mobilenet_v2.mobilenet_v2(batchnorm_training=True, alpha=depth_multiplier)
        features = backbone(backbone.input)
        for width in (256, 128, 64):
            features = _conv_bn_relu(features, keras.layers.Conv2D(width, 1, strides=1, padding="same"))
            features = _conv_bn_relu(features, keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same"))
        self._network = keras.Model(inputs=backbone.input, outputs=features)

    keras_preprocess = staticmethod(keras.applications.mobilenet_v2.preprocess_input)

    @property
    def classification_backbone(self) -> keras.Model:
        return self._network

    def call(self, inputs, training=None):
        return [self._network(inputs, training=training)]


class CenterNetHourglassFeatureExtractor(CenterNetFeatureExtractor):
    """A stacked hourglass network: one output map per hourglass, each read by its own heads."""

    def __init__(self, name: str, **normalization):
        super().__init__(**normalization)
        self._network = hourglass_network.hourglass(name)

    @property
    def num_feature_outputs(self) -> int:
        return self._network.num_hourglasses

    @property
    def classification_backbone(self) -> keras.Model:
        raise ValueError("fine_tune_checkpoint_type 'classification': hourglass networks have no classification "
                         "backbone (as in the OD API); use 'detection' with a CenterNet hourglass checkpoint")

    def call(self, inputs, training=None):
        return self._network(inputs, training=training)
