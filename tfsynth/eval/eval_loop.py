"""One evaluation pass of a detection model over an eval dataset (the OD API's eager_eval_loop): detections,
losses, COCO / PASCAL metrics, side-by-side images."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfsynth.core import model_step
from tfsynth.core.standard_fields import DetectionResultFields as results
from tfsynth.core.standard_fields import InputDataFields as fields
from tfsynth.eval import evaluator as evaluator_lib
from tfsynth.utils import visualization

LABEL_ID_OFFSET = 1  # detection_classes are 0-based, label map ids start at 1


def _image_sizes(features: dict) -> np.ndarray:
    """[B, 2] (height, width) of the original images, the frame the absolute boxes are given in."""
    for key in (fields.original_image_spatial_shape, fields.true_image_shape):
        if key in features:
            return np.asarray(features[key])[:, :2]
    image = np.asarray(features[fields.image])
    return np.tile(np.array(image.shape[1:3])[None], (image.shape[0], 1))


def _numpy_batch(features: dict, labels: dict, detections: dict) -> list[tuple[dict, dict]]:
    """Per image: (ground truth dict, detections dict) with absolute boxes and label-map class ids."""
    sizes = _image_sizes(features)
    batch = sizes.shape[0]
    num_gt = np.asarray(labels.get(fields.num_groundtruth_boxes,
                                   [np.asarray(labels[fields.groundtruth_boxes]).shape[1]] * batch))
    gt_classes = np.asarray(model_step.one_hot_to_label_ids(tf.convert_to_tensor(labels[fields.groundtruth_classes]),
                                                            LABEL_ID_OFFSET))
    num_det = np.asarray(detections[results.num_detections]).astype(np.int64)
    out = []
    for i in range(batch):
        scale = np.array([sizes[i][0], sizes[i][1], sizes[i][0], sizes[i][1]], np.float64)
        n = int(num_gt[i])
        gt = {"groundtruth_boxes": np.asarray(labels[fields.groundtruth_boxes])[i, :n] * scale,
              "groundtruth_classes": gt_classes[i, :n]}
        for key in (fields.groundtruth_difficult, fields.groundtruth_is_crowd, fields.groundtruth_area):
            if key in labels:
                gt[key] = np.asarray(labels[key])[i, :n]
        m = int(num_det[i])
        det = {"detection_boxes": np.asarray(detections[results.detection_boxes])[i, :m] * scale,
               "detection_scores": np.asarray(detections[results.detection_scores])[i, :m],
               "detection_classes": np.asarray(detections[results.detection_classes])[i, :m].astype(np.int64)
               + LABEL_ID_OFFSET}
        out.append((gt, det))
    return out


def _display_image(features: dict, index: int) -> np.ndarray:
    if fields.original_image in features:
        image = np.asarray(features[fields.original_image][index])
        if fields.original_image_spatial_shape in features:
            height, width = np.asarray(features[fields.original_image_spatial_shape][index])[:2]
            image = image[:height, :width]
        return image.astype(np.uint8) if image.max() > 1.0 else (image * 255).astype(np.uint8)
    image = np.asarray(features[fields.image][index], np.float32)
    if fields.true_image_shape in features:
        height, width = np.asarray(features[fields.true_image_shape][index])[:2]
        image = image[:height, :width]
    low, high = float(image.min()), float(image.max())
    return ((image - low) / max(high - low, 1e-6) * 255).astype(np.uint8)


def side_by_side_image(features: dict, index: int, groundtruth: dict, detections: dict,
                       category_index: Mapping[int, dict], min_score: float, max_boxes: int) -> np.ndarray:
    """Detections (left) beside ground truth (right) on one eval image, as the OD API's eval_side_by_side_N."""
    image = _display_image(features, index)
    height, width = image.shape[:2]
    sizes = _image_sizes(features)[index]
    # boxes are absolute in the original image frame; bring them to the displayed image's frame
    factor = np.array([height / sizes[0], width / sizes[1]] * 2, np.float64)
    left = visualization.draw_boxes(image, detections["detection_boxes"] * factor, detections["detection_classes"],
                                    detections["detection_scores"], category_index, min_score=min_score,
                                    max_boxes=max_boxes, normalized=False)
    right = visualization.draw_boxes(image, groundtruth["groundtruth_boxes"] * factor,
                                     groundtruth["groundtruth_classes"], None, category_index, max_boxes=max_boxes,
                                     normalized=False)
    return visualization.side_by_side(left, right)


def eager_eval_loop(model: Any, eval_config: Any, eval_dataset: tf.data.Dataset, categories: Sequence[dict],
                    add_regularization_loss: bool = True, max_batches: Optional[int] = None
                    ) -> tuple[dict[str, float], list[np.ndarray]]:
    """Runs the model (built with is_training=False) over eval_dataset once.

    Returns (metrics, side-by-side images): metrics holds the metrics_set metrics plus the mean Loss/* values.
    """
    evaluators = evaluator_lib.build_evaluators(eval_config, categories)
    category_index = {int(c["id"]): c for c in categories}
    num_visualizations = int(getattr(eval_config, "num_visualizations", 10))
    min_score = float(getattr(eval_config, "min_score_threshold", 0.5))
    max_boxes = int(getattr(eval_config, "max_num_boxes_to_visualize", 20))

    @tf.function(autograph=False)  # TensorFlow ops throughout: AutoGraph's rewrite would only slow the tracing
    def step(features, labels):
        losses, predictions = model_step.compute_losses(model, features, labels, add_regularization_loss,
                                                        unpad_groundtruth_tensors=True)
        detections = model.postprocess(predictions, features[fields.true_image_shape])
        return losses, detections

    loss_sums: dict[str, float] = {}
    images: list[np.ndarray] = []
    image_count = 0
    batches = 0
    started = time.time()
    for features, labels in eval_dataset:
        if max_batches is not None and batches >= max_batches:
            break
        losses, detections = step(features, labels)
        batches += 1
        for name, value in losses.items():
            loss_sums[name] = loss_sums.get(name, 0.0) + float(value)
        features_np = {k: v.numpy() for k, v in features.items() if isinstance(v, tf.Tensor)}
        labels_np = {k: v.numpy() for k, v in labels.items() if isinstance(v, tf.Tensor)}
        detections_np = {k: v.numpy() for k, v in detections.items()}
        pairs = _numpy_batch(features_np, labels_np, detections_np)
        ids = list(range(image_count, image_count + len(pairs)))
        evaluator_lib.add_batch(evaluators, ids, [p[0] for p in pairs], [p[1] for p in pairs])
        for index, (gt, det) in enumerate(pairs):
            if len(images) < num_visualizations:
                images.append(side_by_side_image(features_np, index, gt, det, category_index, min_score, max_boxes))
        image_count += len(pairs)
    if image_count == 0:
        raise ValueError("evaluation dataset is empty (check eval_input_reader input_path or tfds_input_reader, and "
                         "sample_1_of_n)")
    metrics = evaluator_lib.evaluate_all(evaluators)
    metrics.update({name: total / batches for name, total in loss_sums.items()})
    logging.info("Evaluated %d images in %.1fs", image_count, time.time() - started)
    return metrics, images
