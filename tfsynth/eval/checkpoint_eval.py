"""Run a trained checkpoint over a set of TFRecords (e.g. the real fridge photos) and score its detections.

This is the offline evaluation behind the main job and the experiments: one pass, one checkpoint, every image at
its own size, detections kept per image for plots. Class ids of the model can be re-mapped before scoring (row b2
of the main job scores the COCO model by mapping COCO classes onto ours).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfsynth.builders import model_builder
from tfsynth.utils import checkpoint_fit
from tfsynth.data.annotations import ImageAnnotation
from tfsynth.data.tfrecord import example_to_annotation, read_examples
from tfsynth.eval.bootstrap import Interval, map_interval
from tfsynth.eval.evaluator import add_batch, build_evaluators, evaluate_all
from tfsynth.eval.pascal_metrics import ImageMatches
from tfsynth.utils import config_io, label_map_util


@dataclasses.dataclass
class ImageResult:
    """Ground truth and detections of one image, boxes in absolute pixels [ymin, xmin, ymax, xmax]."""

    image: ImageAnnotation
    groundtruth_boxes: np.ndarray
    groundtruth_classes: np.ndarray
    detection_boxes: np.ndarray
    detection_scores: np.ndarray
    detection_classes: np.ndarray


@dataclasses.dataclass
class CheckpointEvaluation:
    """Metrics (the OD API's names), per-class AP@0.5, precision-recall curves and the per-image results."""

    metrics: dict[str, float]
    per_class_ap: dict[str, float]
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]]
    images: list[ImageResult]
    class_names: dict[int, str]  # label map id -> name
    matches: ImageMatches  # per image and class, for bootstrap intervals over the images

    def map50_interval(self, resamples: int = 2000, level: float = 0.95) -> Interval:
        """PASCAL mAP@0.5 with its percentile bootstrap interval over the images (eval/bootstrap.py)."""
        return map_interval(self.matches, resamples, level)

    @property
    def pascal_map50(self) -> float:
        return self.metrics["PascalBoxes_Precision/mAP@0.5IOU"]

    @property
    def coco_map(self) -> float:
        return self.metrics["DetectionBoxes_Precision/mAP"]


def load_detection_model(pipeline_config_path: str, checkpoint_path: str) -> tuple[object, dict]:
    """Builds the model of a pipeline.config for inference and restores a checkpoint (file prefix or folder)."""
    configs = config_io.get_configs_from_pipeline_file(pipeline_config_path)
    model = model_builder.build(configs["model"], is_training=False)
    if os.path.isdir(checkpoint_path):
        latest = tf.train.latest_checkpoint(checkpoint_path)
        if latest is None:
            raise FileNotFoundError(f"{checkpoint_path}: no checkpoint in this folder")
        checkpoint_path = latest
    # One forward pass creates the variables, so the restore below checks every one of them.
    height, width = config_io.get_spatial_image_size(config_io.get_image_resizer_config(configs["model"]))
    dummy = tf.zeros([1, max(height, 32), max(width, 32), 3], tf.float32)
    preprocessed, shapes = model.preprocess(dummy)
    model.postprocess(model.predict(preprocessed, shapes), shapes)
    checkpoint_fit.restore_checked({"model": model}, checkpoint_path, f"checkpoint {checkpoint_path}",
                                hint="\n" + checkpoint_fit.misfit_hint(pipeline_config_path))
    return model, configs


def _detect_fn(model):
    @tf.function(reduce_retracing=True, autograph=False)  # TensorFlow ops throughout: see eval_loop
    def detect(image: tf.Tensor) -> dict:
        preprocessed, shapes = model.preprocess(tf.cast(image[tf.newaxis], tf.float32))
        return model.postprocess(model.predict(preprocessed, shapes), shapes)
    return detect


def map_classes(classes: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                mapping: Mapping[int, Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-labels detections: a detection of class c becomes one detection of each class in mapping[c];
    classes without an entry are dropped."""
    out_classes, out_boxes, out_scores = [], [], []
    for index, class_id in enumerate(classes.tolist()):
        for target in mapping.get(int(class_id), ()):
            out_classes.append(target)
            out_boxes.append(boxes[index])
            out_scores.append(scores[index])
    if not out_classes:
        return np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0)
    return np.asarray(out_classes, np.int64), np.asarray(out_boxes), np.asarray(out_scores)


def evaluate_checkpoint(pipeline_config_path: str, checkpoint_path: str, records_pattern: str,
                        label_map_path: str, class_mapping: Optional[Mapping[int, Sequence[int]]] = None,
                        model_label_map_path: Optional[str] = None) -> CheckpointEvaluation:
    """Scores a checkpoint on every image of records_pattern with COCO and PASCAL VOC metrics.

    label_map_path: the ids of the records' ground truth. class_mapping: model class id (1-based, as in
    model_label_map_path) -> ids of label_map_path; None when the model was trained on label_map_path's ids.
    """
    model, _ = load_detection_model(pipeline_config_path, checkpoint_path)
    categories = label_map_util.create_categories_from_labelmap(label_map_path, use_display_name=False)
    annotations = [example_to_annotation(example) for example in read_examples(records_pattern)]
    if not annotations:
        raise ValueError(f"{records_pattern}: no records")
    detect = _detect_fn(model)
    results = [_detect_one(detect, annotation, label_map_path, class_mapping) for annotation in annotations]
    return score_results(results, categories)


def _detect_one(detect, annotation: ImageAnnotation, label_map_path: str,
                class_mapping: Optional[Mapping[int, Sequence[int]]]) -> ImageResult:
    name_to_id = label_map_util.get_label_map_dict(label_map_path)
    image = tf.io.decode_image(annotation.read_encoded(), channels=3, expand_animations=False)
    output = {key: value.numpy() for key, value in detect(image).items()}
    count = int(output["num_detections"][0])
    scale = np.array([annotation.height, annotation.width, annotation.height, annotation.width], np.float64)
    boxes = output["detection_boxes"][0][:count].astype(np.float64) * scale
    scores = output["detection_scores"][0][:count].astype(np.float64)
    classes = output["detection_classes"][0][:count].astype(np.int64) + 1  # 0-based -> label map ids
    if class_mapping is not None:
        classes, boxes, scores = map_classes(classes, boxes, scores, class_mapping)
    gt_boxes = np.array([[o.ymin, o.xmin, o.ymax, o.xmax] for o in annotation.objects], np.float64).reshape(-1, 4)
    gt_classes = np.array([o.class_id if o.class_id else name_to_id[o.class_name] for o in annotation.objects],
                          np.int64)
    return ImageResult(annotation, gt_boxes, gt_classes, boxes, scores, classes)


def score_results(results: Sequence[ImageResult], categories: Sequence[dict]) -> CheckpointEvaluation:
    """COCO + PASCAL metrics, per-class AP@0.5 and PR curves of per-image results."""
    eval_config = type("EvalConfig", (), {"metrics_set": ["coco_detection_metrics", "pascal_voc_detection_metrics"],
                                          "include_metrics_per_category": True})()
    evaluators = build_evaluators(eval_config, categories)
    add_batch(evaluators, [r.image.source_id or r.image.filename for r in results],
              [{"groundtruth_boxes": r.groundtruth_boxes, "groundtruth_classes": r.groundtruth_classes}
               for r in results],
              [{"detection_boxes": r.detection_boxes, "detection_scores": r.detection_scores,
                "detection_classes": r.detection_classes} for r in results])
    metrics = evaluate_all(evaluators)
    names = {int(c["id"]): c["name"] for c in categories}
    pascal = [e for e in evaluators if hasattr(e, "precision_recall_curves")][0]
    per_class_ap = {names[k]: v for k, v in pascal.per_class_average_precision().items()}
    curves = {names[k]: v for k, v in pascal.precision_recall_curves().items()}
    return CheckpointEvaluation(metrics, per_class_ap, curves, list(results), names, pascal.per_image_matches())


def finite_or_none(value: float) -> Optional[float]:
    """JSON-friendly: NaN -> None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
