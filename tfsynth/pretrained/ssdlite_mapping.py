"""Map the TF1 arrays of the TF.js COCO SSDLite MobileNetV2 onto the OD API's Keras (TF2) variable names.

The TF.js file holds a frozen TF1 graph whose batch norms were rewritten by the converter:
- regular convolutions: `<layer>/Conv2D/merged_input` (kernel with the batch-norm scale folded in) and
  `<layer>/BatchNorm/batchnorm/sub` (the folded offset, beta - mean * scale);
- depthwise convolutions: `<layer>/depthwise_weights` (raw kernel), `<layer>/BatchNorm/batchnorm/mul` (scale,
  gamma / sqrt(var + eps)) and `.../sub` (offset);
- the box predictor's depthwise layers keep their batch norm unfolded (gamma, beta, moving_mean,
  moving_variance, run by FusedBatchNorm with epsilon 0.001); its 1x1 predictors have weights and biases.

Our Keras model has conv (no bias) + BatchNormalization everywhere, so a folded pair becomes
gamma = scale (1 when folded into the kernel), beta = offset, moving_mean = 0, moving_variance = 1 - epsilon:
the batch norm then computes x * gamma + beta exactly, since (1 - eps) + eps rounds to 1 in float32.

Keras names are written in the canonical form `layer/variable` (backbone), `FeatureMaps/layer/variable` and
`BoxPredictor/Convolutional{Box,Class}Head_i/layer/variable`, the OD API's TF2 names without the `:0` suffix and
without the model's outer name scopes.
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np

BATCH_NORM_EPSILON = 1e-3  # conv_hyperparams.batch_norm.epsilon of the SSDLite sample config

_BACKBONE = "FeatureExtractor/MobilenetV2/"
# Graph constants that are not model variables (preprocessing scale, anchors, box-coder scales, shape math).
_NON_VARIABLE_PREFIXES = ("Preprocessor/", "Postprocessor/", "ConstantFolding/", "MultipleGridAnchorGenerator/")
_NON_VARIABLE_PATTERN = re.compile(r"^BoxPredictor_\d+/stack(_\d+)?/\d+$")


class MappingError(ValueError):
    """The TF1 arrays or the Keras variables do not have the layout this mapping expects."""


def is_graph_constant(tf1_name: str) -> bool:
    """True for arrays of the frozen graph that hold no trained value (anchors, scales, shapes)."""
    return tf1_name.startswith(_NON_VARIABLE_PREFIXES) or bool(_NON_VARIABLE_PATTERN.match(tf1_name))


def keras_layer_for_backbone(tf1_layer: str) -> Tuple[str, str]:
    """Keras (conv layer, batch-norm layer) names of one TF1 MobilenetV2 / feature-map layer.

    Args:
      tf1_layer: the TF1 scope below FeatureExtractor/MobilenetV2/, e.g. "expanded_conv_3/depthwise",
        "Conv", "Conv_1", "layer_19_2_Conv2d_2_3x3_s2_512_depthwise".
    """
    if tf1_layer == "Conv":
        return "Conv1", "bn_Conv1"
    if tf1_layer == "Conv_1":
        return "Conv_1", "Conv_1_bn"
    match = re.fullmatch(r"expanded_conv(?:_(\d+))?/(expand|depthwise|project)", tf1_layer)
    if match:
        block = "expanded_conv" if match.group(1) is None else f"block_{match.group(1)}"
        keras = f"{block}_{match.group(2)}"
        return keras, keras + "_BN"
    match = re.fullmatch(r"(layer_19_[12]_Conv2d_\d+_\w+?)(_depthwise)?", tf1_layer)
    if match:
        base = "FeatureMaps/" + match.group(1)
        if match.group(2):
            return base + "_depthwise_conv", base + "_depthwise_batchnorm"
        return base + "_conv", base + "_batchnorm"
    raise MappingError(f"TF1 layer {tf1_layer!r} is not a known MobilenetV2 or SSD feature-map layer")


def _identity_batch_norm(batch_norm: str, scale: np.ndarray | None, offset: np.ndarray,
                         epsilon: float) -> Dict[str, np.ndarray]:
    """Batch-norm variables that make the layer compute x * scale + offset."""
    depth = offset.shape[0]
    return {
        f"{batch_norm}/gamma": (np.ones(depth, np.float32) if scale is None else scale).astype(np.float32),
        f"{batch_norm}/beta": offset.astype(np.float32),
        f"{batch_norm}/moving_mean": np.zeros(depth, np.float32),
        f"{batch_norm}/moving_variance": np.full(depth, 1.0 - epsilon, np.float32),
    }


def _backbone_values(arrays: Mapping[str, np.ndarray], epsilon: float) -> Dict[str, np.ndarray]:
    layers: Dict[str, Dict[str, np.ndarray]] = {}
    for name, value in arrays.items():
        if not name.startswith(_BACKBONE):
            continue
        rest = name[len(_BACKBONE):]
        match = re.fullmatch(r"(.+?)/(Conv2D/merged_input|depthwise_weights|BatchNorm/batchnorm/(?:mul|sub))",
                             rest)
        if not match:
            raise MappingError(f"{name}: unexpected array in the feature extractor (expected <layer>/"
                               "Conv2D/merged_input, depthwise_weights or BatchNorm/batchnorm/{mul,sub})")
        layers.setdefault(match.group(1), {})[match.group(2)] = value
    values: Dict[str, np.ndarray] = {}
    for tf1_layer, parts in layers.items():
        conv, batch_norm = keras_layer_for_backbone(tf1_layer)
        offset = parts.get("BatchNorm/batchnorm/sub")
        if offset is None:
            raise MappingError(f"{_BACKBONE}{tf1_layer}: no BatchNorm/batchnorm/sub (offset) array")
        if "Conv2D/merged_input" in parts:
            values[f"{conv}/kernel"] = parts["Conv2D/merged_input"]
            scale = parts.get("BatchNorm/batchnorm/mul")  # absent: scale already folded into the kernel
        elif "depthwise_weights" in parts:
            values[f"{conv}/depthwise_kernel"] = parts["depthwise_weights"]
            scale = parts.get("BatchNorm/batchnorm/mul")
            if scale is None:
                raise MappingError(f"{_BACKBONE}{tf1_layer}: depthwise layer without BatchNorm/batchnorm/mul")
        else:
            raise MappingError(f"{_BACKBONE}{tf1_layer}: no kernel array (merged_input or depthwise_weights)")
        values.update(_identity_batch_norm(batch_norm, scale, offset, epsilon))
    return values


def _box_predictor_values(arrays: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    values: Dict[str, np.ndarray] = {}
    heads = {"BoxEncodingPredictor": "ConvolutionalBoxHead", "ClassPredictor": "ConvolutionalClassHead"}
    for name, value in arrays.items():
        if not name.startswith("BoxPredictor_") or is_graph_constant(name):
            continue
        match = re.fullmatch(r"BoxPredictor_(\d+)/(BoxEncodingPredictor|ClassPredictor)"
                             r"(?:(_depthwise)/(depthwise_weights|BatchNorm/(gamma|beta|moving_mean|moving_variance))"
                             r"|/(weights|biases))", name)
        if not match:
            raise MappingError(f"{name}: unexpected array in the box predictor")
        index, predictor, depthwise, depthwise_part, bn_variable, pointwise_part = match.groups()
        scope = f"BoxPredictor/{heads[predictor]}_{index}/{predictor}"
        if depthwise and depthwise_part == "depthwise_weights":
            values[f"{scope}_depthwise/depthwise_kernel"] = value
        elif depthwise:
            values[f"{scope}_depthwise_batchnorm/{bn_variable}"] = value
        else:
            values[f"{scope}/{'kernel' if pointwise_part == 'weights' else 'bias'}"] = value
    return values


def keras_values_from_tf1(arrays: Mapping[str, np.ndarray],
                          epsilon: float = BATCH_NORM_EPSILON) -> Dict[str, np.ndarray]:
    """Values for every Keras variable of SSDLite MobileNetV2, keyed by canonical Keras name.

    Args:
      arrays: TF1 name -> array, as read from the TF.js weights (all of them; graph constants are skipped).
      epsilon: the Keras batch norms' epsilon (moving_variance is set to 1 - epsilon for folded layers).

    Raises:
      MappingError: an array has a name outside the expected layout.
    """
    unknown = [name for name in arrays if not is_graph_constant(name)
               and not name.startswith((_BACKBONE, "BoxPredictor_"))]
    if unknown:
        raise MappingError(f"arrays outside FeatureExtractor/MobilenetV2 and BoxPredictor_*: {unknown[:5]}")
    values = _backbone_values(arrays, epsilon)
    values.update(_box_predictor_values(arrays))
    return values


def canonical_variable_name(variable_name: str) -> str:
    """A Keras variable's name in the form used by `keras_values_from_tf1` (outer scopes dropped)."""
    name = variable_name[:-2] if variable_name.endswith(":0") else variable_name
    name = re.sub(r"(^|/)BoxPredictor_\d+/", r"\1BoxPredictor/", name)  # Keras uniquifies repeated builds
    for anchor in ("BoxPredictor/", "FeatureMaps/"):
        if anchor in name:
            return name[name.index(anchor):]
    return "/".join(name.split("/")[-2:])


def match_variables(variable_names: Iterable[str], values: Mapping[str, np.ndarray]
                    ) -> Tuple[Dict[str, str], List[str], List[str]]:
    """Pairs model variable names with canonical value names.

    Returns:
      (variable name -> value key, variable names with no value, value keys used by no variable).
    """
    pairs: Dict[str, str] = {}
    missing: List[str] = []
    for variable_name in variable_names:
        key = canonical_variable_name(variable_name)
        if key in values:
            pairs[variable_name] = key
        else:
            missing.append(variable_name)
    used = set(pairs.values())
    unused = [key for key in values if key not in used]
    return pairs, missing, unused
