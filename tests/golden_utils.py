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


def saved_checkpoint_keys(model, folder: pathlib.Path) -> dict:
    """The model/... keys and shapes of tf.train.Checkpoint(model=model) saved into folder: what the OD API's
    checkpoints must hold for its checkpoints to restore into the model (and the model's into the OD API)."""
    path = tf.train.Checkpoint(model=model).save(str(folder / "ckpt"))
    return {name: shape for name, shape in tf.train.list_variables(path) if name.startswith("model/")}


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


# The batch and groundtruth of the OD API loss references (made with the real API's model.loss on the golden
# weights, inference mode): the reference image and its mirror image; boxes normalized to the network input,
# passed to provide_groundtruth as they are; classes 0-based among 3.
LOSS_REFERENCE_BOXES = [[[0.10, 0.10, 0.60, 0.45], [0.50, 0.55, 0.95, 0.90], [0.20, 0.70, 0.35, 0.80]],
                        [[0.30, 0.20, 0.70, 0.60]]]
LOSS_REFERENCE_CLASSES = [[0, 2, 1], [1]]


def loss_on_reference_batch(model, image: np.ndarray) -> dict:
    """model.loss on [image, image mirrored left-right] with LOSS_REFERENCE_BOXES / _CLASSES: {name: float}."""
    images = tf.constant(np.stack([image, np.fliplr(image)]).astype(np.float32))
    images, shapes = model.preprocess(images)
    model.provide_groundtruth(
        groundtruth_boxes_list=[tf.constant(boxes, tf.float32) for boxes in LOSS_REFERENCE_BOXES],
        groundtruth_classes_list=[tf.one_hot(classes, 3) for classes in LOSS_REFERENCE_CLASSES])
    return {name: float(value) for name, value in model.loss(model.predict(images, shapes), shapes).items()}


def reference_image() -> np.ndarray:
    """The goldens' input: RandomState(0) uint8 noise, 480 x 640 x 3, smoothed by a 9 x 9 box filter per channel
    (edges mirrored, as scipy.ndimage.uniform_filter's mode 'reflect'), rounded to uint8."""
    noise = np.random.RandomState(0).randint(0, 256, (480, 640, 3)).astype(np.float64)
    padded = np.pad(noise, ((4, 4), (4, 4), (0, 0)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (9, 9), axis=(0, 1))
    return np.clip(np.rint(windows.mean(axis=(-2, -1))), 0, 255).astype(np.uint8)


def randomize_like_the_goldens(model, gain: float = 2.0) -> None:
    """Overwrites every variable, in model.variables order, from RandomState(0): kernels N(0, sqrt(gain / fan_in)),
    depthwise kernels N(0, sqrt(gain / (kh * kw))), biases, beta and moving means N(0, 0.1), gamma U(0.5, 1),
    moving variances U(1, 2), BiFPN combine weights U(0.5, 1.5)."""
    draws = np.random.RandomState(0)
    for variable in model.variables:
        leaf = variable.name.split("/")[-1].split(":")[0]
        shape = variable.shape.as_list()
        if leaf in ("kernel", "pointwise_kernel"):
            value = draws.normal(0.0, np.sqrt(gain / np.prod(shape[:-1])), shape)
        elif leaf == "depthwise_kernel":
            value = draws.normal(0.0, np.sqrt(gain / (shape[0] * shape[1])), shape)
        elif leaf in ("bias", "beta", "moving_mean"):
            value = draws.normal(0.0, 0.1, shape)
        elif leaf == "gamma":
            value = draws.uniform(0.5, 1.0, shape)
        elif leaf == "moving_variance":
            value = draws.uniform(1.0, 2.0, shape)
        elif leaf == "bifpn_combine_weights":
            value = draws.uniform(0.5, 1.5, shape)
        else:
            raise AssertionError(f"no rule for variable {variable.name}")
        variable.assign(value.astype(variable.dtype.as_numpy_dtype))


# The SSD goldens' tolerance: within 1e-4 + 1e-5 * |expected| of the real OD API's values.
ATOL, RTOL = 1e-4, 1e-5


def assert_fingerprints_match(outputs: dict, reference: dict) -> None:
    """Every output fingerprinted in reference (tests/data/*_od_api.json): its shape, its sampled values, and its sum
    and sum of squares (a difference anywhere in the map, not only at the sampled places); the true image shapes."""
    assert outputs["true_image_shapes"].tolist() == reference["true_image_shapes"]
    for name, expected in reference["fingerprints"].items():
        ours = outputs[name].astype(np.float64)
        assert list(ours.shape) == expected["shape"], name
        np.testing.assert_allclose(ours.ravel()[expected["indices"]], expected["values"], rtol=RTOL, atol=ATOL,
                                   err_msg=name)
        np.testing.assert_allclose(ours.sum(), expected["sum"], rtol=1e-5, atol=ATOL * np.sqrt(ours.size),
                                   err_msg=name)
        np.testing.assert_allclose((ours ** 2).sum(), expected["sum_of_squares"], rtol=1e-5, err_msg=name)
