"""Convert the TF.js COCO SSDLite MobileNetV2 into a TF2 checkpoint of our Keras SSD model, and prove the
converted model computes the same function as the TF.js frozen graph."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Dict, List, Mapping

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from tfsynth.pretrained import ssdlite_mapping
from tfsynth.pretrained.tfjs_graph import TfjsGraph

# Graph nodes of the TF1 SSDLite graph matching our predict() outputs.
TFJS_FEATURE_MAP_NODES = (
    "FeatureExtractor/MobilenetV2/expanded_conv_13/expand/Relu6",
    "FeatureExtractor/MobilenetV2/Conv_1/Relu6",
    "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_2_3x3_s2_512/Relu6",
    "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_3_3x3_s2_256/Relu6",
    "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_4_3x3_s2_256/Relu6",
    "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_5_3x3_s2_128/Relu6",
)
TFJS_BOX_ENCODINGS_NODE = "concat"  # [batch, 1917, 1, 4]
TFJS_CLASS_LOGITS_NODE = "concat_1"  # [batch, 1917, 91], background first
TFJS_PREPROCESSED_NODE = "Preprocessor/sub"  # resized image scaled to [-1, 1]
TFJS_ANCHORS_CONST = "Postprocessor/ExpandDims"  # [1, 1917, 4] normalized ymin, xmin, ymax, xmax

# Largest tolerated difference to the TF.js graph, relative to max(1, largest magnitude of the reference).
EQUIVALENCE_TOLERANCE = 1e-3


def load_pipeline_config(path: pathlib.Path | str):
    """Parses a pipeline.config (text-format TrainEvalPipelineConfig)."""
    from tfsynth.protos import pipeline_pb2  # generated at install / first import
    config = pipeline_pb2.TrainEvalPipelineConfig()
    try:
        text_format.Parse(pathlib.Path(path).read_text(), config)
    except text_format.ParseError as error:
        raise ValueError(f"{path}: not a valid pipeline.config: {error}") from error
    return config


def build_model(pipeline_config_path: pathlib.Path | str, is_training: bool = False):
    """Builds the detection model of a pipeline.config and runs it once so its variables exist."""
    from tfsynth.builders import model_builder
    config = load_pipeline_config(pipeline_config_path)
    model = model_builder.build(model_config=config.model, is_training=is_training)
    resizer = config.model.ssd.image_resizer.fixed_shape_resizer
    zeros = tf.zeros([1, resizer.height or 300, resizer.width or 300, 3], tf.float32)
    preprocessed, shapes = model.preprocess(zeros)
    model.predict(preprocessed, shapes)
    return model


def assign_tfjs_weights(model: tf.Module, arrays: Mapping[str, np.ndarray],
                        epsilon: float = ssdlite_mapping.BATCH_NORM_EPSILON) -> int:
    """Sets every variable of `model` from the TF.js arrays; returns how many variables were set.

    Raises:
      ssdlite_mapping.MappingError: a model variable has no value, a value fits no variable, a shape differs,
        or a batch norm's epsilon is not the one the folding assumed.
    """
    for layer in model.submodules:
        # Duck-typed: the model may use tf_keras (Keras 2) layers, which are not tf.keras (Keras 3) classes.
        if hasattr(layer, "moving_variance") and hasattr(layer, "epsilon") and abs(
                float(layer.epsilon) - epsilon) > 1e-9:
            raise ssdlite_mapping.MappingError(
                f"batch norm {layer.name} has epsilon {layer.epsilon}; the folded weights assume {epsilon}")
    values = ssdlite_mapping.keras_values_from_tf1(arrays, epsilon)
    variables = {variable.name: variable for variable in model.variables}
    pairs, missing, unused = ssdlite_mapping.match_variables(variables, values)
    # A depthwise conv built with a bias (the OD API's heads have none) gets zeros: the TF1 layer had no bias.
    zero_biases = [name for name in missing if "_depthwise" in name and name.endswith("/bias:0")]
    missing = [name for name in missing if name not in zero_biases]
    if missing or unused:
        raise ssdlite_mapping.MappingError(
            f"TF.js -> Keras name mapping incomplete: {len(missing)} model variables without a value "
            f"{missing[:8]}; {len(unused)} TF.js values without a variable {unused[:8]}")
    mismatched = [(name, tuple(variables[name].shape), values[key].shape) for name, key in pairs.items()
                  if tuple(variables[name].shape) != values[key].shape]
    if mismatched:
        raise ssdlite_mapping.MappingError(f"shape mismatches (variable, model shape, TF.js shape): "
                                           f"{mismatched[:8]}")
    for name, key in pairs.items():
        variables[name].assign(values[key])
    for name in zero_biases:
        variables[name].assign(tf.zeros_like(variables[name]))
    return len(pairs) + len(zero_biases)


@dataclasses.dataclass
class EquivalenceReport:
    """Largest absolute differences between our model and the TF.js graph on one input."""
    max_abs_diff: Dict[str, float]
    reference_scale: Dict[str, float]

    def worst_relative(self) -> float:
        return max(self.max_abs_diff[k] / max(1.0, self.reference_scale[k]) for k in self.max_abs_diff)

    def ok(self, tolerance: float = EQUIVALENCE_TOLERANCE) -> bool:
        return self.worst_relative() <= tolerance


def structured_image(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 RGB image with structure at several scales (smoothed noise plus gradients)."""
    rng = np.random.RandomState(seed)
    noise = rng.uniform(0, 255, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    coarse = tf.image.resize(noise[np.newaxis], [height, width], method="bilinear")[0].numpy()
    fine = rng.uniform(-40, 40, (height, width, 3))
    ramp = np.linspace(0, 60, width)[np.newaxis, :, np.newaxis]
    return np.clip(coarse + fine + ramp - 30, 0, 255).astype(np.uint8)


def compare_with_tfjs_graph(model: tf.Module, graph: TfjsGraph, image: np.ndarray) -> EquivalenceReport:
    """Runs our model and the TF.js graph on the same preprocessed image and compares their outputs.

    Both get our model.preprocess() output (the graph's own preprocessor is a TF1 while-loop that the executor
    does not run); compared are the six feature maps, the box encodings, the class logits and the anchors.
    """
    batch = tf.cast(tf.convert_to_tensor(image)[tf.newaxis], tf.float32)
    preprocessed, shapes = model.preprocess(batch)
    predictions = model.predict(preprocessed, shapes)
    nodes = list(TFJS_FEATURE_MAP_NODES) + [TFJS_BOX_ENCODINGS_NODE, TFJS_CLASS_LOGITS_NODE]
    reference = graph.evaluate(nodes, {TFJS_PREPROCESSED_NODE: preprocessed})
    pairs: List[tuple] = [(f"feature_maps_{i}", predictions["feature_maps"][i], reference[node])
                          for i, node in enumerate(TFJS_FEATURE_MAP_NODES)]
    pairs += [("box_encodings", predictions["box_encodings"], reference[TFJS_BOX_ENCODINGS_NODE][:, :, 0, :]),
              ("class_predictions_with_background", predictions["class_predictions_with_background"],
               reference[TFJS_CLASS_LOGITS_NODE]),
              ("anchors", predictions["anchors"], graph.constants[TFJS_ANCHORS_CONST][0])]
    diffs, scales = {}, {}
    for name, ours, theirs in pairs:
        ours = np.asarray(ours)
        if ours.shape != theirs.shape:
            raise ssdlite_mapping.MappingError(f"{name}: our shape {ours.shape} differs from TF.js {theirs.shape}")
        diffs[name] = float(np.max(np.abs(ours - theirs)))
        scales[name] = float(np.max(np.abs(theirs)))
    return EquivalenceReport(diffs, scales)


def save_checkpoint(model: tf.Module, checkpoint_dir: pathlib.Path) -> pathlib.Path:
    """Writes checkpoint_dir/ckpt-0.{index,data-00000-of-00001} + `checkpoint`, the Zoo tarballs' layout."""
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_dir), max_to_keep=1)
    return pathlib.Path(manager.save(checkpoint_number=0))
