"""Extra SSD feature maps on top of a backbone (the OD API's KerasMultiResolutionFeatureMaps).

`convolutions[i]` holds the layers that make feature map i from map i-1 (empty for maps taken from the backbone),
which gives the checkpoint keys feature_map_generator/convolutions/<i>/<j>/... of the OD API.
"""
import collections
from typing import Dict, List

import tf_keras as keras

from tfsynth.models.layer_factory import fixed_padding


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

