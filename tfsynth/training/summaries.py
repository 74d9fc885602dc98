"""TensorBoard summaries of training and evaluation (tf.summary), with the OD API's tag names."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfsynth.utils import visualization


def write_scalars(writer: tf.summary.SummaryWriter, scalars: Mapping[str, float], step: int,
                  flush: bool = True) -> None:
    """One scalar per entry (e.g. Loss/total_loss, learning_rate, steps_per_sec, DetectionBoxes_Precision/mAP).

    flush=False leaves the events in the writer's buffer (written at the next flush, or by the writer itself
    every two minutes): the training loop writes every step and flushes only when it logs or checkpoints, which
    keeps file writes off the per-step path."""
    with writer.as_default(step=step):
        for name, value in scalars.items():
            value = float(np.asarray(value))
            if np.isfinite(value):
                tf.summary.scalar(name, value)
        if flush:
            writer.flush()


def write_images(writer: tf.summary.SummaryWriter, name: str, images: Sequence[np.ndarray], step: int,
                 max_outputs: int = 3) -> None:
    """uint8 [H, W, 3] images (sizes may differ: each goes in under name_i when they do)."""
    if not images:
        return
    with writer.as_default(step=step):
        shapes = {np.asarray(image).shape for image in images}
        if len(shapes) == 1:
            tf.summary.image(name, np.stack(images)[:max_outputs], max_outputs=max_outputs)
        else:
            for index, image in enumerate(images[:max_outputs]):
                tf.summary.image(f"{name}_{index}", np.asarray(image)[None], max_outputs=1)
        writer.flush()


def training_images_with_boxes(images: np.ndarray, groundtruth_boxes: Sequence[np.ndarray],
                               groundtruth_classes: Sequence[np.ndarray],
                               category_index: Optional[Mapping[int, dict]] = None,
                               max_images: int = 3) -> list[np.ndarray]:
    """The input batch (float images, any range) as uint8 with the ground-truth boxes (normalized) drawn."""
    result = []
    for index in range(min(max_images, len(images))):
        image = np.asarray(images[index], dtype=np.float32)
        low, high = float(image.min()), float(image.max())
        if low < 0 or high <= 1.0:  # preprocessed or [0, 1] input: stretch for display
            image = (image - low) / max(high - low, 1e-6) * 255.0
        result.append(visualization.draw_boxes(image, groundtruth_boxes[index], groundtruth_classes[index],
                                               category_index=category_index))
    return result
