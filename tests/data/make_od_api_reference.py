"""Writes a tests/data/*_od_api.json from a golden folder made with the real OD API, for a model whose golden is
not in ../shared (its checkpoint is too large to commit): efficientdet_d0_od_api.json (with output fingerprints) and
faster_rcnn_resnet50_fpn_od_api.json (variables and checkpoint keys only).

The EfficientDet D0 folder has the layout of ../shared/data/odapi_reference/golden:
the OD API's ssd_efficientdet_d0_512x512_coco17_tpu-8 sample config with num_classes 3, built by the OD API
(tf-object-detection-api 0.1 on TensorFlow 2.20 + tf-keras, inference mode), every variable overwritten in
model.variables order by tests/test_golden_efficientdet.randomize_like_the_goldens, run on the goldens' input
image (tests/test_golden_efficientdet.reference_image). This keeps what a test needs to check a rebuild without the
checkpoint: the model variables (names, shapes, trainable, order), the checkpoint keys and shapes, and a fingerprint
of the outputs (sums and sampled values of every map, sampled anchors' predictions, all 100 detections).

The Faster R-CNN ResNet50 FPN folder: the OD API's faster_rcnn_resnet50_v1_fpn_640x640_coco17_tpu-8 sample config
with num_classes 3, made the same way (weights with gain 1, as the shared Faster R-CNN golden).

The Faster R-CNN Inception-ResNet-v2 folder (faster_rcnn_inception_resnet_v2_od_api.json): the config of the Zoo's
faster_rcnn_inception_resnet_v2_640x640_coco17_tpu-8 with num_classes 3, made the same way (gain 1); it keeps
fingerprints of the first stage, the reference's 300 proposals and fingerprints of the second stage run on them.

The CenterNet folders (centernet_*_od_api.json): a CenterNet sample config with num_classes 3, its keypoint task
removed where it had one and the feature extractor type set as config_changes.json says, made the same way
(weights with the gain its manifest gives); their loss_reference.json adds the OD API's model.loss on the two-image batch of
tests/golden_utils.loss_on_reference_batch's kind (its own boxes and classes, kept here) in inference mode and in
training mode (learning phase 1), and their fingerprints the CenterNet outputs (heads, features, strided boxes).

Usage: python tests/data/make_od_api_reference.py GOLDEN_DIR OUTPUT_NAME [--structure_only]
"""
import json
import pathlib
import sys

import numpy as np

NUM_SAMPLES = 64


def sample_indices(size: int, count: int, seed: int) -> list:
    """`count` distinct flat indices of an array of `size` elements, the same for every run."""
    return sorted(np.random.RandomState(seed).choice(size, size=min(count, size), replace=False).tolist())


def fingerprint(array: np.ndarray, seed: int) -> dict:
    """Sum, sum of squares (float64) and NUM_SAMPLES sampled values of an array."""
    flat = array.astype(np.float64).ravel()
    indices = sample_indices(flat.size, NUM_SAMPLES, seed)
    return {"shape": list(array.shape), "sum": float(flat.sum()), "sum_of_squares": float((flat ** 2).sum()),
            "indices": indices, "values": flat[indices].tolist()}


def main(golden: pathlib.Path, output: pathlib.Path, structure_only: bool) -> None:
    manifest = json.loads((golden / "manifest.json").read_text())
    structure = {
        "source": (f"{repository_relative(manifest['source_config'])}; built by the OD API (tf-object-detection-api 0.1, TensorFlow "
                   f"{manifest['tensorflow']}), weights: {manifest['weights']}"),
        "model_variables": manifest["model_variables"],
        "checkpoint_variables": {name: shape for name, shape in manifest["checkpoint_variables"]
                                 if name.startswith("model/")},
    }
    if structure_only:
        write(output, structure)
        return
    expected = np.load(golden / "expected.npz")
    if manifest["meta_architecture"] == "center_net":
        write(output, {**structure, **center_net_reference(golden, expected)})
        return
    if manifest["meta_architecture"] == "faster_rcnn":
        write(output, {**structure, **faster_rcnn_reference(golden, expected)})
        return
    fingerprinted = ["preprocessed_inputs", "anchors", "box_encodings", "class_predictions_with_background",
                     "raw_detection_boxes", "raw_detection_scores"]
    fingerprinted += sorted(name for name in expected.files if name.startswith("feature_maps_"))
    reference = {
        **structure,
        "fingerprints": {name: fingerprint(expected[name], seed) for seed, name in enumerate(fingerprinted)},
        "true_image_shapes": expected["true_image_shapes"].tolist(),
        "detections": {name: expected[name][0].tolist() for name in
                       ("detection_boxes", "detection_scores", "detection_classes", "detection_anchor_indices")},
        "num_detections": float(expected["num_detections"][0]),
    }
    write(output, reference)


def center_net_reference(golden: pathlib.Path, expected) -> dict:
    """The CenterNet part: config changes, output fingerprints, the 100 detections and the loss references."""
    changes = json.loads((golden / "config_changes.json").read_text())
    losses = json.loads((golden / "loss_reference.json").read_text())
    per_stage = ("object_center_", "box_scale_", "box_offset_", "extracted_features_")
    fingerprinted = ["preprocessed_inputs", "detection_boxes_strided", "detection_multiclass_scores"]
    fingerprinted += sorted(name for name in expected.files if name.startswith(per_stage))
    return {
        "config_changes": changes["changes"],
        "gain": manifest_gain(golden),
        "fingerprints": {name: fingerprint(expected[name], seed) for seed, name in enumerate(fingerprinted)},
        "true_image_shapes": expected["true_image_shapes"].tolist(),
        "detections": {name: expected[name][0].tolist() for name in
                       ("detection_boxes", "detection_scores", "detection_classes")},
        "num_detections": float(expected["num_detections"][0]),
        "loss_batch": {"boxes": losses["groundtruth_boxes_passed"],
                       "classes": losses["groundtruth_classes_passed_0_based"]},
        "losses": {"inference": losses["variants"]["eval_phase0"]["losses"],
                   "training": losses["variants"]["train_phase1"]["losses"]},
    }


# Faster R-CNN: the first stage is compared end to end; the second stage from the reference's own proposals (CPUs
# may order near-tied proposals differently, see tests/test_golden_faster_rcnn.py), so those are kept whole.
FASTER_RCNN_FIRST_STAGE = ("preprocessed_inputs", "rpn_box_predictor_features_0", "rpn_features_to_crop_0",
                           "rpn_box_encodings", "rpn_objectness_predictions_with_background", "anchors")
FASTER_RCNN_SECOND_STAGE = ("refined_box_encodings", "class_predictions_with_background", "raw_detection_boxes",
                            "raw_detection_scores")


def faster_rcnn_reference(golden: pathlib.Path, expected) -> dict:
    """The Faster R-CNN part: first-stage fingerprints, the reference's proposals, second-stage fingerprints."""
    names = FASTER_RCNN_FIRST_STAGE + FASTER_RCNN_SECOND_STAGE
    return {
        "gain": manifest_gain(golden),
        "fingerprints": {name: fingerprint(expected[name], seed) for seed, name in enumerate(names)},
        "true_image_shapes": expected["true_image_shapes"].tolist(),
        "proposal_boxes_normalized": expected["proposal_boxes_normalized"].tolist(),
        "num_proposals": expected["num_proposals"].tolist(),
        # Kept whole, to be compared as a set: random-weight scores tie or lie 1e-6 apart, so the order of the
        # detections is the CPU's choice.
        "num_detections": float(expected["num_detections"][0]),
        "detections": {name: expected[name][0].tolist() for name in
                       ("detection_boxes", "detection_scores", "detection_classes")},
    }


def repository_relative(source: str) -> str:
    """A source config path as it reads from the repository root (../shared/data/...): the goldens' manifests name
    the machine where they were made, which no other checkout shares."""
    marker = "odapi_reference/"
    return "../shared/data/" + source[source.index(marker):] if marker in source else source


def manifest_gain(golden: pathlib.Path) -> float:
    """The gain of the kernels' N(0, sqrt(gain / fan_in)) draws the golden was randomized with."""
    manifest = json.loads((golden / "manifest.json").read_text())
    if "randomize_g" in manifest:
        return float(manifest["randomize_g"])
    # The Faster R-CNN goldens' manifests give the recipe in words only.
    if "sqrt(1/fan_in)" in manifest["weights"]:
        return 1.0
    raise ValueError(f"{golden / 'manifest.json'}: no randomize_g and no gain in 'weights'")


def write(output: pathlib.Path, reference: dict) -> None:
    output.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"wrote {output} ({output.stat().st_size} bytes)")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), pathlib.Path(__file__).with_name(sys.argv[2]), "--structure_only" in sys.argv[3:])
