"""TFLite export of SSD models (the OD API's export_tflite_graph_tf2, followed by the TFLite conversion).

Input, as there: `normalized_input_image_tensor`, float32 [1, H, W, 3], already resized to the
fixed_shape_resizer size and normalized by the feature extractor's preprocessing. Outputs, in the order of
TFLite_Detection_PostProcess: detection_boxes [1, N, 4] (normalized ymin, xmin, ymax, xmax), detection_classes
[1, N] (0-based class index, as the OD API's TFLite models), detection_scores [1, N], num_detections [1].
NMS runs as TensorFlow ops (the converter keeps those without a TFLite kernel as Select TF ops).
"""
from __future__ import annotations

import os
import shutil
from typing import Any

import tensorflow as tf

from tfsynth.core.standard_fields import DetectionResultFields as results
from tfsynth.export.saved_model import build_and_restore, check_restored

TFLITE_FILE = "model.tflite"


def _fixed_input_size(model_config: Any) -> tuple[int, int]:
    kind = model_config.WhichOneof("model")
    if kind != "ssd":
        raise ValueError(f"TFLite export supports ssd models only; this pipeline.config has {kind!r}")
    resizer = model_config.ssd.image_resizer
    if resizer.WhichOneof("image_resizer_oneof") != "fixed_shape_resizer":
        raise ValueError("TFLite export needs model.ssd.image_resizer.fixed_shape_resizer (a fixed input size); "
                         f"found {resizer.WhichOneof('image_resizer_oneof')!r}")
    return resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width


class TFLiteDetectionModule(tf.Module):
    """predict + postprocess of a DetectionModel on a preprocessed fixed-size image."""

    def __init__(self, detection_model: Any, height: int, width: int):
        super().__init__()
        self.model = detection_model
        self.height, self.width = height, width
        spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="normalized_input_image_tensor")
        self.inference = tf.function(self._inference, input_signature=[spec])

    def _inference(self, normalized_input_image_tensor: tf.Tensor) -> tuple:
        shapes = tf.constant([[self.height, self.width, 3]], tf.int32)
        predictions = self.model.predict(normalized_input_image_tensor, shapes)
        detections = self.model.postprocess(predictions, shapes)
        return (tf.cast(detections[results.detection_boxes], tf.float32),
                tf.cast(detections[results.detection_classes], tf.float32),
                tf.cast(detections[results.detection_scores], tf.float32),
                tf.cast(detections[results.num_detections], tf.float32))


def export_tflite(configs: dict, trained_checkpoint_dir: str, output_directory: str) -> str:
    """Writes output_directory/model.tflite (and the SavedModel it came from, output_directory/saved_model);
    returns the .tflite path."""
    height, width = _fixed_input_size(configs["model"])
    model, status, prefix = build_and_restore(configs, trained_checkpoint_dir)
    module = TFLiteDetectionModule(model, height, width)
    concrete = module.inference.get_concrete_function()
    check_restored(model, status, prefix)
    os.makedirs(output_directory, exist_ok=True)
    saved_model_dir = os.path.join(output_directory, "saved_model")
    shutil.rmtree(saved_model_dir, ignore_errors=True)
    tf.saved_model.save(module, saved_model_dir, signatures={"serving_default": concrete})
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    flatbuffer = converter.convert()
    target = os.path.join(output_directory, TFLITE_FILE)
    temporary = target + ".partial"
    with open(temporary, "wb") as stream:
        stream.write(flatbuffer)
    os.replace(temporary, target)
    return target
