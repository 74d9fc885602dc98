"""COCO box metrics through pycocotools, named as the OD API's CocoDetectionEvaluator names them.

Boxes come in as the OD API's [ymin, xmin, ymax, xmax] in absolute pixels; they are turned into COCO's
[x, y, width, height] and handed to pycocotools unchanged, so the numbers are exactly pycocotools' numbers.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Optional, Sequence

import numpy as np

# Order of COCOeval.stats, with the OD API's metric names.
COCO_METRIC_NAMES = (
    "DetectionBoxes_Precision/mAP",
    "DetectionBoxes_Precision/mAP@.50IOU",
    "DetectionBoxes_Precision/mAP@.75IOU",
    "DetectionBoxes_Precision/mAP (small)",
    "DetectionBoxes_Precision/mAP (medium)",
    "DetectionBoxes_Precision/mAP (large)",
    "DetectionBoxes_Recall/AR@1",
    "DetectionBoxes_Recall/AR@10",
    "DetectionBoxes_Recall/AR@100",
    "DetectionBoxes_Recall/AR@100 (small)",
    "DetectionBoxes_Recall/AR@100 (medium)",
    "DetectionBoxes_Recall/AR@100 (large)",
)


def yxyx_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """[N, 4] [ymin, xmin, ymax, xmax] -> [N, 4] COCO [x, y, width, height]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1)


class CocoDetectionEvaluator:
    """Collects ground truth and detections image by image, then computes COCO box metrics.

    categories: the label map's [{'id': int, 'name': str}, ...] (ids as in the label map, 1-based).
    """

    metric_prefix = "DetectionBoxes"

    def __init__(self, categories: Sequence[dict], include_metrics_per_category: bool = False,
                 all_metrics_per_category: bool = False):
        if not categories:
            raise ValueError("CocoDetectionEvaluator needs at least one category (label map is empty)")
        self._categories = [dict(c) for c in categories]
        self._category_ids = {int(c["id"]) for c in categories}
        self._include_metrics_per_category = include_metrics_per_category
        self._all_metrics_per_category = all_metrics_per_category
        self.clear()

    def clear(self) -> None:
        """Forgets all images added so far."""
        self._image_ids: dict[Any, int] = {}
        self._groundtruth: list[dict] = []
        self._detections: list[dict] = []
        self._images_with_detections: set = set()

    def _numeric_id(self, image_id: Any) -> int:
        if image_id not in self._image_ids:
            self._image_ids[image_id] = len(self._image_ids) + 1
        return self._image_ids[image_id]

    def _check_classes(self, classes: np.ndarray, what: str, image_id: Any) -> None:
        unknown = sorted(set(int(c) for c in classes) - self._category_ids)
        if unknown:
            raise ValueError(f"image {image_id!r}: {what} class ids {unknown} are not in the label map "
                             f"(known ids {sorted(self._category_ids)})")

    def add_single_ground_truth_image_info(self, image_id: Any, groundtruth_dict: dict) -> None:
        """groundtruth_dict: groundtruth_boxes [N,4] absolute yxyx, groundtruth_classes [N] (label map ids),
        optional groundtruth_is_crowd [N], groundtruth_area [N]. Adding an image twice is ignored, as in the OD API."""
        if image_id in self._image_ids:
            return
        numeric_id = self._numeric_id(image_id)
        boxes = np.asarray(groundtruth_dict["groundtruth_boxes"], dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(groundtruth_dict["groundtruth_classes"]).reshape(-1).astype(np.int64)
        if len(boxes) != len(classes):
            raise ValueError(f"image {image_id!r}: {len(boxes)} groundtruth boxes but {len(classes)} classes")
        self._check_classes(classes, "groundtruth", image_id)
        is_crowd = groundtruth_dict.get("groundtruth_is_crowd")
        is_crowd = np.zeros(len(boxes), np.int64) if is_crowd is None or len(is_crowd) != len(boxes) \
            else np.asarray(is_crowd).astype(np.int64)
        area = groundtruth_dict.get("groundtruth_area")
        xywh = yxyx_to_xywh(boxes)
        for index in range(len(boxes)):
            box_area = float(xywh[index, 2] * xywh[index, 3])
            if area is not None and len(area) == len(boxes) and float(area[index]) > 0:
                box_area = float(area[index])
            self._groundtruth.append({
                "id": len(self._groundtruth) + 1,  # pycocotools treats id 0 as "unmatched"
                "image_id": numeric_id, "category_id": int(classes[index]),
                "bbox": [float(v) for v in xywh[index]], "area": box_area, "iscrowd": int(is_crowd[index]),
            })

    def add_single_detected_image_info(self, image_id: Any, detections_dict: dict) -> None:
        """detections_dict: detection_boxes [M,4] absolute yxyx, detection_scores [M], detection_classes [M]
        (label map ids). The image's ground truth must have been added first."""
        if image_id not in self._image_ids:
            raise ValueError(f"image {image_id!r}: detections added before its ground truth")
        if image_id in self._images_with_detections:
            return
        self._images_with_detections.add(image_id)
        boxes = np.asarray(detections_dict["detection_boxes"], dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(detections_dict["detection_scores"], dtype=np.float64).reshape(-1)
        classes = np.asarray(detections_dict["detection_classes"]).reshape(-1).astype(np.int64)
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError(f"image {image_id!r}: {len(boxes)} boxes, {len(scores)} scores, "
                             f"{len(classes)} classes; expected equal counts")
        self._check_classes(classes, "detection", image_id)
        xywh = yxyx_to_xywh(boxes)
        numeric_id = self._image_ids[image_id]
        for index in range(len(boxes)):
            self._detections.append({"image_id": numeric_id, "category_id": int(classes[index]),
                                     "bbox": [float(v) for v in xywh[index]], "score": float(scores[index])})

    def groundtruth_dataset(self) -> dict:
        """The ground truth as a COCO dataset dict (what pycocotools.coco.COCO.dataset holds)."""
        return {"images": [{"id": i} for i in self._image_ids.values()],
                "annotations": list(self._groundtruth), "categories": list(self._categories)}

    def detections_list(self) -> list[dict]:
        """The detections as COCO results (what COCO.loadRes takes)."""
        return list(self._detections)

    def evaluate(self) -> dict[str, float]:
        """Runs pycocotools' COCOeval (bbox) and returns {metric name: value}."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        if not self._image_ids:
            raise ValueError("CocoDetectionEvaluator.evaluate: no images were added")
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):  # pycocotools prints progress lines
            groundtruth = COCO()
            groundtruth.dataset = self.groundtruth_dataset()
            groundtruth.createIndex()
            detections = groundtruth.loadRes(self._detections) if self._detections else COCO()
            if not self._detections:
                detections.dataset = {"images": groundtruth.dataset["images"], "annotations": [],
                                      "categories": self._categories}
                detections.createIndex()
            evaluation = COCOeval(groundtruth, detections, iouType="bbox")
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        self.summary_text = quiet.getvalue()
        metrics = {name: float(value) for name, value in zip(COCO_METRIC_NAMES, evaluation.stats)}
        if self._include_metrics_per_category or self._all_metrics_per_category:
            metrics.update(self._per_category(evaluation))
        return metrics

    def _per_category(self, evaluation: Any) -> dict[str, float]:
        # precision: [iou thresholds, recall points, categories, area ranges, max dets]; area 0 = all, last maxDets = 100
        precision = evaluation.eval["precision"]
        recall = evaluation.eval["recall"]  # [iou thresholds, categories, area ranges, max dets]
        names = {int(c["id"]): c["name"] for c in self._categories}
        iou_50 = int(np.argmin(np.abs(evaluation.params.iouThrs - 0.5)))
        iou_75 = int(np.argmin(np.abs(evaluation.params.iouThrs - 0.75)))
        out: dict[str, float] = {}
        for k, category_id in enumerate(evaluation.params.catIds):
            name = names[int(category_id)]
            out[f"{self.metric_prefix}_PerformanceByCategory/mAP/{name}"] = _mean_valid(precision[:, :, k, 0, -1])
            if self._all_metrics_per_category:
                out[f"{self.metric_prefix}_PerformanceByCategory/mAP@.50IOU/{name}"] = \
                    _mean_valid(precision[iou_50, :, k, 0, -1])
                out[f"{self.metric_prefix}_PerformanceByCategory/mAP@.75IOU/{name}"] = \
                    _mean_valid(precision[iou_75, :, k, 0, -1])
                out[f"{self.metric_prefix}_PerformanceByCategory/AR@100/{name}"] = _mean_valid(recall[:, k, 0, -1])
        return out


def _mean_valid(values: np.ndarray) -> float:
    # pycocotools marks "no ground truth" cells with -1 and reports -1 when nothing is valid
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0
