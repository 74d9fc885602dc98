"""Boxes drawn on images (Pillow >= 10) for TensorBoard and tfsynth.detect, and side-by-side eval images."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_COLORS = ["#E6194B", "#3CB44B", "#FFE119", "#4363D8", "#F58231", "#911EB4", "#46F0F0", "#F032E6",
           "#BCF60C", "#FABEBE", "#008080", "#E6BEFF", "#9A6324", "#FFFAC8", "#800000", "#AAFFC3"]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable default font
    except TypeError:
        return ImageFont.load_default()


def draw_boxes(image: np.ndarray, boxes: np.ndarray, classes: Optional[Sequence[int]] = None,
               scores: Optional[Sequence[float]] = None, category_index: Optional[Mapping[int, dict]] = None,
               min_score: float = 0.5, max_boxes: int = 20, normalized: bool = True,
               line_width: Optional[int] = None) -> np.ndarray:
    """Returns a copy of image (uint8 [H, W, 3]) with boxes [N, 4] ([ymin, xmin, ymax, xmax], normalized or
    absolute) drawn and labelled 'name: score%'. Boxes with score < min_score are skipped (all boxes are drawn
    when scores is None, e.g. ground truth); at most max_boxes, highest scores first."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    picture = Image.fromarray(array[..., :3]).convert("RGB")
    height, width = array.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.arange(len(boxes)) if scores is None else np.argsort(-np.asarray(scores, dtype=np.float64))
    draw = ImageDraw.Draw(picture)
    line_width = line_width or max(1, round(min(height, width) / 150))
    font = _font(max(8, round(min(height, width) / 30)))
    drawn = 0
    for index in order:
        if drawn >= max_boxes:
            break
        if scores is not None and scores[index] < min_score:
            continue
        ymin, xmin, ymax, xmax = boxes[index]
        if normalized:
            ymin, ymax, xmin, xmax = ymin * height, ymax * height, xmin * width, xmax * width
        class_id = int(classes[index]) if classes is not None else 0
        color = _COLORS[class_id % len(_COLORS)]
        draw.rectangle([xmin, ymin, xmax, ymax], outline=color, width=line_width)
        label = ""
        if category_index is not None and class_id in category_index:
            label = str(category_index[class_id].get("name", class_id))
        elif classes is not None:
            label = str(class_id)
        if scores is not None:
            label = f"{label}: {int(round(100 * float(scores[index])))}%" if label else f"{100 * scores[index]:.0f}%"
        if label:
            left, top, right, bottom = draw.textbbox((xmin, ymin), label, font=font)
            top_y = ymin - (bottom - top) - 2 if ymin - (bottom - top) - 2 >= 0 else ymin
            draw.rectangle([xmin, top_y, xmin + (right - left) + 4, top_y + (bottom - top) + 2], fill=color)
            draw.text((xmin + 2, top_y), label, fill="black", font=font)
        drawn += 1
    return np.asarray(picture)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The two uint8 images next to each other (heights padded with black to the taller one)."""
    height = max(left.shape[0], right.shape[0])

    def pad(image: np.ndarray) -> np.ndarray:
        return np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0)))

    return np.concatenate([pad(left), pad(right)], axis=1)
