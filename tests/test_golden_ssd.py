"""Golden check of the SSD goldens in ../shared (SSD MobileNetV2 and SSD MobileNetV2 FPNLite): tfsynth's model,
built from the OD API reference pipeline.config, has the OD API's variables (names, shapes, order), restores the
OD API's TF2 checkpoint (object-based keys, every variable, nothing left over) and reproduces the OD API's
preprocess / predict / postprocess outputs for the reference image within 1e-4 + 1e-5 * |expected|.

A missing golden folder fails these tests (conftest refuses to run without ../shared), it never skips them."""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from tfsynth.utils.shared_data import SHARED_DATA

from tests.golden_utils import build_restored_model, load_reference_image, loss_on_reference_batch, run_and_flatten

GOLDENS = ["ssd_mobilenet_v2_320x320_coco17_tpu-8", "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8"]
ATOL, RTOL = 1e-4, 1e-5


def golden_dir(name: str) -> pathlib.Path:
    """The golden folder of `name` under ../shared; fails (never skips) when it is not there."""
    golden = SHARED_DATA / "odapi_reference/golden" / name
    assert (golden / "manifest.json").is_file(), f"golden reference missing: {golden}"
    return golden


def worst_error_in_tolerances(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / (ATOL + RTOL * |theirs|): at most 1 where assert_allclose(rtol, atol) passes."""
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - theirs) / (ATOL + RTOL * np.abs(theirs))))


@pytest.fixture(scope="module", params=GOLDENS)
def golden_run(request):
    golden = golden_dir(request.param)
    model = build_restored_model(golden)
    return golden, model, run_and_flatten(model, load_reference_image(golden))


def test_variables_have_the_od_api_names_shapes_and_order(golden_run):
    golden, model, _ = golden_run
    manifest = json.loads((golden / "manifest.json").read_text())
    expected = [(name, shape, trainable) for name, shape, trainable in manifest["model_variables"]]
    trainable = {id(v) for v in model.trainable_variables}
    ours = [(v.name, v.shape.as_list(), id(v) in trainable) for v in model.variables]
    assert ours == expected


def test_checkpoint_is_fully_consumed(golden_run):
    golden, model, _ = golden_run
    status = tf.train.Checkpoint(model=model).restore(str(golden / "checkpoint" / "ckpt-0"))
    status.assert_existing_objects_matched()
    status.assert_consumed()  # every checkpoint value found its variable: nothing of the real API's left over


def test_saved_checkpoint_has_the_manifests_keys(golden_run, tmp_path):
    """A checkpoint tfsynth writes holds exactly the OD API's keys and shapes (manifest checkpoint_variables), so it
    restores into the real API too."""
    golden, model, _ = golden_run
    manifest = json.loads((golden / "manifest.json").read_text())
    theirs = {name: shape for name, shape in manifest["checkpoint_variables"] if name.startswith("model/")}
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    ours = {name: shape for name, shape in tf.train.list_variables(path) if name.startswith("model/")}
    assert ours == theirs


def test_outputs_match_the_od_api(golden_run):
    golden, _, outputs = golden_run
    expected = np.load(golden / "expected.npz")
    assert set(expected.files) <= set(outputs)
    worst = {}
    for name in expected.files:
        ours, theirs = outputs[name], expected[name]
        assert ours.shape == theirs.shape, name
        assert ours.dtype == theirs.dtype, name
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=name)
        worst[name] = worst_error_in_tolerances(ours, theirs)
    name = max(worst, key=worst.get)
    # Shown with pytest -rP: the worst error of this golden as a multiple of the tolerance.
    print(f"{golden.name}: worst error {worst[name]:.3g} x tolerance ({name})")
    # Faithful NMS: the same detections in the same order.
    np.testing.assert_array_equal(outputs["detection_anchor_indices"], expected["detection_anchor_indices"])
    np.testing.assert_array_equal(outputs["detection_classes"], expected["detection_classes"])


def test_loss_matches_the_od_api():
    """SSD MobileNetV2's loss on the golden weights (inference mode) for a two-image batch with four boxes: the real
    OD API's model.loss gave these values (target assignment, weighted sigmoid / smooth L1 losses, normalization by
    the number of matches: 50 matched anchors)."""
    golden = golden_dir("ssd_mobilenet_v2_320x320_coco17_tpu-8")
    model = build_restored_model(golden)
    losses = loss_on_reference_batch(model, np.load(golden / "input_image.npy"))
    np.testing.assert_allclose(losses["Loss/localization_loss"], 0.7207895517349243, rtol=1e-5)
    np.testing.assert_allclose(losses["Loss/classification_loss"], 16.68497085571289, rtol=1e-5)
