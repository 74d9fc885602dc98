"""COCO metrics equal pycocotools' own numbers; PASCAL VOC AP on hand-checked cases."""
import contextlib
import io
import types

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tfsynth.eval import evaluator as evaluator_lib
from tfsynth.eval.coco_metrics import CocoDetectionEvaluator
from tfsynth.eval.pascal_metrics import PascalDetectionEvaluator, average_precision

CATEGORIES = [{"id": 1, "name": "ketchup"}, {"id": 2, "name": "water"}, {"id": 3, "name": "orange"}]


def _random_scene(rng, num_images=6):
    images = []
    for i in range(num_images):
        n = rng.integers(1, 5)
        ymin = rng.uniform(0, 200, n)
        xmin = rng.uniform(0, 200, n)
        gt = np.stack([ymin, xmin, ymin + rng.uniform(10, 120, n), xmin + rng.uniform(10, 120, n)], 1)
        gt_classes = rng.integers(1, 4, n)
        # detections: jittered ground truth plus a few random ones
        det = gt + rng.normal(0, 6, gt.shape)
        extra = rng.uniform(0, 250, (3, 2))
        det = np.concatenate([det, np.concatenate([extra, extra + 30], 1)])
        det_classes = np.concatenate([gt_classes, rng.integers(1, 4, 3)])
        scores = rng.uniform(0.05, 1.0, len(det))
        images.append((f"img{i}.jpg", gt, gt_classes, det, scores, det_classes))
    return images


def test_coco_metrics_equal_pycocotools():
    rng = np.random.default_rng(3)
    images = _random_scene(rng)
    evaluator = CocoDetectionEvaluator(CATEGORIES, include_metrics_per_category=True)
    dataset = {"images": [], "annotations": [], "categories": CATEGORIES}
    results = []
    for index, (name, gt, gt_classes, det, scores, det_classes) in enumerate(images):
        evaluator.add_single_ground_truth_image_info(name, {"groundtruth_boxes": gt, "groundtruth_classes": gt_classes})
        evaluator.add_single_detected_image_info(name, {"detection_boxes": det, "detection_scores": scores,
                                                        "detection_classes": det_classes})
        dataset["images"].append({"id": 100 + index})
        for box, cls in zip(gt, gt_classes):
            w, h = box[3] - box[1], box[2] - box[0]
            dataset["annotations"].append({"id": len(dataset["annotations"]) + 1, "image_id": 100 + index,
                                           "category_id": int(cls), "bbox": [box[1], box[0], w, h],
                                           "area": w * h, "iscrowd": 0})
        for box, score, cls in zip(det, scores, det_classes):
            results.append({"image_id": 100 + index, "category_id": int(cls), "score": float(score),
                            "bbox": [box[1], box[0], box[3] - box[1], box[2] - box[0]]})
    metrics = evaluator.evaluate()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
        reference = COCOeval(coco, coco.loadRes(results), iouType="bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    assert metrics["DetectionBoxes_Precision/mAP"] == reference.stats[0]
    assert metrics["DetectionBoxes_Precision/mAP@.50IOU"] == reference.stats[1]
    assert metrics["DetectionBoxes_Precision/mAP@.75IOU"] == reference.stats[2]
    assert metrics["DetectionBoxes_Recall/AR@100 (large)"] == reference.stats[11]
    assert 0.0 < metrics["DetectionBoxes_Precision/mAP"] < 1.0
    assert "DetectionBoxes_PerformanceByCategory/mAP/water" in metrics


def test_coco_perfect_detections_score_one():
    evaluator = CocoDetectionEvaluator(CATEGORIES)
    gt = np.array([[10, 10, 100, 120], [50, 60, 200, 220]], float)
    evaluator.add_single_ground_truth_image_info("a", {"groundtruth_boxes": gt, "groundtruth_classes": [1, 2]})
    evaluator.add_single_detected_image_info("a", {"detection_boxes": gt, "detection_scores": [0.9, 0.8],
                                                   "detection_classes": [1, 2]})
    assert evaluator.evaluate()["DetectionBoxes_Precision/mAP"] == pytest.approx(1.0)


def test_coco_rejects_unknown_class():
    evaluator = CocoDetectionEvaluator(CATEGORIES)
    with pytest.raises(ValueError, match="not in the label map"):
        evaluator.add_single_ground_truth_image_info("a", {"groundtruth_boxes": [[0, 0, 1, 1]],
                                                           "groundtruth_classes": [7]})


def test_average_precision_all_points():
    # tp, fp, tp with 2 ground truths: precision 1, .5, .667 at recall .5, .5, 1 -> AP = .5*1 + .5*.667
    assert average_precision(np.array([1.0, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(0.5 + 1 / 3)


def test_pascal_difficult_ignored_and_duplicates_false():
    evaluator = PascalDetectionEvaluator(CATEGORIES)
    gt = np.array([[0, 0, 100, 100], [200, 200, 300, 300], [400, 400, 500, 500]], float)
    evaluator.add_single_ground_truth_image_info("a", {"groundtruth_boxes": gt, "groundtruth_classes": [1, 1, 1],
                                                       "groundtruth_difficult": [0, 0, 1]})
    det = np.array([[0, 0, 100, 100], [0, 0, 98, 100], [400, 400, 500, 500], [200, 200, 300, 300]], float)
    evaluator.add_single_detected_image_info("a", {"detection_boxes": det, "detection_scores": [0.9, 0.8, 0.7, 0.6],
                                                   "detection_classes": [1, 1, 1, 1]})
    metrics = evaluator.evaluate()
    # counted: tp (0.9), fp duplicate (0.8), [difficult dropped], tp (0.6): P = 1, .5, .667; R = .5, .5, 1
    assert metrics["PascalBoxes_PerformanceByCategory/AP@0.5IOU/ketchup"] == pytest.approx(0.5 + 1 / 3)
    assert np.isnan(metrics["PascalBoxes_PerformanceByCategory/AP@0.5IOU/water"])
    assert metrics["PascalBoxes_Precision/mAP@0.5IOU"] == pytest.approx(0.5 + 1 / 3)


def test_build_evaluators_from_metrics_set():
    config = types.SimpleNamespace(metrics_set=["coco_detection_metrics", "pascal_voc_detection_metrics"],
                                   include_metrics_per_category=False)
    evaluators = evaluator_lib.build_evaluators(config, CATEGORIES)
    gt = {"groundtruth_boxes": np.array([[0, 0, 50, 50]], float), "groundtruth_classes": np.array([2])}
    det = {"detection_boxes": np.array([[0, 0, 50, 50]], float), "detection_scores": np.array([0.5]),
           "detection_classes": np.array([2])}
    evaluator_lib.add_batch(evaluators, ["x"], [gt], [det])
    metrics = evaluator_lib.evaluate_all(evaluators)
    assert metrics["PascalBoxes_Precision/mAP@0.5IOU"] == pytest.approx(1.0)
    assert metrics["DetectionBoxes_Precision/mAP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="oid_V2_detection_metrics"):
        evaluator_lib.build_evaluators(types.SimpleNamespace(metrics_set=["oid_V2_detection_metrics"]), CATEGORIES)
