"""Each architecture the studies train learns: on one fixed batch its detection loss falls.

The golden tests check the forward pass against the OD API and the train-loop tests check the loop's bookkeeping,
but neither would notice a model whose gradients do not reach its weights (a head cut off from the loss, a
variable left out of the trainable set, a loss that ignores its targets). Here the project's own fridge configs
(SSDLite MobileNetV2, SSD MobileNetV2 FPNLite, Faster R-CNN ResNet50), shrunk to train in seconds and started
from random weights as the architecture study's rows without a COCO checkpoint are, fit one batch of the tiny
synthetic scenes: the loss (regularization excluded) must fall well below where it started.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from google.protobuf import text_format

from tfsynth.builders import model_builder
from tfsynth.core import model_step
from tfsynth.core.standard_fields import InputDataFields as fields
from tfsynth.protos import pipeline_pb2
from tests.train_fixtures import scene, shrink_faster_rcnn

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
NUM_CLASSES = 2
BATCH = 4


def _model_config(name: str, size: int):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge((CONFIGS / name).read_text(), config)
    model = config.model
    meta = getattr(model, model.WhichOneof("model"))
    meta.num_classes = NUM_CLASSES
    if model.WhichOneof("model") == "ssd":
        meta.image_resizer.fixed_shape_resizer.height = size
        meta.image_resizer.fixed_shape_resizer.width = size
        meta.feature_extractor.depth_multiplier = 0.35  # small and fast; the structure is the config's
    else:
        shrink_faster_rcnn(meta, size)
    return model


def _batch(size: int) -> tuple[dict, dict]:
    """The first BATCH tiny scenes, resized to size x size and scaled to [-1, 1], with their ground truth padded
    to two boxes (weights 0 on padding)."""
    images, boxes, classes, weights, counts = [], [], [], [], []
    for index in range(BATCH):
        image, image_boxes, image_classes = scene(index)
        images.append(tf.image.resize(tf.constant(image, tf.float32), [size, size]) / 127.5 - 1.0)
        count = len(image_boxes)
        counts.append(count)
        boxes.append(np.concatenate([image_boxes, np.zeros((2 - count, 4), np.float32)]))
        classes.append(np.concatenate([np.eye(NUM_CLASSES, dtype=np.float32)[image_classes - 1],
                                       np.zeros((2 - count, NUM_CLASSES), np.float32)]))
        weights.append([1.0] * count + [0.0] * (2 - count))
    features = {fields.image: tf.stack(images),
                fields.true_image_shape: tf.constant([[size, size, 3]] * BATCH, tf.int32)}
    labels = {fields.groundtruth_boxes: tf.constant(np.stack(boxes)),
              fields.groundtruth_classes: tf.constant(np.stack(classes)),
              fields.groundtruth_weights: tf.constant(weights, tf.float32),
              fields.num_groundtruth_boxes: tf.constant(counts, tf.int32)}
    return features, labels


def _detection_losses(name: str, size: int, steps: int, learning_rate: float) -> list[float]:
    """The loss (regularization excluded) at each of `steps` momentum-SGD steps on one fixed batch."""
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(0)
    model = model_builder.build(_model_config(name, size), is_training=True)
    features, labels = _batch(size)
    optimizer = tf_keras.optimizers.SGD(learning_rate, momentum=0.9)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            losses, _ = model_step.compute_losses(model, features, labels, add_regularization_loss=False,
                                                  unpad_groundtruth_tensors=True)
        gradients = tape.gradient(losses["Loss/total_loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return losses["Loss/total_loss"]

    return [float(train_step()) for _ in range(steps)]


@pytest.mark.parametrize("name, size, steps, learning_rate", [
    # Measured from these seeds: SSDLite 11.8 -> 7.8, FPNLite 1.8 -> 0.5, Faster R-CNN 2.3 -> under 0.1.
    ("ssdlite_fridge_quick.config", 128, 60, 0.03),
    ("ssd_mobilenet_v2_fpnlite_fridge.config", 128, 60, 0.03),
    # A random ResNet50 with frozen (identity) batch norm diverges above ~0.003 after 30 steps; 0.001 is stable.
    pytest.param("faster_rcnn_resnet50_fridge.config", 128, 25, 0.001, marks=pytest.mark.slow),
])
def test_each_architecture_fits_one_batch(name, size, steps, learning_rate):
    losses = _detection_losses(name, size, steps, learning_rate)
    assert all(np.isfinite(losses)), f"{name}: non-finite loss {losses}"
    # The median of the last steps: Faster R-CNN's second stage samples its proposals at random, so one step's
    # loss can jump when a new proposal is drawn.
    start, end = losses[0], float(np.median(losses[-5:]))
    # A model that learns nothing stays within noise of its start (a few %); these fall by a third or more.
    assert end < 0.8 * start, f"{name}: loss {start:.3f} -> {end:.3f} after {steps} steps on one batch"
