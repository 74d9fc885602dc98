"""SavedModel export (the OD API's exporter_lib_v2): output_directory/{saved_model, checkpoint, pipeline.config}.

The serving signature 'serving_default' takes `input_tensor` as the OD API's input types do and returns the
postprocessed detections, classes shifted to label-map ids (+1) and every output cast to float32, as there.
"""
from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Optional

import tensorflow as tf

from tfsynth.builders import model_builder
from tfsynth.core.standard_fields import DetectionResultFields as results
from tfsynth.core.standard_fields import TfExampleFields
from tfsynth.export import INPUT_TYPES
from tfsynth.training import checkpoints
from tfsynth.utils.checkpoint_fit import first_line
from tfsynth.utils import config_io
LABEL_ID_OFFSET = 1


def _decode_image(encoded: tf.Tensor) -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _decode_example(serialized: tf.Tensor) -> tf.Tensor:
    parsed = tf.io.parse_single_example(
        serialized, {TfExampleFields.image_encoded: tf.io.FixedLenFeature([], tf.string)})
    return _decode_image(parsed[TfExampleFields.image_encoded])


class DetectionInferenceModule(tf.Module):
    """Wraps a DetectionModel (built with is_training=False) for serving one input type."""

    def __init__(self, detection_model: Any, input_type: str = "image_tensor"):
        super().__init__()
        if input_type not in INPUT_TYPES:
            raise ValueError(f"--input_type {input_type!r}: expected one of {', '.join(INPUT_TYPES)}")
        self.model = detection_model
        self.input_type = input_type

    def run_on_images(self, images: tf.Tensor) -> dict:
        """uint8 / float [1, H, W, 3] images -> detections dict (float32 values, 1-based classes)."""
        preprocessed, true_shapes = self.model.preprocess(tf.cast(images, tf.float32))
        predictions = self.model.predict(preprocessed, true_shapes)
        detections = dict(self.model.postprocess(predictions, true_shapes))
        detections[results.detection_classes] = tf.cast(detections[results.detection_classes], tf.float32) \
            + LABEL_ID_OFFSET
        return {key: tf.cast(value, tf.float32) for key, value in detections.items()}

    def signature(self) -> Any:
        """The serving tf.function for this input type (the OD API's input names and shapes)."""
        if self.input_type == "image_tensor":
            spec = tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")
            return tf.function(lambda input_tensor: self.run_on_images(input_tensor), input_signature=[spec])
        if self.input_type == "float_image_tensor":
            spec = tf.TensorSpec([1, None, None, 3], tf.float32, name="input_tensor")
            return tf.function(lambda input_tensor: self.run_on_images(input_tensor), input_signature=[spec])
        decode = _decode_image if self.input_type == "encoded_image_string_tensor" else _decode_example
        spec = tf.TensorSpec([1], tf.string, name="input_tensor")
        return tf.function(lambda input_tensor: self.run_on_images(
            tf.map_fn(decode, input_tensor, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))),
            input_signature=[spec])


def build_and_restore(configs: dict, trained_checkpoint_dir: str) -> Any:
    """The inference model of configs with the newest checkpoint of trained_checkpoint_dir restored (deferred:
    the variables are filled as tracing creates them; check_restored then says whether they all fit)."""
    prefix = checkpoints.resolve_checkpoint_path(trained_checkpoint_dir, "--trained_checkpoint_dir")
    checkpoints.read_checkpoint_shapes(prefix, "--trained_checkpoint_dir")  # an unreadable index is named now
    model = model_builder.build(configs["model"], is_training=False)
    status = while_restoring(lambda: tf.train.Checkpoint(model=model).restore(prefix).expect_partial(), prefix)
    return model, status, prefix


def while_restoring(trace: Any, prefix: str) -> Any:
    """Runs trace(): the restore itself, or tracing, which creates the variables that the deferred restore then
    fills. A checkpoint variable of another shape (another backbone) fails inside TensorFlow's restore there, a
    data file cut short as an IndexError naming no file: each is said as what it is, naming the checkpoint."""
    try:
        return trace()
    except ValueError as error:
        if "when attempting to restore" not in str(error):
            raise
        raise checkpoints.CheckpointMismatchError(
            f"checkpoint {prefix} does not fit the model built from --pipeline_config_path "
            f"({first_line(error, 'when attempting to restore')}).\n{_MISFIT_HINT}") from None
    except (tf.errors.OpError, IndexError) as error:
        raise checkpoints.unreadable_values("--trained_checkpoint_dir", prefix, error) from None


_MISFIT_HINT = checkpoints.misfit_hint("--pipeline_config_path")


def check_restored(model: Any, status: Any, prefix: str) -> None:
    """Raises CheckpointMismatchError unless every variable of the traced model found its value in the checkpoint
    with its own shape. A deferred restore skips a variable created with another shape without a word (e.g. a
    class head for another num_classes), so the export would hold its initial values: the checkpoint's keys and
    shapes are compared with the model's first."""
    try:
        checkpoints.check_checkpoint_fits({"model": model}, prefix)
    except checkpoints.CheckpointMismatchError as mismatch:
        raise checkpoints.CheckpointMismatchError(f"{mismatch}\n{_MISFIT_HINT}") from None
    status.assert_existing_objects_matched()


def export_inference_graph(input_type: str, configs: dict, trained_checkpoint_dir: str, output_directory: str,
                           use_side_inputs: bool = False) -> str:
    """Writes output_directory/saved_model, output_directory/checkpoint/ckpt-0 and output_directory/pipeline.config.

    Returns the SavedModel folder. The output is built in a temporary folder and renamed when complete.
    """
    if use_side_inputs:
        raise ValueError("--use_side_inputs is not supported")
    model, status, prefix = build_and_restore(configs, trained_checkpoint_dir)
    module = DetectionInferenceModule(model, input_type)
    serving = module.signature()
    concrete = while_restoring(serving.get_concrete_function, prefix)  # creates the variables, restores them
    # As the OD API's modules: the loaded SavedModel is callable, `detect_fn(input_tensor)` as in its tutorials,
    # besides its 'serving_default' signature.
    module.__call__ = serving
    check_restored(model, status, prefix)
    staging = output_directory.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(staging, "checkpoint"),
                                         max_to_keep=1)
    manager.save(checkpoint_number=0)
    tf.saved_model.save(module, os.path.join(staging, "saved_model"), signatures={"serving_default": concrete})
    config_io.save_pipeline_config(config_io.create_pipeline_proto_from_configs(configs), staging)
    os.makedirs(output_directory, exist_ok=True)
    for name in ("saved_model", "checkpoint", "pipeline.config"):
        target = os.path.join(output_directory, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
        os.replace(os.path.join(staging, name), target)
    shutil.rmtree(staging, ignore_errors=True)
    logging.info("Exported %s (%s) to %s", prefix, input_type, output_directory)
    return os.path.join(output_directory, "saved_model")
