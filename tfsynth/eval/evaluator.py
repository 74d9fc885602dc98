"""Builds the metric evaluators named by eval_config.metrics_set (the OD API's names) and feeds them batches."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tfsynth.eval.coco_metrics import CocoDetectionEvaluator
from tfsynth.eval.pascal_metrics import PascalDetectionEvaluator

DEFAULT_METRICS_SET = "coco_detection_metrics"
SUPPORTED_METRICS = ("coco_detection_metrics", "pascal_voc_detection_metrics")


def metric_names(eval_config: Any) -> list[str]:
    """The names of eval_config.metrics_set (COCO when empty, as the OD API).

    Raises ValueError naming an unknown metric and the supported ones: cheap, so a run checks it before it trains.
    """
    names = list(getattr(eval_config, "metrics_set", [])) or [DEFAULT_METRICS_SET]
    for name in names:
        if name not in SUPPORTED_METRICS:
            raise ValueError(f"eval_config.metrics_set: {name!r} is not supported; expected one of "
                             f"{', '.join(SUPPORTED_METRICS)}")
    return names


def build_evaluators(eval_config: Any, categories: Sequence[dict]) -> list:
    """One evaluator per entry of eval_config.metrics_set (see metric_names)."""
    per_category = bool(getattr(eval_config, "include_metrics_per_category", False))
    all_per_category = bool(getattr(eval_config, "all_metrics_per_category", False))
    evaluators = []
    for name in metric_names(eval_config):
        if name == "coco_detection_metrics":
            evaluators.append(CocoDetectionEvaluator(categories, include_metrics_per_category=per_category,
                                                     all_metrics_per_category=all_per_category))
        else:
            evaluators.append(PascalDetectionEvaluator(categories))
    return evaluators


def add_batch(evaluators: Sequence, image_ids: Sequence, groundtruth: Sequence[dict],
              detections: Sequence[dict]) -> None:
    """Adds one batch: per image its id, its ground-truth dict and its detections dict (numpy, absolute boxes,
    label-map class ids)."""
    for image_id, gt, det in zip(image_ids, groundtruth, detections):
        for evaluator in evaluators:
            evaluator.add_single_ground_truth_image_info(image_id, gt)
            evaluator.add_single_detected_image_info(image_id, det)


def evaluate_all(evaluators: Sequence) -> dict[str, float]:
    """Merged metrics of all evaluators."""
    metrics: dict[str, float] = {}
    for evaluator in evaluators:
        metrics.update(evaluator.evaluate())
    return {name: float(np.float64(value)) for name, value in metrics.items()}
