"""TFLite export of SSD and CenterNet models (the OD API's export_tflite_graph_tf2, then the TFLite conversion).

Both take one image of the fixed_shape_resizer size, as the OD API's TFLite models do.
- SSD: input `normalized_input_image_tensor`, float32 [1, H, W, 3], already resized and normalized by the feature
  extractor's preprocessing; outputs in the order of TFLite_Detection_PostProcess: detection_boxes [1, N, 4]
  (normalized ymin, xmin, ymax, xmax), detection_classes [1, N] (0-based), detection_scores [1, N], num_detections
  [1]. NMS runs as TensorFlow ops (the converter keeps those without a TFLite kernel as Select TF ops).
- CenterNet: input `input`, float32 [1, H, W, 3] pixel values (0..255), normalized inside the model; outputs in the
  OD API's CenterNet order, the reverse: num_detections, detection_scores, detection_classes (0-based),
  detection_boxes. Peak picking is a max pool and a top-k.
N is the config's own limit (the NMS's max_total_detections, CenterNet's max_box_predictions), where the OD API's
command sets it from its --max_detections flag.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

import tensorflow as tf

from tfsynth.core.standard_fields import DetectionResultFields as results
from tfsynth.export.saved_model import build_and_restore, check_restored, while_restoring

TFLITE_FILE = "model.tflite"


def _fixed_input_size(model_config: Any) -> tuple[int, int]:
    kind = model_config.WhichOneof("model")
    if kind not in ("ssd", "center_net"):
        raise ValueError(f"TFLite export supports ssd and center_net models only; this pipeline.config has {kind!r}")
    resizer = getattr(model_config, kind).image_resizer
    if resizer.WhichOneof("image_resizer_oneof") != "fixed_shape_resizer":
        raise ValueError(f"TFLite export needs model.{kind}.image_resizer.fixed_shape_resizer (a fixed input size); "
                         f"found {resizer.WhichOneof('image_resizer_oneof')!r}")
    return resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width


class TFLiteDetectionModule(tf.Module):
    """predict + postprocess of a DetectionModel on a fixed-size image: preprocessed for SSD (as the OD API's SSD
    TFLite models take it), raw pixels for CenterNet (whose OD API TFLite models preprocess inside)."""

    def __init__(self, detection_model: Any, height: int, width: int, center_net: bool = False):
        super().__init__()
        self.model = detection_model
        self.height, self.width = height, width
        if center_net:
            spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="input")
            self.inference = tf.function(self._inference_on_pixels, input_signature=[spec])
        else:
            spec = tf.TensorSpec([1, height, width, 3], tf.float32, name="normalized_input_image_tensor")
            self.inference = tf.function(self._inference, input_signature=[spec])

    def _inference_on_pixels(self, input: tf.Tensor) -> tuple:  # noqa: A002 (the OD API's input name)
        preprocessed, shapes = self.model.preprocess(input)
        # The OD API's CenterNet module returns its outputs reversed: count, scores, classes, boxes.
        return self._detect(preprocessed, shapes)[::-1]

    def _inference(self, normalized_input_image_tensor: tf.Tensor) -> tuple:
        return self._detect(normalized_input_image_tensor, tf.constant([[self.height, self.width, 3]], tf.int32))

    def _detect(self, preprocessed: tf.Tensor, shapes: tf.Tensor) -> tuple:
        """(boxes, classes, scores, num_detections) as float32."""
        detections = self.model.postprocess(self.model.predict(preprocessed, shapes), shapes)
        return (tf.cast(detections[results.detection_boxes], tf.float32),
                tf.cast(detections[results.detection_classes], tf.float32),
                tf.cast(detections[results.detection_scores], tf.float32),
                tf.cast(detections[results.num_detections], tf.float32))


def export_tflite(configs: dict, trained_checkpoint_dir: str, output_directory: str) -> str:
    """Writes output_directory/model.tflite (and the SavedModel it came from, output_directory/saved_model);
    returns the .tflite path."""
    height, width = _fixed_input_size(configs["model"])
    model, status, prefix = build_and_restore(configs, trained_checkpoint_dir)
    module = TFLiteDetectionModule(model, height, width,
                                   center_net=configs["model"].WhichOneof("model") == "center_net")
    concrete = while_restoring(module.inference.get_concrete_function, prefix)
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
