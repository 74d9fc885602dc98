r"""Runs an exported detection SavedModel on image files; writes detections JSON and annotated images.

  python -m tfsynth.detect --saved_model exported/saved_model --images 'photos/*.jpg' --output_dir out \
      [--label_map label_map.pbtxt] [--min_score 0.5]

out/detections.json: one entry per image with its detections (score >= min_score): class id, name, score, the
box [ymin, xmin, ymax, xmax] normalized and [x1, y1, x2, y2] in pixels; out/NAME.png: the image with the boxes.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import sys
from typing import Any, Optional

if __package__ in (None, ""):  # run as a script (python tfsynth/NAME.py): import from the repository root, and
    # not from tfsynth/, whose inspect.py would shadow the standard library's
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from absl import app, flags
from PIL import Image

from tfsynth.utils.files import write_atomically

flags.DEFINE_string("saved_model", None, "Exported SavedModel folder (or the export folder holding saved_model/).")
flags.DEFINE_string("images", None, "Glob of image files (quote it), or a comma-separated list of globs.")
flags.DEFINE_string("output_dir", None, "Folder for detections.json and the annotated images.")
flags.DEFINE_string("label_map", None, "label_map.pbtxt for class names (optional).")
flags.DEFINE_float("min_score", 0.5, "Detections below this score are left out.")
flags.DEFINE_integer("max_boxes", 100, "At most this many detections per image.")
FLAGS = flags.FLAGS


class Detector:
    """An exported SavedModel's serving signature, fed with image files."""

    def __init__(self, saved_model_dir: str):
        import tensorflow as tf
        if os.path.isdir(os.path.join(saved_model_dir, "saved_model")):
            saved_model_dir = os.path.join(saved_model_dir, "saved_model")
        if not os.path.exists(os.path.join(saved_model_dir, "saved_model.pb")):
            raise FileNotFoundError(f"--saved_model {saved_model_dir}: no saved_model.pb there")
        self._tf = tf
        self._loaded = tf.saved_model.load(saved_model_dir)
        self._serve = self._loaded.signatures["serving_default"]
        _, specs = self._serve.structured_input_signature
        self._input_name, spec = next(iter(specs.items()))
        self._input_dtype = spec.dtype

    def detect_file(self, path: str) -> tuple[np.ndarray, dict]:
        """Returns (the image as uint8 RGB, {output name: numpy array without the batch dimension})."""
        tf = self._tf
        with open(path, "rb") as stream:
            encoded = stream.read()
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as error:
            raise ValueError(f"{path}: not a readable image ({error})") from error
        if self._input_dtype == tf.string:
            value = tf.constant([encoded])
        elif self._input_dtype == tf.uint8:
            value = tf.constant(image[None])
        else:
            value = tf.constant(image[None].astype(np.float32))
        outputs = self._serve(**{self._input_name: value})
        return image, {name: tensor.numpy()[0] for name, tensor in outputs.items()}


def detections_record(path: str, image: np.ndarray, outputs: dict, names: dict, min_score: float,
                      max_boxes: int) -> dict:
    """The JSON entry of one image."""
    height, width = image.shape[:2]
    count = int(outputs.get("num_detections", len(outputs["detection_scores"])))
    entries = []
    for index in range(min(count, max_boxes)):
        score = float(outputs["detection_scores"][index])
        if score < min_score:
            continue
        box = [float(v) for v in outputs["detection_boxes"][index]]
        class_id = int(round(float(outputs["detection_classes"][index])))
        entries.append({"class_id": class_id, "name": names.get(class_id, f"class_{class_id}"), "score": score,
                        "box": box, "box_pixels": [box[1] * width, box[0] * height, box[3] * width,
                                                   box[2] * height]})
    return {"image": os.path.abspath(path), "width": width, "height": height, "detections": entries}


def run_detection(saved_model: str, image_globs: str, output_dir: str, label_map: Optional[str] = None,
                  min_score: float = 0.5, max_boxes: int = 100) -> str:
    """Detects on every matched image; returns the path of detections.json."""
    from tfsynth.training import visualization
    paths = sorted({p for pattern in image_globs.split(",") for p in glob.glob(os.path.expanduser(pattern.strip()))})
    if not paths:
        raise FileNotFoundError(f"--images {image_globs!r} matches no file")
    names: dict[int, str] = {}
    if label_map:
        from tfsynth.utils import label_map_util
        names = {int(c["id"]): c["name"] for c in label_map_util.create_categories_from_labelmap(label_map)}
    detector = Detector(saved_model)
    os.makedirs(output_dir, exist_ok=True)
    records = []
    category_index = {i: {"id": i, "name": n} for i, n in names.items()}
    for path in paths:
        image, outputs = detector.detect_file(path)
        record = detections_record(path, image, outputs, names, min_score, max_boxes)
        records.append(record)
        drawn = visualization.draw_boxes(image, [d["box"] for d in record["detections"]],
                                         [d["class_id"] for d in record["detections"]],
                                         [d["score"] for d in record["detections"]], category_index,
                                         min_score=min_score, max_boxes=max_boxes)
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(output_dir, f"{stem}.png")
        temporary = os.path.join(output_dir, f".tmp-{stem}.png")
        Image.fromarray(drawn).save(temporary)
        os.replace(temporary, target)
        logging.info("%s: %d detections", path, len(record["detections"]))
    result = os.path.join(output_dir, "detections.json")
    write_atomically(result, json.dumps({"saved_model": os.path.abspath(saved_model), "min_score": min_score,
                                         "images": records}, indent=2))
    return result


def main(unused_argv) -> None:
    logging.getLogger().setLevel(logging.INFO)
    for name in ("saved_model", "images", "output_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required")
    print(run_detection(FLAGS.saved_model, FLAGS.images, FLAGS.output_dir, FLAGS.label_map, FLAGS.min_score,
                        FLAGS.max_boxes))


def run() -> None:
    """Entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
