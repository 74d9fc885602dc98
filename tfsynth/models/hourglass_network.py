"""Stacked hourglass networks (Newell et al. 2016) as CenterNet's backbone: the OD API's keras_models/hourglass_network.

The network downsamples the image by 4 (a 7x7/2 conv block and a strided residual block), then runs each hourglass
in turn: an encoder-decoder whose every stage has a shortcut branch at full resolution and a branch that goes one
stage deeper at half resolution, upsampled (nearest) and added back. Each hourglass's output, after a 3x3 conv block,
is one of the network's outputs (CenterNet attaches its heads and losses to every one); between hourglasses the
input and that output are merged by 1x1 conv blocks, ReLU and a residual block.

Layer classes and attribute names are the OD API's (conv_block, residual_block, encoder_block1, inner_block,
hourglass_network, output_conv, ...), and layers are made in its order: they are the checkpoint keys and the
Keras layer names, so its CenterNet hourglass checkpoints restore. Batch norm is Keras' synchronized batch norm
(epsilon 1e-5, momentum 0.1) named 'batchnorm', as there (its experimental.SyncBatchNormalization).
"""
from typing import List, Sequence, Tuple

import tf_keras as keras


def batch_norm() -> keras.layers.Layer:
    """The hourglass's batch norm: synchronized, epsilon 1e-5, momentum 0.1, named 'batchnorm'."""
    return keras.layers.BatchNormalization(name="batchnorm", epsilon=1e-5, momentum=0.1, synchronized=True)


class IdentityLayer(keras.layers.Layer):
    """Passes its input through: stands where a block has no padding, ReLU or skip conv."""

    def call(self, inputs):
        return inputs


class ConvolutionalBlock(keras.layers.Layer):
    """Conv (no bias; a 3x3 or 7x7 one on explicitly zero-padded input), batch norm, optional ReLU."""

    def __init__(self, kernel_size: int, out_channels: int, stride: int = 1, relu: bool = True,
                 padding: str = "same"):
        super().__init__()
        if kernel_size > 1:
            if kernel_size not in (3, 7):
                raise ValueError(f"hourglass conv block: kernel size {kernel_size}; expected 1, 3 or 7")
            padding = "valid"
            self.pad = keras.layers.ZeroPadding2D(kernel_size // 2)
        else:
            self.pad = IdentityLayer()
        self.conv = keras.layers.Conv2D(out_channels, kernel_size, strides=stride, padding=padding, use_bias=False)
        self.norm = batch_norm()
        self.relu = keras.layers.ReLU() if relu else IdentityLayer()

    def call(self, inputs, training=None):
        return self.relu(self.norm(self.conv(self.pad(inputs)), training=training))


class SkipConvolution(ConvolutionalBlock):
    """A residual block's strided 1x1 conv block without ReLU, where the shortcut changes shape."""

    def __init__(self, out_channels: int, stride: int):
        super().__init__(1, out_channels, stride=stride, relu=False)


class ResidualBlock(keras.layers.Layer):
    """Conv block, 3x3 conv and batch norm, plus the input (through a strided 1x1 conv block where the shape
    changes), then ReLU."""

    def __init__(self, out_channels: int, skip_conv: bool = False, stride: int = 1):
        super().__init__()
        self.conv_block = ConvolutionalBlock(3, out_channels, stride=stride)
        self.conv = keras.layers.Conv2D(out_channels, 3, strides=1, padding="same", use_bias=False)
        self.norm = batch_norm()
        self.skip = SkipConvolution(out_channels, stride) if skip_conv else IdentityLayer()
        self.relu = keras.layers.ReLU()

    def call(self, inputs, training=None):
        net = self.norm(self.conv(self.conv_block(inputs, training=training)), training=training)
        return self.relu(net + self.skip(inputs, training=training))


class _InputBlock(keras.layers.Layer):
    """A conv block and a residual block with a skip conv, both of the given stride."""

    def __init__(self, kernel_size: int, stride: int, out_channels_initial_conv: int,
                 out_channels_residual_block: int):
        super().__init__()
        self.conv_block = ConvolutionalBlock(kernel_size, out_channels_initial_conv, stride=stride, padding="valid")
        self.residual_block = ResidualBlock(out_channels_residual_block, stride=stride, skip_conv=True)

    def call(self, inputs, training=None):
        return self.residual_block(self.conv_block(inputs, training=training), training=training)


class InputDownsampleBlock(_InputBlock):
    """7x7/2 conv block, then a stride-2 residual block: the image at a quarter of its size."""

    def __init__(self, out_channels_initial_conv: int, out_channels_residual_block: int):
        super().__init__(7, 2, out_channels_initial_conv, out_channels_residual_block)


class InputConvBlock(_InputBlock):
    """3x3 conv block and a residual block at full resolution (hourglasses without initial downsampling)."""

    def __init__(self, out_channels_initial_conv: int, out_channels_residual_block: int):
        super().__init__(3, 1, out_channels_initial_conv, out_channels_residual_block)


def _residual_run(out_channels: int, num_blocks: int, first_stride: int = 1, inner_channels: int = None,
                  first_widens: bool = False) -> List[Tuple[int, int, bool]]:
    """(width, stride, skip conv) of each block of a run: the first block takes first_stride, the last gives
    out_channels and the others inner_channels (default out_channels). A block needs a skip conv where its shortcut
    changes shape: it strides, or it is the first of several and first_widens, or it is the last of several and
    narrows inner_channels to out_channels. (A run of one block widens only by striding, as in the OD API.)"""
    inner_channels = inner_channels or out_channels
    widths = [inner_channels] * (num_blocks - 1) + [out_channels]
    runs = []
    for index, width in enumerate(widths):
        stride = first_stride if index == 0 else 1
        first, last, alone = index == 0, index == num_blocks - 1, num_blocks == 1
        skip = stride > 1 or (first and first_widens and not alone) or (last and not alone
                                                                        and inner_channels != out_channels)
        runs.append((width, stride, skip))
    return runs


def repeated_residual_blocks(out_channels: int, num_blocks: int, initial_stride: int = 1,
                             residual_channels: int = None, initial_skip_conv: bool = False) -> List[ResidualBlock]:
    """The residual blocks of one run (see _residual_run), made in order."""
    return [ResidualBlock(width, skip_conv=skip, stride=stride)
            for width, stride, skip in _residual_run(out_channels, num_blocks, initial_stride, residual_channels,
                                                     initial_skip_conv)]


def _apply(blocks: Sequence[keras.layers.Layer], inputs, training=None):
    for block in blocks:
        inputs = block(inputs, training=training)
    return inputs


class EncoderDecoderBlock(keras.layers.Layer):
    """One hourglass stage: shortcut blocks at this resolution, plus strided blocks, the next stage (or plain blocks
    at the last), decoder blocks and 2x nearest upsampling; the two branches added."""

    def __init__(self, num_stages: int, channel_dims: Sequence[int], blocks_per_stage: Sequence[int],
                 stagewise_downsample: bool = True, encoder_decoder_shortcut: bool = True):
        super().__init__()
        out_channels, downsampled_channels = channel_dims[0], channel_dims[1]
        self.encoder_decoder_shortcut = encoder_decoder_shortcut
        if encoder_decoder_shortcut:
            self.merge_features = keras.layers.Add()
            self.encoder_block1 = repeated_residual_blocks(out_channels, blocks_per_stage[0])
        stride = 2 if stagewise_downsample else 1
        self.encoder_block2 = repeated_residual_blocks(downsampled_channels, blocks_per_stage[0],
                                                       initial_stride=stride,
                                                       initial_skip_conv=out_channels != downsampled_channels)
        if num_stages > 1:
            self.inner_block = [EncoderDecoderBlock(num_stages - 1, channel_dims[1:], blocks_per_stage[1:],
                                                    stagewise_downsample, encoder_decoder_shortcut)]
        else:
            self.inner_block = repeated_residual_blocks(downsampled_channels, blocks_per_stage[1])
        self.decoder_block = repeated_residual_blocks(out_channels, blocks_per_stage[0],
                                                      residual_channels=downsampled_channels)
        self.upsample = keras.layers.UpSampling2D(stride)

    def call(self, inputs, training=None):
        deeper = _apply(self.encoder_block2, inputs, training)
        deeper = _apply(self.decoder_block, _apply(self.inner_block, deeper, training), training)
        upsampled = self.upsample(deeper)
        if not self.encoder_decoder_shortcut:
            return upsampled
        return self.merge_features([_apply(self.encoder_block1, inputs, training), upsampled])


class HourglassNetwork(keras.Model):
    """num_hourglasses stacked hourglasses; call returns one stride-4 map per hourglass."""

    out_stride = 4

    def __init__(self, num_stages: int, input_channel_dims: int, channel_dims_per_stage: Sequence[int],
                 blocks_per_stage: Sequence[int], num_hourglasses: int, initial_downsample: bool = True,
                 stagewise_downsample: bool = True, encoder_decoder_shortcut: bool = True):
        super().__init__()
        self.num_hourglasses = num_hourglasses
        self.initial_downsample = initial_downsample
        width = channel_dims_per_stage[0]
        if initial_downsample:
            self.downsample_input = InputDownsampleBlock(input_channel_dims, width)
        else:
            self.conv_input = InputConvBlock(input_channel_dims, width)
        self.hourglass_network, self.output_conv = [], []
        for _ in range(num_hourglasses):
            self.hourglass_network.append(EncoderDecoderBlock(num_stages, channel_dims_per_stage, blocks_per_stage,
                                                              stagewise_downsample, encoder_decoder_shortcut))
            self.output_conv.append(ConvolutionalBlock(3, width))
        self.intermediate_conv1, self.intermediate_conv2, self.intermediate_residual = [], [], []
        for _ in range(num_hourglasses - 1):
            self.intermediate_conv1.append(ConvolutionalBlock(1, width, relu=False))
            self.intermediate_conv2.append(ConvolutionalBlock(1, width, relu=False))
            self.intermediate_residual.append(ResidualBlock(width))
        self.intermediate_relu = keras.layers.ReLU()

    @property
    def num_feature_outputs(self) -> int:
        return self.num_hourglasses

    def call(self, inputs, training=None):
        stem = self.downsample_input if self.initial_downsample else self.conv_input
        inputs = stem(inputs, training=training)
        outputs = []
        for index in range(self.num_hourglasses):
            output = self.output_conv[index](self.hourglass_network[index](inputs, training=training),
                                             training=training)
            outputs.append(output)
            if index < self.num_hourglasses - 1:
                merged = (self.intermediate_conv1[index](inputs, training=training)
                          + self.intermediate_conv2[index](output, training=training))
                inputs = self.intermediate_residual[index](self.intermediate_relu(merged), training=training)
        return outputs


# name -> (HourglassNetwork arguments, input width): the OD API's hourglass_10 ... hourglass_104.
def _single(channels: int, blocks: Sequence[int], widths: Sequence[int]) -> dict:
    return dict(num_stages=len(widths) - 1, input_channel_dims=channels, channel_dims_per_stage=list(widths),
                blocks_per_stage=list(blocks), num_hourglasses=1)


HOURGLASSES = {
    "hourglass_10": _single(32, [1, 1], [64, 64]),
    "hourglass_20": _single(48, [1, 2, 2], [96, 96, 144]),
    "hourglass_32": _single(48, [2, 2, 2, 2], [96, 96, 144, 144]),
    "hourglass_52": _single(64, [2, 2, 2, 2, 2, 4], [128, 128, 192, 192, 192, 256]),
    "hourglass_104": dict(num_stages=5, input_channel_dims=128, channel_dims_per_stage=[256, 256, 384, 384, 384, 512],
                          blocks_per_stage=[2, 2, 2, 2, 2, 4], num_hourglasses=2),
}


def hourglass(name: str) -> HourglassNetwork:
    """The named hourglass network (hourglass_10, _20, _32, _52 or _104)."""
    if name not in HOURGLASSES:
        raise ValueError(f"hourglass {name!r}: expected one of {', '.join(HOURGLASSES)}")
    return HourglassNetwork(**HOURGLASSES[name])
