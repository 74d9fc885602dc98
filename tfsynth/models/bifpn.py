"""BiFPN, EfficientDet's bidirectional feature pyramid (Tan et al. 2019), as the OD API's KerasBiFpnFeatureMaps.

The pyramid is a list of nodes, each a feature map at one level (level L has stride 2**L):
- the backbone's maps for min_level..input_max_level are the inputs, named 0_up_lvl_L;
- levels above input_max_level are made from the level below by a 3x3 stride-2 max pool (0_up_lvl_6, 0_up_lvl_7;
  the first one after a 1x1 conv and batch norm, because a backbone map has its own channel count);
- each of num_iterations passes K adds a top-down path K_dn_lvl_L (L = max_level - 1 down to min_level: the same
  level's last node plus the node above, upsampled) and a bottom-up path K_up_lvl_L (L = min_level + 1 up to
  max_level: the same level's node of the previous pass, K_dn_lvl_L where there is one, and the node below,
  max-pooled).
A node resamples each input to its level (1x1 conv + batch norm first when the input is a backbone map), combines
them with learned non-negative weights ('fast_attention': relu(w) / (sum relu(w) + 1e-4)), then applies swish (the
conv_hyperparams' activation), a 3x3 separable conv and batch norm. The outputs are the last pass's nodes,
min_level..max_level.

Layer names, the name scopes node_NN the nodes run under and the attributes node_input_blocks (per node, a list of
(input's node index, [layers]) pairs), node_combine_op and node_post_combine_block are the OD API's, so its
checkpoints restore by object path and the variables carry its names.
"""
import collections
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.feature_map_generators import nearest_neighbor_upsampling
from tfsynth.models.layer_factory import fresh_initializer

COMBINE_METHODS = ("sum", "weighted_sum", "attention", "fast_attention")


@dataclasses.dataclass(frozen=True)
class BiFpnNode:
    """One node of the pyramid: its name ('{pass}_{dn|up}_lvl_{level}'), level and input node names. A node with
    one input (the pooled extra levels) is its resampled input: no combine, no conv after it."""
    name: str
    level: int
    inputs: Tuple[str, ...]

    @property
    def combines(self) -> bool:
        return len(self.inputs) > 1


def input_node_names(min_level: int, input_max_level: int) -> List[str]:
    """Names of the backbone maps that feed the pyramid, fine to coarse."""
    return [f"0_up_lvl_{level}" for level in range(min_level, input_max_level + 1)]


def bifpn_nodes(num_iterations: int, min_level: int, max_level: int, input_max_level: int) -> List[BiFpnNode]:
    """The nodes the pyramid computes, in computation order (the backbone inputs excluded)."""
    nodes = [BiFpnNode(f"0_up_lvl_{level}", level, (f"0_up_lvl_{level - 1}",))
             for level in range(input_max_level + 1, max_level + 1)]
    for iteration in range(1, num_iterations + 1):
        previous = iteration - 1
        for level in range(max_level - 1, min_level - 1, -1):
            # A pass has no bottom-up node at min_level: after the first pass, that level's last node is top-down.
            same_level = (f"{previous}_up_lvl_{level}" if level > min_level or iteration == 1
                          else f"{previous}_dn_lvl_{level}")
            nodes.append(BiFpnNode(f"{iteration}_dn_lvl_{level}", level, (same_level, nodes[-1].name)))
        for level in range(min_level + 1, max_level + 1):
            inputs = [f"{previous}_up_lvl_{level}"]
            if level < max_level:
                inputs.append(f"{iteration}_dn_lvl_{level}")
            inputs.append(nodes[-1].name)
            nodes.append(BiFpnNode(f"{iteration}_up_lvl_{level}", level, tuple(inputs)))
    return nodes


class BiFpnCombine(keras.layers.Layer):
    """Combines same-shaped maps into one: a plain sum, or a sum weighted by learned per-input weights
    (bifpn_combine_weights, shape [inputs, 1], initially ones): as they are ('weighted_sum'), relu-normalized
    ('fast_attention'), or softmax-normalized ('attention', in effect a plain sum: see call)."""

    def __init__(self, combine_method: str, **kwargs):
        super().__init__(**kwargs)
        if combine_method not in COMBINE_METHODS:
            raise ValueError(f"bifpn.combine_method = {combine_method!r}: expected one of {', '.join(COMBINE_METHODS)}")
        self.combine_method = combine_method

    def build(self, input_shape):
        if self.combine_method != "sum":
            self.per_input_weights = self.add_weight(name="bifpn_combine_weights", shape=(len(input_shape), 1),
                                                     initializer="ones", trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        if self.combine_method == "sum":
            return tf.add_n(inputs)
        weights = self.per_input_weights
        if self.combine_method == "attention":
            # Over the last axis, as the OD API does: of size 1, so every weight becomes 1 and 'attention' is a
            # plain sum there. Kept, so that its checkpoints compute here what they computed there.
            weights = tf.nn.softmax(weights)
        elif self.combine_method == "fast_attention":
            weights = tf.nn.relu(weights)
            # The epsilon keeps the division finite when every weight has been driven to zero.
            weights = weights / (tf.reduce_sum(weights) + 0.0001)
        # One matmul over the stacked inputs, as the OD API computes it (the same rounding).
        return tf.squeeze(tf.linalg.matmul(tf.stack(inputs, axis=-1), weights), axis=[-1])


def _conv_block(prefix: str, num_filters: int, kernel_size: int, separable: bool, activation_first: bool,
                conv_hyperparams, batchnorm_training: bool) -> List[keras.layers.Layer]:
    """[conv, batch norm] named prefix + conv|separable_conv, prefix + batchnorm; with activation_first, the
    conv_hyperparams' activation (prefix + activation) before them."""
    if separable:
        params = conv_hyperparams.params()
        params.update(depthwise_regularizer=params["kernel_regularizer"],
                      depthwise_initializer=fresh_initializer(params["kernel_initializer"]),
                      pointwise_regularizer=params["kernel_regularizer"],
                      pointwise_initializer=fresh_initializer(params["kernel_initializer"]))
        conv = keras.layers.SeparableConv2D(num_filters, kernel_size, depth_multiplier=1, padding="SAME",
                                            strides=1, name=prefix + "separable_conv", **params)
    else:
        conv = keras.layers.Conv2D(num_filters, kernel_size, padding="SAME", strides=1, name=prefix + "conv",
                                   **conv_hyperparams.params())
    layers = [conv, conv_hyperparams.build_batch_norm(training=batchnorm_training, name=prefix + "batchnorm")]
    if activation_first:
        layers.insert(0, conv_hyperparams.build_activation_layer(name=prefix + "activation"))
    return layers


def _resample_layers(prefix: str, input_level: int, output_level: int, use_native_resize_op: bool
                     ) -> List[keras.layers.Layer]:
    """Layers taking a map from input_level to output_level: max pool (kernel stride + 1, SAME) down, nearest
    neighbour up."""
    if input_level < output_level:
        stride = 2 ** (output_level - input_level)
        return [keras.layers.MaxPooling2D(pool_size=stride + 1, strides=stride, padding="SAME",
                                          name=f"{prefix}downsample_max_x{stride}")]
    if input_level > output_level:
        scale = 2 ** (input_level - output_level)
        if use_native_resize_op:
            def upsample(images):
                shape = tf.shape(images)
                return tf.compat.v1.image.resize_nearest_neighbor(images, [shape[1] * scale, shape[2] * scale])
        else:
            def upsample(images):
                return nearest_neighbor_upsampling(images, scale=scale)
        return [keras.layers.Lambda(upsample, name=f"{prefix}nearest_neighbor_upsampling_x{scale}")]
    return []


class KerasBiFpnFeatureMaps(keras.Model):
    """call([(name, backbone map), ...] for min_level..input_max_level) -> OrderedDict {output node name: map} for
    min_level..max_level, fine to coarse."""

    def __init__(self, bifpn_num_iterations: int, bifpn_num_filters: int, fpn_min_level: int, fpn_max_level: int,
                 input_max_level: int, is_training: bool, conv_hyperparams, freeze_batchnorm: bool,
                 combine_method: str = "fast_attention", use_native_resize_op: bool = False,
                 name: Optional[str] = None):
        super().__init__(name=name)
        nodes = bifpn_nodes(bifpn_num_iterations, fpn_min_level, fpn_max_level, input_max_level)
        self._nodes = nodes
        self.bifpn_output_node_names = [node.name for node in nodes[-(fpn_max_level - fpn_min_level + 1):]]
        batchnorm_training = is_training and not freeze_batchnorm
        # Every map so far, in the order call() keeps them: the backbone's, then each node's.
        names = input_node_names(fpn_min_level, input_max_level)
        backbone_maps = set(names)
        levels: Dict[str, int] = dict(zip(names, range(fpn_min_level, input_max_level + 1)))
        self.node_input_blocks = []
        self.node_combine_op = []
        self.node_post_combine_block = []
        for node in nodes:
            input_blocks = []
            for input_name in node.inputs:
                if input_name not in levels:
                    raise ValueError(f"BiFPN node {node.name}: input {input_name} is not computed before it")
                prefix = f"{node.name}/input_{input_name}/"
                layers = []
                if input_name in backbone_maps:
                    # A backbone map has its own channel count: project it to the pyramid's first.
                    layers += _conv_block(prefix + "1x1_pre_sample/", bifpn_num_filters, 1, separable=False,
                                          activation_first=False, conv_hyperparams=conv_hyperparams,
                                          batchnorm_training=batchnorm_training)
                layers += _resample_layers(prefix, levels[input_name], node.level, use_native_resize_op)
                input_blocks.append((names.index(input_name), layers))
            self.node_input_blocks.append(input_blocks)
            self.node_combine_op.append(BiFpnCombine(combine_method, name=f"{node.name}/combine")
                                        if node.combines else None)
            self.node_post_combine_block.append(
                _conv_block(f"{node.name}/post_combine/", bifpn_num_filters, 3, separable=True, activation_first=True,
                            conv_hyperparams=conv_hyperparams, batchnorm_training=batchnorm_training)
                if node.combines else [])
            levels[node.name] = node.level
            names.append(node.name)

    def call(self, feature_pyramid: Sequence[Tuple[str, tf.Tensor]]) -> "collections.OrderedDict[str, tf.Tensor]":
        maps = [feature_map for _, feature_map in feature_pyramid]
        for index, node in enumerate(self._nodes):
            with tf.name_scope(f"node_{index:02d}"):
                resampled = []
                for input_index, layers in self.node_input_blocks[index]:
                    result = maps[input_index]
                    for layer in layers:
                        result = layer(result)
                    resampled.append(result)
                result = self.node_combine_op[index](resampled) if node.combines else resampled[0]
                for layer in self.node_post_combine_block[index]:
                    result = layer(result)
                maps.append(result)
        outputs = maps[-len(self.bifpn_output_node_names):]
        return collections.OrderedDict(zip(self.bifpn_output_node_names, outputs))
