"""Bootstrap intervals over images: they agree with the evaluator on all images, widen with disagreement between
images, and a paired difference separates a model that is better on every image from one that is not."""
import numpy as np
import pytest

from tfsynth.eval.bootstrap import map_interval, paired_difference
from tfsynth.eval.pascal_metrics import PascalDetectionEvaluator

CATEGORIES = [{"id": 1, "name": "ketchup"}, {"id": 2, "name": "mustard"}]
BOX = [10.0, 10.0, 50.0, 50.0]
ELSEWHERE = [60.0, 60.0, 90.0, 90.0]


def _evaluator(found: list[bool], seed: int = 0) -> PascalDetectionEvaluator:
    """One ketchup and one mustard per image; ketchup found (or a false detection elsewhere) as `found` says,
    mustard found in every image with a random score."""
    rng = np.random.default_rng(seed)
    evaluator = PascalDetectionEvaluator(CATEGORIES)
    for index, hit in enumerate(found):
        evaluator.add_single_ground_truth_image_info(index, {
            "groundtruth_boxes": np.array([BOX, ELSEWHERE]), "groundtruth_classes": np.array([1, 2])})
        evaluator.add_single_detected_image_info(index, {
            "detection_boxes": np.array([BOX if hit else ELSEWHERE, ELSEWHERE]),
            "detection_scores": np.array([rng.uniform(0.5, 1.0), rng.uniform(0.1, 1.0)]),
            "detection_classes": np.array([1, 2])})
    return evaluator


def test_all_images_give_the_evaluators_map_and_the_interval_holds_it():
    evaluator = _evaluator([True, False] * 10)
    interval = map_interval(evaluator.per_image_matches(), resamples=500)
    assert interval.value == pytest.approx(evaluator.evaluate()["PascalBoxes_Precision/mAP@0.5IOU"])
    assert interval.low < interval.value < interval.high
    assert "95 % interval" in interval.describe()


def test_images_that_agree_give_a_narrow_interval():
    interval = map_interval(_evaluator([True] * 20).per_image_matches(), resamples=500)
    assert interval.value == pytest.approx(1.0) and interval.low == pytest.approx(1.0)


def test_paired_difference_tells_a_better_model_from_an_equal_one():
    worse = _evaluator([True, False] * 10).per_image_matches()
    better = _evaluator([True] * 20).per_image_matches()
    difference = paired_difference(better, worse, resamples=500)
    assert difference.value > 0 and difference.low > 0
    same = paired_difference(worse, worse, resamples=500)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="not of the same images"):
        paired_difference(better, _evaluator([True] * 5).per_image_matches())
