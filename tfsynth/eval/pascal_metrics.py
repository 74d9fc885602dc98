"""PASCAL VOC box metrics (AP at IoU 0.5, difficult boxes ignored), named as the OD API's PascalDetectionEvaluator.

Per image and class, detections are taken by descending score; each is matched to the ground-truth box it
overlaps most. IoU >= 0.5 with a difficult box: the detection is dropped (neither true nor false positive);
with an unmatched box: true positive; otherwise false positive. AP is the area under the interpolated
precision/recall curve over all recall points (VOC 2010 onwards). mAP is the mean over classes with ground truth.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every [ymin, xmin, ymax, xmax] box of boxes_a [N,4] with every box of boxes_b [M,4] -> [N, M]."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ymin = np.maximum(a[:, None, 0], b[None, :, 0])
    xmin = np.maximum(a[:, None, 1], b[None, :, 1])
    ymax = np.minimum(a[:, None, 2], b[None, :, 2])
    xmax = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def match_single_class(detected_boxes: np.ndarray, detected_scores: np.ndarray, groundtruth_boxes: np.ndarray,
                       groundtruth_difficult: np.ndarray, iou_threshold: float = 0.5
                       ) -> tuple[np.ndarray, np.ndarray]:
    """One image, one class: returns (scores, is_true_positive) of the detections that count (difficult-matched
    ones removed)."""
    order = np.argsort(-np.asarray(detected_scores, dtype=np.float64), kind="stable")
    scores = np.asarray(detected_scores, dtype=np.float64)[order]
    boxes = np.asarray(detected_boxes, dtype=np.float64).reshape(-1, 4)[order]
    true_positive = np.zeros(len(scores), dtype=bool)
    if len(groundtruth_boxes) == 0 or len(scores) == 0:
        return scores, true_positive
    overlaps = iou_matrix(boxes, groundtruth_boxes)
    best_gt = np.argmax(overlaps, axis=1)
    taken = np.zeros(len(groundtruth_boxes), dtype=bool)
    keep = np.ones(len(scores), dtype=bool)
    for index in range(len(scores)):
        gt = best_gt[index]
        if overlaps[index, gt] < iou_threshold:
            continue
        if groundtruth_difficult[gt]:
            keep[index] = False
        elif not taken[gt]:
            true_positive[index] = True
            taken[gt] = True
    return scores[keep], true_positive[keep]


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision/recall curve with precision made monotone (VOC 2010+ 'all points')."""
    if len(precision) == 0:
        return 0.0
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    changes = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[changes] - recall[changes - 1]) * precision[changes]))


def precision_recall(scores: np.ndarray, true_positive: np.ndarray, num_groundtruth: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection, taken by falling score, for `num_groundtruth` (> 0) boxes."""
    order = np.argsort(-scores, kind="stable")
    true_positive = true_positive[order].astype(np.float64)
    tp_cumulative = np.cumsum(true_positive)
    fp_cumulative = np.cumsum(1.0 - true_positive)
    precision = tp_cumulative / np.maximum(tp_cumulative + fp_cumulative, 1e-12)
    return precision, tp_cumulative / num_groundtruth


@dataclasses.dataclass
class ImageMatches:
    """Per image and class: the scores of the detections that count and whether each is a true positive, and the
    number of (non-difficult) ground-truth boxes. Rows follow the images, columns class_ids."""

    class_ids: list[int]
    scores: list[list[np.ndarray]]  # [class][image]
    true_positives: list[list[np.ndarray]]  # [class][image]
    groundtruth_counts: np.ndarray  # [image, class]

    def mean_average_precision(self, images: Sequence[int]) -> float:
        """mAP over the classes with ground truth among `images` (indices, repeats allowed), as evaluate() gives
        it for those images; NaN when none has ground truth."""
        counts = self.groundtruth_counts[images].sum(axis=0)
        precisions = []
        for column in np.flatnonzero(counts):
            scores = np.concatenate([self.scores[column][i] for i in images])
            true_positive = np.concatenate([self.true_positives[column][i] for i in images])
            precisions.append(average_precision(*precision_recall(scores, true_positive, int(counts[column]))))
        return float(np.mean(precisions)) if precisions else float("nan")


class PascalDetectionEvaluator:
    """Collects ground truth and detections image by image; evaluate() gives PascalBoxes_* metrics.

    categories: the label map's [{'id': int, 'name': str}, ...].
    """

    metric_prefix = "PascalBoxes"

    def __init__(self, categories: Sequence[dict], matching_iou_threshold: float = 0.5):
        if not categories:
            raise ValueError("PascalDetectionEvaluator needs at least one category (label map is empty)")
        self._categories = [dict(c) for c in categories]
        self._iou_threshold = matching_iou_threshold
        self.clear()

    def clear(self) -> None:
        """Forgets all images added so far."""
        self._groundtruth: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # Images with detections, in the order of the per-class lists below (a dict keeps insertion order).
        self._evaluated: dict[Any, None] = {}
        self._scores: dict[int, list[np.ndarray]] = {int(c["id"]): [] for c in self._categories}
        self._true_positives: dict[int, list[np.ndarray]] = {int(c["id"]): [] for c in self._categories}
        self._num_groundtruth: dict[int, int] = {int(c["id"]): 0 for c in self._categories}

    def add_single_ground_truth_image_info(self, image_id: Any, groundtruth_dict: dict) -> None:
        """groundtruth_dict: groundtruth_boxes [N,4], groundtruth_classes [N] (label map ids), optional
        groundtruth_difficult [N]."""
        if image_id in self._groundtruth:
            return
        boxes = np.asarray(groundtruth_dict["groundtruth_boxes"], dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(groundtruth_dict["groundtruth_classes"]).reshape(-1).astype(np.int64)
        difficult = groundtruth_dict.get("groundtruth_difficult")
        difficult = np.zeros(len(boxes), bool) if difficult is None or len(difficult) != len(boxes) \
            else np.asarray(difficult).astype(bool)
        unknown = sorted(set(classes.tolist()) - set(self._num_groundtruth))
        if unknown:
            raise ValueError(f"image {image_id!r}: groundtruth class ids {unknown} are not in the label map")
        self._groundtruth[image_id] = (boxes, classes, difficult)
        for class_id in classes[~difficult]:
            self._num_groundtruth[int(class_id)] += 1

    def add_single_detected_image_info(self, image_id: Any, detections_dict: dict) -> None:
        """detections_dict: detection_boxes [M,4], detection_scores [M], detection_classes [M] (label map ids)."""
        if image_id not in self._groundtruth:
            raise ValueError(f"image {image_id!r}: detections added before its ground truth")
        if image_id in self._evaluated:
            return
        self._evaluated[image_id] = None
        gt_boxes, gt_classes, gt_difficult = self._groundtruth[image_id]
        boxes = np.asarray(detections_dict["detection_boxes"], dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(detections_dict["detection_scores"], dtype=np.float64).reshape(-1)
        classes = np.asarray(detections_dict["detection_classes"]).reshape(-1).astype(np.int64)
        for class_id in self._scores:
            chosen = classes == class_id
            gt_chosen = gt_classes == class_id
            kept_scores, true_positive = match_single_class(
                boxes[chosen], scores[chosen], gt_boxes[gt_chosen], gt_difficult[gt_chosen], self._iou_threshold)
            self._scores[class_id].append(kept_scores)
            self._true_positives[class_id].append(true_positive)

    def precision_recall_curves(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{class id: (precision, recall)} over detections sorted by falling score; classes without
        (non-difficult) ground truth are left out."""
        curves = {}
        for class_id in self._scores:
            if self._num_groundtruth[class_id] == 0:
                continue
            scores = np.concatenate(self._scores[class_id]) if self._scores[class_id] else np.zeros(0)
            true_positive = np.concatenate(self._true_positives[class_id]) \
                if self._true_positives[class_id] else np.zeros(0, bool)
            curves[class_id] = precision_recall(scores, true_positive, self._num_groundtruth[class_id])
        return curves

    def per_image_matches(self) -> "ImageMatches":
        """The images' matched detections per class, in the order they were added (for bootstrap intervals)."""
        class_ids = list(self._scores)
        groundtruth_counts = np.zeros((len(self._evaluated), len(class_ids)), dtype=np.int64)
        for row, image_id in enumerate(self._evaluated):
            _, classes, difficult = self._groundtruth[image_id]
            for column, class_id in enumerate(class_ids):
                groundtruth_counts[row, column] = int(np.sum((classes == class_id) & ~difficult))
        return ImageMatches(class_ids, [list(self._scores[c]) for c in class_ids],
                            [list(self._true_positives[c]) for c in class_ids], groundtruth_counts)

    def per_class_average_precision(self) -> dict[int, float]:
        """{class id: AP}; NaN for classes without (non-difficult) ground truth."""
        curves = self.precision_recall_curves()
        return {class_id: average_precision(*curves[class_id]) if class_id in curves else float("nan")
                for class_id in self._scores}

    def evaluate(self) -> dict[str, float]:
        """{'PascalBoxes_Precision/mAP@0.5IOU': mAP, 'PascalBoxes_PerformanceByCategory/AP@0.5IOU/NAME': AP}."""
        if not self._groundtruth:
            raise ValueError("PascalDetectionEvaluator.evaluate: no images were added")
        per_class = self.per_class_average_precision()
        valid = [ap for ap in per_class.values() if not np.isnan(ap)]
        iou_text = f"{self._iou_threshold:g}IOU"
        metrics = {f"{self.metric_prefix}_Precision/mAP@{iou_text}": float(np.mean(valid)) if valid else float("nan")}
        names = {int(c["id"]): c["name"] for c in self._categories}
        for class_id, ap in per_class.items():
            metrics[f"{self.metric_prefix}_PerformanceByCategory/AP@{iou_text}/{names[class_id]}"] = ap
        return metrics
