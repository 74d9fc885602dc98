"""Extra SSD feature maps on top of a backbone (the OD API's KerasMultiResolutionFeatureMaps).

`convolutions[i]` holds the layers that make feature map i from map i-1 (empty for maps taken from the backbone),
which gives the checkpoint keys feature_map_generator/convolutions/<i>/<j>/... of the OD API.
"""
import collections
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.layer_factory import fixed_padding, fresh_initializer


class KerasMultiResolutionFeatureMaps(keras.Model):
    """feature_map_layout: {'from_layer': [...], 'layer_depth': [...], optional 'use_depthwise',
    'use_explicit_padding', 'conv_kernel_size'}, as in the OD API."""

    def __init__(self, feature_map_layout: Dict, depth_multiplier: float, min_depth: int, insert_1x1_conv: bool,
                 is_training: bool, conv_hyperparams, freeze_batchnorm: bool, name=None):
        super().__init__(name=name)
        self.feature_map_layout = feature_map_layout
        self.convolutions: List[List[keras.layers.Layer]] = []

        def depth_fn(depth: int) -> int:
            return max(int(depth * depth_multiplier), min_depth)

        base_from_layer = ""
        use_explicit_padding = feature_map_layout.get("use_explicit_padding", False)
        use_depthwise = feature_map_layout.get("use_depthwise", False)
        kernel_sizes = feature_map_layout.get("conv_kernel_size", [3] * len(feature_map_layout["from_layer"]))
        bn_training = is_training and not freeze_batchnorm
        for index, from_layer in enumerate(feature_map_layout["from_layer"]):
            net = []
            layer_depth = feature_map_layout["layer_depth"][index]
            kernel_size = kernel_sizes[index]
            if from_layer:
                base_from_layer = from_layer
                if layer_depth > 0:
                    raise NotImplementedError("feature map layout: a backbone layer with its own depth is not "
                                              "supported")
            else:
                if insert_1x1_conv:
                    name_1x1 = f"{base_from_layer}_1_Conv2d_{index}_1x1_{depth_fn(layer_depth // 2)}"
                    net.append(keras.layers.Conv2D(depth_fn(layer_depth // 2), [1, 1], padding="SAME", strides=1,
                                                   name=name_1x1 + "_conv", **conv_hyperparams.params()))
                    net.append(conv_hyperparams.build_batch_norm(training=bn_training, name=name_1x1 + "_batchnorm"))
                    net.append(conv_hyperparams.build_activation_layer(name=name_1x1))
                layer_name = (f"{base_from_layer}_2_Conv2d_{index}_{kernel_size}x{kernel_size}_s2_"
                              f"{depth_fn(layer_depth)}")
                padding = "SAME"
                if use_explicit_padding:
                    padding = "VALID"
                    net.append(keras.layers.Lambda(lambda x, k=kernel_size: fixed_padding(x, k)))
                if use_depthwise:
                    # As in the OD API, the kernel_* settings reach keras' DepthwiseConv2D as kernel_* (unused by
                    # it): the depthwise kernel keeps keras' default initializer and no regularizer.
                    net.append(keras.layers.DepthwiseConv2D([kernel_size, kernel_size], depth_multiplier=1,
                                                            padding=padding, strides=2,
                                                            name=layer_name + "_depthwise_conv",
                                                            **conv_hyperparams.params()))
                    net.append(conv_hyperparams.build_batch_norm(training=bn_training,
                                                                 name=layer_name + "_depthwise_batchnorm"))
                    net.append(conv_hyperparams.build_activation_layer(name=layer_name + "_depthwise_activation"))
                    net.append(keras.layers.Conv2D(depth_fn(layer_depth), [1, 1], padding="SAME", strides=1,
                                                   name=layer_name + "_conv", **conv_hyperparams.params()))
                else:
                    net.append(keras.layers.Conv2D(depth_fn(layer_depth), [kernel_size, kernel_size],
                                                   padding=padding, strides=2, name=layer_name + "_conv",
                                                   **conv_hyperparams.params()))
                net.append(conv_hyperparams.build_batch_norm(training=bn_training, name=layer_name + "_batchnorm"))
                net.append(conv_hyperparams.build_activation_layer(name=layer_name))
            self.convolutions.append(net)

    def call(self, image_features: Dict):
        feature_maps, keys = [], []
        for index, from_layer in enumerate(self.feature_map_layout["from_layer"]):
            if from_layer:
                feature_map = image_features[from_layer]
                keys.append(from_layer)
            else:
                feature_map = feature_maps[-1]
                for layer in self.convolutions[index]:
                    feature_map = layer(feature_map)
                keys.append(self.convolutions[index][-1].name)
            feature_maps.append(feature_map)
        return collections.OrderedDict(zip(keys, feature_maps))



def create_conv_block(use_depthwise: bool, kernel_size: int, padding: str, stride: int, layer_name: str,
                      conv_hyperparams, is_training: bool, freeze_batchnorm: bool, depth: int) -> List:
    """conv (separable with use_depthwise) + batch norm + activation, with the OD API's layer names."""
    if use_depthwise:
        kwargs = conv_hyperparams.params()
        kwargs["depthwise_regularizer"] = kwargs["kernel_regularizer"]
        kwargs["depthwise_initializer"] = fresh_initializer(kwargs["kernel_initializer"])
        conv = keras.layers.SeparableConv2D(depth, [kernel_size, kernel_size], depth_multiplier=1, padding=padding,
                                            strides=stride, name=layer_name + "_depthwise_conv", **kwargs)
    else:
        conv = keras.layers.Conv2D(depth, [kernel_size, kernel_size], padding=padding, strides=stride,
                                   name=layer_name + "_conv", **conv_hyperparams.params())
    return [conv,
            conv_hyperparams.build_batch_norm(training=(is_training and not freeze_batchnorm),
                                              name=layer_name + "_batchnorm"),
            conv_hyperparams.build_activation_layer(name=layer_name)]


def nearest_neighbor_upsampling(images, scale: int = 2):
    """Nearest-neighbour upsampling by stacking (the OD API's ops.nearest_neighbor_upsampling)."""
    shape = [d if d is not None else tf.shape(images)[i] for i, d in enumerate(images.shape.as_list())]
    out = tf.stack([images] * scale, axis=3)
    out = tf.stack([out] * scale, axis=2)
    return tf.reshape(out, [shape[0], shape[1] * scale, shape[2] * scale, shape[3]])


def fpn_and_coarse_maps(fpn_features_generator: "KerasFpnTopDownFeatureMaps",
                        coarse_feature_layers: Sequence[Sequence[keras.layers.Layer]],
                        fpn_inputs: List[Tuple[str, tf.Tensor]]) -> List[tf.Tensor]:
    """The FPN maps of fpn_inputs ((block name, backbone map), fine to coarse), then one map per coarse block,
    each block applied to the map before it: the feature maps of the OD API's SSD and Faster R-CNN FPN extractors."""
    fpn_features = fpn_features_generator(fpn_inputs)
    feature_maps = [fpn_features[f"top_down_{block}"] for block, _ in fpn_inputs]
    last = feature_maps[-1]
    for layers in coarse_feature_layers:
        for layer in layers:
            last = layer(last)
        feature_maps.append(last)
    return feature_maps


class KerasFpnTopDownFeatureMaps(keras.Model):
    """FPN top-down pathway (the OD API's KerasFpnTopDownFeatureMaps): 1x1 projections, 2x nearest upsampling,
    sums, 3x3 smoothing. call([(name, map), ...] fine to coarse) -> OrderedDict top_down_<name> fine to coarse.

    The layers run (and so create their variables) under the name scope `scope`, 'top_down' by default, as in the
    OD API: variable names are <model>/FeatureMaps/top_down/projection_3/kernel:0 and so on.
    """

    def __init__(self, num_levels: int, depth: int, is_training: bool, conv_hyperparams, freeze_batchnorm: bool,
                 use_depthwise: bool = False, use_explicit_padding: bool = False, scope: str = None, name=None):
        super().__init__(name=name)
        self.scope = scope or "top_down"
        padding = "VALID" if use_explicit_padding else "SAME"
        self.top_layers = [keras.layers.Conv2D(depth, [1, 1], strides=1, padding=padding,
                                               name=f"projection_{num_levels}",
                                               **conv_hyperparams.params(use_bias=True))]
        self.residual_blocks, self.top_down_blocks, self.reshape_blocks, self.conv_layers = [], [], [], []
        for level in reversed(range(num_levels - 1)):
            self.residual_blocks.append([keras.layers.Conv2D(depth, [1, 1], padding=padding, strides=1,
                                                             name=f"projection_{level + 1}",
                                                             **conv_hyperparams.params(use_bias=True))])
            self.top_down_blocks.append([keras.layers.Lambda(nearest_neighbor_upsampling,
                                                             name="nearest_neighbor_upsampling")])
            reshape, conv_net = [], []
            if use_explicit_padding:
                reshape.append(keras.layers.Lambda(
                    lambda inputs: inputs[1][:, :keras.backend.shape(inputs[0])[1],
                                             :keras.backend.shape(inputs[0])[2], :], name="reshape"))
                conv_net.append(keras.layers.Lambda(lambda x: fixed_padding(x, 3), name="fixed_padding"))
            conv_net.extend(create_conv_block(use_depthwise, 3, padding, 1, f"smoothing_{level + 1}",
                                              conv_hyperparams, is_training, freeze_batchnorm, depth))
            self.reshape_blocks.append(reshape)
            self.conv_layers.append(conv_net)

    def call(self, image_features):
        """[(name, map), ...] fine to coarse -> OrderedDict top_down_<name> fine to coarse.

        The coarsest map is projected to `depth`; going finer, each level's own projection (lateral) is added to
        the 2x-upsampled output of the level above and the sum smoothed by a 3x3 conv, and that smoothed output is
        what the next finer level upsamples.
        """
        names = [name for name, _ in image_features]
        with tf.name_scope(self.scope):
            above = _run(self.top_layers, image_features[-1][1])
            outputs = {names[-1]: above}
            for block, (name, features) in enumerate(reversed(image_features[:-1])):
                lateral = _run(self.residual_blocks[block], features)
                upsampled = _run(self.top_down_blocks[block], above)
                # With explicit padding the upsampled map can be a row or column larger: cut to the lateral's size.
                for layer in self.reshape_blocks[block]:
                    upsampled = layer([lateral, upsampled])
                above = _run(self.conv_layers[block], upsampled + lateral)
                outputs[name] = above
        return collections.OrderedDict((f"top_down_{name}", outputs[name]) for name in names)


def _run(layers: List[keras.layers.Layer], inputs):
    """inputs through layers in order."""
    for layer in layers:
        inputs = layer(inputs)
    return inputs
