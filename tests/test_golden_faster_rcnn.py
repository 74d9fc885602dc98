"""Golden check: tfsynth's Faster R-CNN ResNet50, built from the OD API reference pipeline.config, restores the OD
API's TF2 checkpoint (object-based keys, every variable) and reproduces the OD API's preprocess / predict /
postprocess outputs for the reference image, within 1e-4 + 1e-5 * |expected|.

The first-stage RPN conv (3x3, 1024 -> 512 channels) sums in another order on this CPU than on the machine that
made the reference (both ~3.5e-5 from a float64 result), and several proposals have objectness scores 1e-7 apart,
so the order of those near-ties can differ. The checks are therefore: every first-stage array end to end; the
second stage and postprocess end to end from the reference's own RPN outputs (every remaining array); and, end to
end, the best 100 proposals and the best detection.
"""
import json

import numpy as np
import pytest
import tensorflow as tf
from tfsynth.utils.shared_data import SHARED_DATA

from tests.golden_utils import build_restored_model, load_reference_image

GOLDEN = SHARED_DATA / "odapi_reference/golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8"

FIRST_STAGE = ["preprocessed_inputs", "true_image_shapes", "rpn_box_predictor_features_0", "rpn_features_to_crop_0",
               "image_shape", "rpn_box_encodings", "rpn_objectness_predictions_with_background", "anchors",
               "feature_maps_0"]


def _flatten_lists(outputs: dict) -> dict:
    for key in [k for k, v in outputs.items() if isinstance(v, (list, tuple))]:
        for index, value in enumerate(outputs.pop(key)):
            outputs[f"{key}_{index}"] = value
    return {k: np.asarray(v) for k, v in outputs.items()}


def _assert_close(name: str, actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, expected {expected.shape}"
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = 1e-4 + 1e-5 * np.abs(expected.astype(np.float64))
    assert np.all(difference <= bound), f"{name}: max difference {difference.max()}"


@pytest.fixture(scope="module")
def golden_run():
    model = build_restored_model(GOLDEN)
    expected = np.load(GOLDEN / "expected.npz")
    images, shapes = model.preprocess(load_reference_image(GOLDEN))
    predictions = model.predict(images, shapes)
    detections = model.postprocess(predictions, shapes)
    end_to_end = _flatten_lists({"preprocessed_inputs": images, "true_image_shapes": shapes, **predictions,
                                 **detections})
    # Second stage from the reference's own RPN outputs (same features to crop and anchors as ours).
    second = model._predict_second_stage(  # pylint: disable=protected-access
        tf.constant(expected["rpn_box_encodings"]), tf.constant(expected["rpn_objectness_predictions_with_background"]),
        predictions["rpn_features_to_crop"], predictions["anchors"], predictions["image_shape"], shapes)
    from_reference_rpn = _flatten_lists({**second, **model.postprocess(second, shapes)})
    return model, expected, end_to_end, from_reference_rpn


def test_variables_have_the_od_api_names_shapes_and_order(golden_run):
    model = golden_run[0]
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    trainable = {id(v) for v in model.trainable_variables}
    ours = [[v.name, v.shape.as_list(), id(v) in trainable] for v in model.variables]
    assert ours == manifest["model_variables"]
    assert sum(int(np.prod(v.shape)) for v in model.variables) == manifest["total_params"]


def test_checkpoint_is_fully_consumed(golden_run):
    model = golden_run[0]
    tf.train.Checkpoint(model=model).restore(str(GOLDEN / "checkpoint" / "ckpt-0")).assert_consumed()


def test_first_stage_matches_end_to_end(golden_run):
    _, expected, end_to_end, _ = golden_run
    for name in FIRST_STAGE:
        _assert_close(name, end_to_end[name], expected[name])


def test_second_stage_and_postprocess_match_from_the_reference_rpn_outputs(golden_run):
    _, expected, _, from_reference_rpn = golden_run
    remaining = [name for name in expected.files if name not in FIRST_STAGE]
    assert set(remaining) <= set(from_reference_rpn)
    for name in remaining:
        _assert_close(name, from_reference_rpn[name], expected[name])


def test_best_proposals_and_detection_match_end_to_end(golden_run):
    """End to end, the first 100 proposals (before near-tied scores reorder, at 139 on this CPU) and the best
    detection agree with the reference."""
    _, expected, end_to_end, _ = golden_run
    _assert_close("proposal_boxes[:100]", end_to_end["proposal_boxes"][0, :100], expected["proposal_boxes"][0, :100])
    assert abs(int(end_to_end["num_proposals"][0]) - int(expected["num_proposals"][0])) <= 10
    _assert_close("num_detections", end_to_end["num_detections"], expected["num_detections"])
    _assert_close("best detection box", end_to_end["detection_boxes"][0, 0], expected["detection_boxes"][0, 0])
