"""Faster R-CNN Inception-ResNet-v2 against the real OD API, without its 238 MB checkpoint in the repository.

tests/data/faster_rcnn_inception_resnet_v2_od_api.json (made by tests/data/make_od_api_reference.py from a golden
folder the real OD API wrote, from the Zoo's faster_rcnn_inception_resnet_v2_640x640_coco17_tpu-8 config with
num_classes 3) holds the OD API's model variables (names, shapes, trainable, order), its checkpoint keys, a
fingerprint of its first-stage outputs, its 300 proposals and a fingerprint of its second stage run on them, for
the goldens' recipe (every variable overwritten in model.variables order from numpy RandomState(0), gain 1, run on
the goldens' smoothed-noise image). The variable order is checked first, so the same recipe gives tfsynth's model
the OD API's weights. As in tests/test_golden_faster_rcnn.py, the second stage runs from the reference's own
proposals: CPUs may order near-tied proposals differently.

The config is the OD API's Mask R-CNN Inception-ResNet-v2 sample in ../shared with its mask settings removed and
a 640 keep-aspect resizer, padded (the Zoo's own Faster R-CNN config could not be fetched here; the golden was
made from the same derivation); a missing sample fails the test, never skips it.
"""
import json
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA

from tests.golden_utils import (ATOL, RTOL, assert_fingerprints_match, randomize_like_the_goldens, reference_image,
                                saved_checkpoint_keys)
from tests.train_fixtures import shrink_faster_rcnn

REFERENCE = pathlib.Path(__file__).parent / "data" / "faster_rcnn_inception_resnet_v2_od_api.json"
MASK_RCNN_SAMPLE = SHARED_DATA / "odapi_reference/configs_tf2/mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8.config"


def faster_rcnn_config_from_the_mask_rcnn_sample() -> pipeline_pb2.TrainEvalPipelineConfig:
    """A Faster R-CNN Inception-ResNet-v2 640 model: the Mask R-CNN sample without masks, resized to 640."""
    assert MASK_RCNN_SAMPLE.is_file(), f"OD API sample config missing: {MASK_RCNN_SAMPLE}"
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(MASK_RCNN_SAMPLE.read_text(), config)
    frcnn = config.model.faster_rcnn
    frcnn.number_of_stages = 2
    frcnn.num_classes = 3
    frcnn.image_resizer.keep_aspect_ratio_resizer.SetInParent()
    resizer = frcnn.image_resizer.keep_aspect_ratio_resizer
    resizer.min_dimension, resizer.max_dimension, resizer.pad_to_max_dimension = 640, 640, True
    predictor = frcnn.second_stage_box_predictor.mask_rcnn_box_predictor
    for field in ("predict_instance_masks", "mask_height", "mask_width", "mask_prediction_conv_depth",
                  "mask_prediction_num_conv_layers", "conv_hyperparams"):
        predictor.ClearField(field)
    frcnn.ClearField("second_stage_mask_prediction_loss_weight")
    frcnn.ClearField("resize_masks")
    return config


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def irv2_run(reference):
    keras.backend.clear_session()  # fresh layer-name counters, so variable names are the OD API's
    model = model_builder.build(faster_rcnn_config_from_the_mask_rcnn_sample().model, is_training=False)
    images, shapes = model.preprocess(tf.zeros([1, 480, 640, 3]))
    model.postprocess(model.predict(images, shapes), shapes)  # creates every variable
    trainable = {id(v) for v in model.trainable_variables}
    variables = [[v.name, v.shape.as_list(), id(v) in trainable] for v in model.variables]
    randomize_like_the_goldens(model, gain=reference["gain"])
    images, shapes = model.preprocess(tf.constant(reference_image()[None].astype(np.float32)))
    predictions = model.predict(images, shapes)
    outputs = {"preprocessed_inputs": images, "true_image_shapes": shapes,
               "rpn_box_predictor_features_0": predictions["rpn_box_predictor_features"][0],
               "rpn_features_to_crop_0": predictions["rpn_features_to_crop"][0]}
    outputs.update({name: predictions[name] for name in
                    ("rpn_box_encodings", "rpn_objectness_predictions_with_background", "anchors")})
    # The second stage and postprocess from the reference's own proposals (the same features to crop as ours).
    second = model._box_prediction(  # pylint: disable=protected-access
        predictions["rpn_features_to_crop"], tf.constant(reference["proposal_boxes_normalized"]),
        predictions["image_shape"])
    second["num_proposals"] = tf.constant(reference["num_proposals"])
    outputs.update(second)
    outputs.update(model.postprocess(second, shapes))
    return model, variables, {name: np.asarray(value) for name, value in outputs.items()
                              if not isinstance(value, (list, tuple))}


def test_variables_have_the_od_api_names_shapes_and_order(irv2_run, reference):
    _, variables, _ = irv2_run
    assert variables == reference["model_variables"]


def test_saved_checkpoint_has_the_od_api_keys(irv2_run, reference, tmp_path):
    """The keys of the OD API's checkpoint, so the Zoo's checkpoint restores (and ours into the OD API)."""
    model, _, _ = irv2_run
    assert saved_checkpoint_keys(model, tmp_path) == reference["checkpoint_variables"]


def test_outputs_match_the_od_api(irv2_run, reference):
    """Every first-stage output and the second stage's raw boxes and scores (in proposal order) within the goldens'
    tolerance; the detections as a set: with random weights their scores lie within 1e-4 of each other (some tie
    exactly), so which of two near-equal ones comes first is the CPU's rounding."""
    _, _, outputs = irv2_run
    assert_fingerprints_match(outputs, reference)
    assert float(outputs["num_detections"][0]) == reference["num_detections"]
    theirs = {name: np.asarray(values) for name, values in reference["detections"].items()}
    ours = np.concatenate([outputs["detection_boxes"][0], outputs["detection_scores"][0, :, None],
                           outputs["detection_classes"][0, :, None]], axis=1)
    expected = np.concatenate([theirs["detection_boxes"], theirs["detection_scores"][:, None],
                               theirs["detection_classes"][:, None]], axis=1)
    close = np.all(np.abs(ours[:, None, :] - expected[None, :, :]) <= ATOL + RTOL * np.abs(expected[None]), axis=2)
    assert close.any(axis=1).all(), f"our detections {np.nonzero(~close.any(axis=1))[0]} not among the OD API's"
    assert close.any(axis=0).all(), f"the OD API's detections {np.nonzero(~close.any(axis=0))[0]} not among ours"


def test_the_backbone_is_inception_resnet_v2_with_aligned_feature_maps(irv2_run):
    """Stride 16 to block17_20_ac (640 -> 40, 'same' padding everywhere) and 2 more to conv_7b_ac."""
    model, _, outputs = irv2_run
    assert outputs["rpn_features_to_crop_0"].shape == (1, 40, 40, 1088)
    backbone = model.feature_extractor.classification_backbone
    assert backbone.output.shape[-1] == 1536
    names = [layer.name for layer in backbone.layers]
    assert sum(bool(re.fullmatch(r"block(35|17|8)_\d+", name)) for name in names) == 10 + 20 + 10
    assert {"mixed_5b", "mixed_6a", "mixed_7a", "block17_20_ac", "conv_7b_ac"} <= set(names)
    assert all(layer.padding == "same" for layer in backbone.layers if hasattr(layer, "padding"))


def test_first_stage_features_stride_8_is_refused_with_the_reason():
    config = faster_rcnn_config_from_the_mask_rcnn_sample()
    config.model.faster_rcnn.feature_extractor.first_stage_features_stride = 8
    with pytest.raises(ValueError, match="first_stage_features_stride = 8"):
        model_builder.build(config.model, is_training=False)


def _tiny_training_model():
    config = faster_rcnn_config_from_the_mask_rcnn_sample()
    shrink_faster_rcnn(config.model.faster_rcnn, 128)
    keras.backend.clear_session()
    return model_builder.build(config.model, is_training=True)


def test_two_training_steps_move_every_part_and_a_classification_checkpoint_restores(tmp_path):
    """Gradients reach the stem, the block17 repeats, the second-stage layers, the RPN and the box classifier's
    class head (watched rather than its box head: with random weights the sampled proposals may hold no positive
    box, and then the box head rightly gets no gradient); a classification checkpoint of the backbone
    (image -> conv_7b_ac) restores into another model's extractor."""
    tf.random.set_seed(1)
    model = _tiny_training_model()
    image = tf.random.uniform([1, 96, 128, 3], 0, 255, seed=2)
    optimizer = keras.optimizers.SGD(0.01)
    watched = None
    for _ in range(2):
        images, shapes = model.preprocess(image)
        model.provide_groundtruth(groundtruth_boxes_list=[tf.constant([[0.1, 0.1, 0.6, 0.5],
                                                                      [0.4, 0.5, 0.9, 0.95]])],
                                  groundtruth_classes_list=[tf.constant([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])])
        with tf.GradientTape() as tape:
            losses = model.loss(model.predict(images, shapes), shapes)
            total = tf.add_n(list(losses.values()) + model.regularization_losses())
        if watched is None:
            watched = {v.name: v.numpy().copy() for v in model.trainable_variables
                       if v.name.split("/")[0] in ("conv2d", "block17_10_conv", "block8_10_conv", "conv_7b",
                                                   "RPNConv") or "ClassPredictor_dense" in v.name}
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        assert all(np.isfinite(value.numpy()) for value in losses.values())
    assert len(watched) == 10  # the conv2d and conv_7b kernels (no bias: batch norm follows), four with bias
    current = {v.name: v.numpy() for v in model.trainable_variables}
    for name, before in watched.items():
        assert not np.array_equal(before, current[name]), f"{name} did not move"

    path = tf.train.Checkpoint(**model.restore_from_objects("classification")).save(str(tmp_path / "backbone"))
    target = _tiny_training_model()
    images, shapes = target.preprocess(image)
    target.predict(images, shapes)
    tf.train.Checkpoint(**target.restore_from_objects("classification")).restore(path).assert_consumed()
    kernel = [v for v in target.variables if v.name == "conv_7b/kernel:0"][0]
    np.testing.assert_array_equal(kernel.numpy(), current["conv_7b/kernel:0"])
