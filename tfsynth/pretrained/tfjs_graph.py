"""Execute part of a TensorFlow.js GraphModel (model.json `modelTopology`) with TensorFlow ops.

Used to check a conversion: the TF.js file holds the frozen TF1 graph (node name, op, inputs, attrs); running
its nodes from a fed tensor to chosen outputs gives the reference function to compare a converted model against.
Only the stateless ops of a frozen detection graph are supported (no control flow): feed the tensors that come
out of the control-flow part (e.g. the preprocessor's `map` loop) instead of computing them.
"""
from __future__ import annotations

import base64
import pathlib
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfsynth.pretrained.tfjs_weights import TfjsFormatError, read_model_json, read_tfjs_weights


def _attr_string(attr: Mapping[str, Any]) -> str:
    """Decodes a string attr: TF.js writes bytes as a list of ints, protobuf JSON as base64."""
    value = attr.get("s", "")
    if isinstance(value, list):
        return bytes(int(v) for v in value).decode()
    return base64.b64decode(value).decode()


def _attr_ints(attr: Mapping[str, Any]) -> List[int]:
    return [int(v) for v in attr.get("list", {}).get("i", [])]


def _attr_int(attrs: Mapping[str, Any], key: str, default: int = 0) -> int:
    return int(attrs[key]["i"]) if key in attrs else default


class TfjsGraph:
    """The node graph of one TF.js GraphModel with its constants; evaluates tensors by node name."""

    def __init__(self, model_json: pathlib.Path | str):
        content = read_model_json(model_json)
        topology = content.get("modelTopology")
        if not isinstance(topology, dict) or "node" not in topology:
            raise TfjsFormatError(f"{model_json}: 'modelTopology' has no 'node' list: not a TF.js GraphModel")
        self.nodes: Dict[str, Dict[str, Any]] = {node["name"]: node for node in topology["node"]}
        self.constants = read_tfjs_weights(model_json)
        self._ops: Dict[str, Callable[[Dict[str, Any], List[Any]], Any]] = {
            "Identity": lambda a, x: x[0],
            "Add": lambda a, x: x[0] + x[1],
            "AddV2": lambda a, x: x[0] + x[1],
            "AddN": lambda a, x: tf.add_n(x),
            "Sub": lambda a, x: x[0] - x[1],
            "Mul": lambda a, x: x[0] * x[1],
            "Relu6": lambda a, x: tf.nn.relu6(x[0]),
            "Sigmoid": lambda a, x: tf.sigmoid(x[0]),
            "Exp": lambda a, x: tf.exp(x[0]),
            "BiasAdd": lambda a, x: tf.nn.bias_add(x[0], x[1]),
            "Conv2D": self._conv2d,
            "DepthwiseConv2dNative": self._depthwise_conv2d,
            "FusedBatchNorm": self._fused_batch_norm,
            "Reshape": lambda a, x: tf.reshape(x[0], x[1]),
            "Shape": lambda a, x: tf.shape(x[0]),
            "Pack": lambda a, x: tf.stack(x, axis=_attr_int(a, "axis")),
            "Unpack": lambda a, x: tf.unstack(x[0], axis=_attr_int(a, "axis")),
            "ConcatV2": lambda a, x: tf.concat(x[:-1], axis=x[-1]),
            "Squeeze": lambda a, x: tf.squeeze(x[0], axis=_attr_ints(a.get("squeeze_dims", {})) or None),
            "ExpandDims": lambda a, x: tf.expand_dims(x[0], x[1]),
            "Transpose": lambda a, x: tf.transpose(x[0], x[1]),
            "Tile": lambda a, x: tf.tile(x[0], x[1]),
            "Slice": lambda a, x: tf.slice(x[0], x[1], x[2]),
            "StridedSlice": lambda a, x: tf.strided_slice(
                x[0], x[1], x[2], x[3], begin_mask=_attr_int(a, "begin_mask"), end_mask=_attr_int(a, "end_mask"),
                ellipsis_mask=_attr_int(a, "ellipsis_mask"), new_axis_mask=_attr_int(a, "new_axis_mask"),
                shrink_axis_mask=_attr_int(a, "shrink_axis_mask")),
        }

    @staticmethod
    def _conv_args(attrs: Mapping[str, Any]) -> Dict[str, Any]:
        data_format = _attr_string(attrs["data_format"]) if "data_format" in attrs else "NHWC"
        if data_format != "NHWC":
            raise TfjsFormatError(f"data_format {data_format!r} is not supported (expected NHWC)")
        return {"strides": _attr_ints(attrs["strides"]), "padding": _attr_string(attrs["padding"]),
                "dilations": _attr_ints(attrs["dilations"]) if "dilations" in attrs else None}

    def _conv2d(self, attrs: Mapping[str, Any], inputs: List[Any]) -> tf.Tensor:
        return tf.nn.conv2d(inputs[0], inputs[1], **self._conv_args(attrs))

    def _depthwise_conv2d(self, attrs: Mapping[str, Any], inputs: List[Any]) -> tf.Tensor:
        args = self._conv_args(attrs)
        dilations = args["dilations"][1:3] if args["dilations"] else None
        return tf.nn.depthwise_conv2d(inputs[0], inputs[1], strides=args["strides"], padding=args["padding"],
                                      dilations=dilations)

    @staticmethod
    def _fused_batch_norm(attrs: Mapping[str, Any], inputs: List[Any]) -> tf.Tensor:
        epsilon = float(attrs.get("epsilon", {}).get("f", 1e-3))
        x, scale, offset, mean, variance = inputs
        return tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=variance, epsilon=epsilon,
                                                is_training=False)[0]

    def evaluate(self, outputs: Sequence[str], feeds: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Computes the named node outputs ("name" or "name:k") given tensors for some nodes.

        Args:
          outputs: node names to compute.
          feeds: node name -> value; evaluation stops at these nodes (their inputs are not computed).

        Returns:
          node name -> numpy value, for each requested output.
        """
        cache: Dict[str, Any] = {name: tf.convert_to_tensor(value) for name, value in feeds.items()}

        def value_of(ref: str) -> Any:
            name, _, index = ref.partition(":")
            if name not in cache:
                cache[name] = compute(name)
            result = cache[name]
            return result[int(index)] if index else (result[0] if isinstance(result, list) else result)

        def compute(name: str) -> Any:
            node = self.nodes.get(name)
            if node is None:
                raise KeyError(f"node {name!r} is not in the graph")
            if node["op"] == "Const":
                return tf.constant(self.constants[name])
            operation = self._ops.get(node["op"])
            if operation is None:
                raise NotImplementedError(f"node {name!r}: op {node['op']} is not supported by this executor "
                                          "(feed a tensor past it)")
            inputs = [value_of(ref) for ref in node.get("input", []) if not ref.startswith("^")]
            return operation(node.get("attr", {}), inputs)

        # Iterative deepening would be nicer, but the graphs are shallow enough (a few hundred nodes) for
        # Python's recursion limit once it is raised a little.
        import sys
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10000))
        try:
            return {ref: np.asarray(value_of(ref)) for ref in outputs}
        finally:
            sys.setrecursionlimit(limit)
