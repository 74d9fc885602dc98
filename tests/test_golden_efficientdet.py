"""EfficientDet D0 against the real OD API, without its 22 MB checkpoint in the repository.

tests/data/efficientdet_d0_od_api.json (made by tests/data/make_od_api_reference.py from a golden folder the
real OD API wrote) holds the OD API's model variables (names, shapes, trainable, order), its checkpoint keys and a
fingerprint of its outputs for the goldens' recipe: every variable overwritten in model.variables order from
numpy RandomState(0) (randomize_like_the_goldens), run on the goldens' smoothed-noise image. Since the variable
order is checked first, the same recipe gives tfsynth's model the same weights, so its outputs must match the
fingerprint: within 1e-4 + 1e-5 * |expected| (the SSD goldens' tolerance), the same 100 detections.

Built from the OD API's sample config in ../shared (num_classes set to 3, as the golden was); a missing sample
fails the test, never skips it.
"""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

from tfsynth.builders import model_builder
from tfsynth.models.bifpn import BiFpnCombine, bifpn_nodes
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA

from tests.golden_utils import (ATOL, RTOL, assert_fingerprints_match, loss_on_reference_batch,
                                randomize_like_the_goldens, reference_image, run_and_flatten, saved_checkpoint_keys)

REFERENCE = pathlib.Path(__file__).parent / "data" / "efficientdet_d0_od_api.json"
SAMPLE_CONFIG = SHARED_DATA / "odapi_reference/configs_tf2/ssd_efficientdet_d0_512x512_coco17_tpu-8.config"


def build_d0(is_training: bool = False):
    assert SAMPLE_CONFIG.is_file(), f"OD API sample config missing: {SAMPLE_CONFIG}"
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(SAMPLE_CONFIG.read_text(), config)
    config.model.ssd.num_classes = 3
    keras.backend.clear_session()  # fresh layer-name counters, so variable names are the OD API's
    return model_builder.build(config.model, is_training=is_training)


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def d0_run():
    model = build_d0()
    images, shapes = model.preprocess(tf.zeros([1, 480, 640, 3]))
    model.postprocess(model.predict(images, shapes), shapes)  # creates every variable
    variables = [(v.name, v.shape.as_list(), v.trainable) for v in model.variables]
    randomize_like_the_goldens(model)
    return model, variables, run_and_flatten(model, tf.constant(reference_image()[None].astype(np.float32)))


def test_variables_have_the_od_api_names_shapes_and_order(d0_run, reference):
    _, variables, _ = d0_run
    assert variables == [tuple(entry) for entry in reference["model_variables"]]


def test_saved_checkpoint_has_the_od_api_keys(d0_run, reference, tmp_path):
    """The keys of the OD API's checkpoint, so an OD API EfficientDet D0 checkpoint restores (and ours into it)."""
    model, _, _ = d0_run
    assert saved_checkpoint_keys(model, tmp_path) == reference["checkpoint_variables"]


def test_outputs_match_the_od_api(d0_run, reference):
    _, _, outputs = d0_run
    assert_fingerprints_match(outputs, reference)
    assert float(outputs["num_detections"][0]) == reference["num_detections"]
    # The same detections; scores tie exactly in places, and another CPU may order ties otherwise: compare by anchor.
    theirs = reference["detections"]
    ours_by_anchor = {int(anchor): index for index, anchor in enumerate(outputs["detection_anchor_indices"][0])}
    assert set(ours_by_anchor) == set(theirs["detection_anchor_indices"])
    for position, anchor in enumerate(theirs["detection_anchor_indices"]):
        index = ours_by_anchor[anchor]
        np.testing.assert_allclose(outputs["detection_boxes"][0, index], theirs["detection_boxes"][position],
                                   rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(outputs["detection_scores"][0, index], theirs["detection_scores"][position],
                                   rtol=RTOL, atol=ATOL)
        assert outputs["detection_classes"][0, index] == theirs["detection_classes"][position]


def test_loss_matches_the_od_api(d0_run):
    """The loss of the same weights for a two-image batch with four boxes: the real OD API's model.loss gave these
    (focal loss with alpha 0.25 and gamma 1.5, no background class, smooth L1 normalized by code size and by the
    147 matched anchors)."""
    model, _, _ = d0_run
    losses = loss_on_reference_batch(model, reference_image())
    np.testing.assert_allclose(losses["Loss/localization_loss"], 0.7567901015281677, rtol=1e-5)
    np.testing.assert_allclose(losses["Loss/classification_loss"], 418.51177978515625, rtol=1e-5)


def test_bifpn_nodes_are_efficientdets():
    """Levels 6 and 7 pooled from 5, then per pass top-down 6..3 and bottom-up 4..7; outputs the last pass's."""
    nodes = bifpn_nodes(num_iterations=3, min_level=3, max_level=7, input_max_level=5)
    assert len(nodes) == 2 + 3 * 8
    by_name = {node.name: node for node in nodes}
    assert by_name["0_up_lvl_6"].inputs == ("0_up_lvl_5",) and by_name["0_up_lvl_7"].inputs == ("0_up_lvl_6",)
    assert by_name["1_dn_lvl_6"].inputs == ("0_up_lvl_6", "0_up_lvl_7")
    assert by_name["1_dn_lvl_3"].inputs == ("0_up_lvl_3", "1_dn_lvl_4")
    assert by_name["2_dn_lvl_3"].inputs == ("1_dn_lvl_3", "2_dn_lvl_4")  # no bottom-up node at the finest level
    assert by_name["1_up_lvl_4"].inputs == ("0_up_lvl_4", "1_dn_lvl_4", "1_dn_lvl_3")
    assert by_name["3_up_lvl_7"].inputs == ("2_up_lvl_7", "3_up_lvl_6")
    assert [node.name for node in nodes[-5:]] == ["3_dn_lvl_3", "3_up_lvl_4", "3_up_lvl_5", "3_up_lvl_6",
                                                  "3_up_lvl_7"]


@pytest.mark.parametrize("method, weights, expected", [
    ("fast_attention", [1.0, 1.0], [3.0 / 2.0001, 5.0 / 2.0001]),
    ("fast_attention", [-1.0, 2.0], [2.0 * 2.0 / 2.0001, 2.0 * 3.0 / 2.0001]),  # negative weights count as 0
    ("weighted_sum", [-1.0, 2.0], [-1.0 + 4.0, -2.0 + 6.0]),
    # The OD API's softmax runs over the [inputs, 1] weights' last axis, of size 1: every weight becomes 1, a plain
    # sum. Kept, so that its 'attention' checkpoints compute what they computed there.
    ("attention", [0.0, np.log(3.0)], [3.0, 5.0]),
    ("sum", None, [3.0, 5.0]),
])
def test_combine_methods(method, weights, expected):
    combine = BiFpnCombine(method)
    first, second = tf.constant([[1.0, 2.0]]), tf.constant([[2.0, 3.0]])
    combine([first, second])
    if weights is not None:
        combine.per_input_weights.assign(np.array(weights, np.float32)[:, None])
    np.testing.assert_allclose(combine([first, second]).numpy()[0], expected, rtol=1e-5)


def test_trains_every_bifpn_and_head_layer():
    """One training loss's gradient reaches every BiFPN and box predictor variable (a node left out of the graph,
    or a combine weight that never trains, would have none), and moves every BiFPN variable. (The box tower's
    per-level batch norm of a level where no anchor matched has a gradient of exactly zero: only matched anchors
    have a localization loss.)"""
    model = build_d0(is_training=True)
    images, shapes = model.preprocess(tf.random.uniform([2, 256, 256, 3], 0, 255, seed=1))
    model.provide_groundtruth(groundtruth_boxes_list=[tf.constant([[0.1, 0.1, 0.6, 0.5]]),
                                                      tf.constant([[0.3, 0.4, 0.9, 0.9]])],
                              groundtruth_classes_list=[tf.one_hot([0], 3), tf.one_hot([2], 3)])
    with tf.GradientTape() as tape:
        losses = model.loss(model.predict(images, shapes), shapes)
        total = tf.add_n(list(losses.values()))
    variables = [v for v in model.trainable_variables if "bifpn" in v.name or "BoxPredictor" in v.name]
    gradients = tape.gradient(total, variables)
    assert np.isfinite(total.numpy())
    assert not [v.name for v, g in zip(variables, gradients) if g is None]
    still = [v.name for v, g in zip(variables, gradients) if "bifpn" in v.name and not np.any(g.numpy())]
    assert not still, still


@pytest.mark.parametrize("edit, message", [
    (lambda extractor: setattr(extractor, "depth_multiplier", 0.5), "feature_extractor.depth_multiplier = 0.5"),
    (lambda extractor: setattr(extractor, "use_depthwise", True), "feature_extractor.use_depthwise"),
    (lambda extractor: setattr(extractor.bifpn, "min_level", 6), "feature_extractor.bifpn.min_level = 6"),
])
def test_settings_efficientdet_does_not_take_are_refused_by_name(edit, message):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(SAMPLE_CONFIG.read_text(), config)
    edit(config.model.ssd.feature_extractor)
    with pytest.raises(ValueError, match=message):
        model_builder.build(config.model, is_training=False)


def test_image_sides_that_the_bifpn_cannot_add_are_refused_with_the_fix():
    model = build_d0()
    with pytest.raises(ValueError, match="multiples of 128"):
        model.predict(tf.zeros([1, 160, 160, 3]), tf.constant([[160, 160, 3]]))
