"""Shared by the golden tests: the OD API reference model built from its pipeline.config with its TF2 checkpoint
restored, and the reference input image."""
import pathlib

import numpy as np
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2


def build_restored_model(golden: pathlib.Path):
    """The model of golden/pipeline.config (inference mode), every variable created by one 480x640 pass, then
    restored from golden/checkpoint/ckpt-0; fails unless every object of the model matched the checkpoint."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge((golden / "pipeline.config").read_text(), config)
    keras.backend.clear_session()  # fresh layer-name counters, so variable names are the OD API's
    model = model_builder.build(config.model, is_training=False)
    images, shapes = model.preprocess(tf.zeros([1, 480, 640, 3]))
    model.postprocess(model.predict(images, shapes), shapes)
    status = tf.train.Checkpoint(model=model).restore(str(golden / "checkpoint" / "ckpt-0"))
    status.assert_existing_objects_matched()
    return model


def load_reference_image(golden: pathlib.Path) -> tf.Tensor:
    """golden/input_image.npy as a float32 batch of one."""
    return tf.constant(np.load(golden / "input_image.npy")[None].astype(np.float32))


def run_and_flatten(model, images: tf.Tensor) -> dict:
    """preprocess / predict / postprocess of `images`, as the goldens' expected.npz stores them: every output by its
    name, feature_maps as feature_maps_<i>, numpy arrays."""
    images, shapes = model.preprocess(images)
    predictions = model.predict(images, shapes)
    detections = model.postprocess(predictions, shapes)
    outputs = {"true_image_shapes": shapes, **predictions, **detections}
    for index, feature_map in enumerate(outputs.pop("feature_maps")):
        outputs[f"feature_maps_{index}"] = feature_map
    return {name: np.asarray(value) for name, value in outputs.items()}
