"""Sanity check of a COCO detector on real fridge photos: does it find the water bottle as COCO "bottle"?

Each positive photo of data/real/cntk_fridge_us holds one 'water' box (a water bottle). A photo counts as a hit
when the detector returns a COCO "bottle" (id 44) box with IoU >= min_iou against it and score >= min_score.
Detectors are functions uint8 image [H, W, 3] -> Detections; two are provided: a restored Keras model of ours
and the TF.js frozen graph (the reference the conversion must reproduce).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from tfsynth.data.readers import cntk
from tfsynth.pretrained.tfjs_graph import TfjsGraph

COCO_BOTTLE_ID = 44


@dataclasses.dataclass
class Detections:
    """Post-NMS detections: boxes [N, 4] normalized (ymin, xmin, ymax, xmax), COCO ids [N], scores [N]."""
    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray


DetectFn = Callable[[np.ndarray], Detections]


@dataclasses.dataclass
class PhotoResult:
    """The best bottle detection on one photo's target box."""
    filename: str
    best_iou: float  # IoU of the best-scoring bottle box with IoU >= min_iou, else the highest IoU seen
    best_score: float  # score of that box (0 when no bottle box overlaps)
    hit: bool


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of `boxes`, all (ymin, xmin, ymax, xmax) in the same units."""
    if len(boxes) == 0:
        return np.zeros(0)
    ymin = np.maximum(box[0], boxes[:, 0])
    xmin = np.maximum(box[1], boxes[:, 1])
    ymax = np.minimum(box[2], boxes[:, 2])
    xmax = np.minimum(box[3], boxes[:, 3])
    intersection = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum(area + areas - intersection, 1e-12)


def check_photos(detect: DetectFn, photos_root: str, target_label: str = "water",
                 coco_id: int = COCO_BOTTLE_ID, min_iou: float = 0.5, min_score: float = 0.3,
                 filenames: Optional[List[str]] = None) -> List[PhotoResult]:
    """Runs `detect` on every photo under `photos_root` holding a `target_label` box (or only `filenames`)."""
    results = []
    for annotation in cntk.read(photos_root):
        targets = [obj for obj in annotation.objects if obj.class_name == target_label]
        if not targets or (filenames is not None and annotation.filename not in filenames):
            continue
        with Image.open(os.path.join(photos_root, annotation.filename)) as image:
            pixels = np.asarray(image.convert("RGB"))
        height, width = pixels.shape[:2]
        detections = detect(pixels)
        keep = detections.class_ids == coco_id
        boxes = detections.boxes[keep] * np.array([height, width, height, width])
        scores = detections.scores[keep]
        best_iou, best_score, hit = 0.0, 0.0, False
        for target in targets:
            ious = box_iou(np.array([target.ymin, target.xmin, target.ymax, target.xmax]), boxes)
            good = ious >= min_iou
            if good.any():
                index = int(np.argmax(np.where(good, scores, -1.0)))
                candidate = (float(ious[index]), float(scores[index]))
            elif len(ious):
                index = int(np.argmax(ious))
                candidate = (float(ious[index]), float(scores[index]) if ious[index] > 0 else 0.0)
            else:
                candidate = (0.0, 0.0)
            target_hit = candidate[0] >= min_iou and candidate[1] >= min_score
            if target_hit or (not hit and candidate[1] * candidate[0] >= best_score * best_iou):
                best_iou, best_score = candidate
            hit = hit or target_hit
        results.append(PhotoResult(annotation.filename, best_iou, best_score, hit))
    return results


def resize_for_ssd(pixels: np.ndarray, size: int = 300) -> tf.Tensor:
    """[1, size, size, 3] float32 0-255: the OD API's fixed_shape_resizer (legacy bilinear, no half-pixel)."""
    image = tf.cast(tf.convert_to_tensor(pixels)[tf.newaxis], tf.float32)
    return tf.compat.v1.image.resize_bilinear(image, [size, size], align_corners=False)


def tfjs_graph_detector(graph: TfjsGraph, iou_threshold: float = 0.6, max_detections: int = 100) -> DetectFn:
    """Detector running the TF.js frozen graph from the preprocessed image to decoded boxes and sigmoid scores,
    then the OD API's batch NMS settings of the SSDLite sample config (per class, IoU 0.6, 100 detections)."""
    def detect(pixels: np.ndarray) -> Detections:
        preprocessed = resize_for_ssd(pixels) * (2.0 / 255.0) - 1.0
        out = graph.evaluate(["Postprocessor/ExpandDims_1", "Postprocessor/Slice"],
                             {"Preprocessor/sub": preprocessed})
        nms = tf.image.combined_non_max_suppression(
            out["Postprocessor/ExpandDims_1"], out["Postprocessor/Slice"], max_detections, max_detections,
            iou_threshold=iou_threshold, score_threshold=1e-8, clip_boxes=True)
        count = int(nms.valid_detections[0])
        return Detections(nms.nmsed_boxes[0, :count].numpy(), nms.nmsed_classes[0, :count].numpy().astype(int) + 1,
                          nms.nmsed_scores[0, :count].numpy())
    return detect


def detection_model_detector(model, label_id_offset: int = 1) -> DetectFn:
    """Detector running one of our DetectionModels: preprocess, predict, postprocess (its own NMS settings)."""
    def detect(pixels: np.ndarray) -> Detections:
        image = tf.cast(tf.convert_to_tensor(pixels)[tf.newaxis], tf.float32)
        preprocessed, true_shapes = model.preprocess(image)
        predictions = model.predict(preprocessed, true_shapes)
        out = model.postprocess(predictions, true_shapes)
        count = int(out["num_detections"][0])
        classes = np.asarray(out["detection_classes"][0, :count]).astype(int) + label_id_offset
        return Detections(np.asarray(out["detection_boxes"][0, :count]), classes,
                          np.asarray(out["detection_scores"][0, :count]))
    return detect
