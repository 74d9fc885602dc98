"""Golden check: tfsynth's SSD MobileNetV2, built from the OD API reference pipeline.config, restores the OD API's
TF2 checkpoint (object-based keys, every variable) and reproduces the OD API's preprocess / predict / postprocess
outputs for the reference image."""
import json

import numpy as np
import pytest
import tensorflow as tf
from tfsynth.utils.shared_data import SHARED_DATA

from tests.golden_utils import build_restored_model, load_reference_image

GOLDEN = SHARED_DATA / "odapi_reference/golden/ssd_mobilenet_v2_320x320_coco17_tpu-8"


@pytest.fixture(scope="module")
def golden_run():
    model = build_restored_model(GOLDEN)
    images, shapes = model.preprocess(load_reference_image(GOLDEN))
    predictions = model.predict(images, shapes)
    detections = model.postprocess(predictions, shapes)
    outputs = {"true_image_shapes": shapes, **predictions, **detections}
    for index, feature_map in enumerate(outputs.pop("feature_maps")):
        outputs[f"feature_maps_{index}"] = feature_map
    return model, {k: np.asarray(v) for k, v in outputs.items()}


def test_variables_have_the_od_api_names_shapes_and_order(golden_run):
    model, _ = golden_run
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    expected = [(name, shape, trainable) for name, shape, trainable in manifest["model_variables"]]
    trainable = {id(v) for v in model.trainable_variables}
    ours = [(v.name, v.shape.as_list(), id(v) in trainable) for v in model.variables]
    assert ours == expected


def test_checkpoint_is_fully_consumed(golden_run):
    model, _ = golden_run
    status = tf.train.Checkpoint(model=model).restore(str(GOLDEN / "checkpoint" / "ckpt-0"))
    status.assert_consumed()


def test_outputs_match_the_od_api(golden_run):
    _, outputs = golden_run
    expected = np.load(GOLDEN / "expected.npz")
    assert set(expected.files) <= set(outputs)
    for name in expected.files:
        ours, theirs = outputs[name], expected[name]
        assert ours.shape == theirs.shape, name
        assert ours.dtype == theirs.dtype, name
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4, err_msg=name)
    # Faithful NMS: the same detections in the same order.
    np.testing.assert_array_equal(outputs["detection_anchor_indices"], expected["detection_anchor_indices"])
    np.testing.assert_array_equal(outputs["detection_classes"], expected["detection_classes"])
