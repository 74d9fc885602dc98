r"""Runs an exported detection SavedModel on image files; writes detections JSON and annotated images.

  python -m tfsynth.detect --saved_model exported/saved_model --images 'photos/*.jpg' --output_dir out \
      [--label_map label_map.pbtxt] [--min_score 0.5]

out/detections.json: one entry per image with its detections (score >= min_score): class id, name, score, the
box [ymin, xmin, ymax, xmax] normalized and [x1, y1, x2, y2] in pixels, and `output`, the annotated image.
The annotated image of each input keeps its path relative to the deepest folder holding every matched image, with
the extension .png: photos/a/1.jpg and photos/b/1.jpg -> out/a/1.png and out/b/1.png (a flat name would write both
to 1.png). Two inputs that still share a name (1.jpg and 1.png in one folder), or an output that would overwrite an
input, stop the command before the model is loaded, naming the files.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import sys
from typing import Optional

if __package__ in (None, ""):  # run as a script (python tfsynth/NAME.py): import from the repository root, and
    # not from tfsynth/, whose inspect.py would shadow the standard library's
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from absl import app, flags
from PIL import Image

from tfsynth.utils import cli
from tfsynth.utils.files import write_atomically
from tfsynth.utils.preflight import check_input_file, check_output_dir

flags.DEFINE_string("saved_model", None, "Exported SavedModel folder (or the export folder holding saved_model/).")
flags.DEFINE_string("images", None, "Glob of image files (quote it), or a comma-separated list of globs.")
flags.DEFINE_string("output_dir", None, "Folder for detections.json and the annotated images.")
flags.DEFINE_string("label_map", None, "label_map.pbtxt for class names (optional).")
flags.DEFINE_float("min_score", 0.5, "Detections below this score are left out.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("max_boxes", 100, "At most this many detections per image.", lower_bound=1)
FLAGS = flags.FLAGS


def saved_model_folder(saved_model: str) -> str:
    """The folder holding saved_model.pb: `saved_model` itself or its saved_model/ (an export folder);
    FileNotFoundError naming the flag otherwise."""
    folder = os.path.join(saved_model, "saved_model") if os.path.isdir(os.path.join(saved_model, "saved_model")) \
        else saved_model
    check_input_file(os.path.join(folder, "saved_model.pb"), "--saved_model")
    return folder


def output_names(paths: list[str], output_dir: str) -> dict[str, str]:
    """Each image's annotated image under output_dir (see the module docstring); ValueError naming the files when two
    images would get one name or an output would overwrite an input."""
    absolute = [os.path.abspath(path) for path in paths]
    root = os.path.commonpath([os.path.dirname(path) for path in absolute])
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    for path, full in zip(paths, absolute):
        target = os.path.join(output_dir, os.path.splitext(os.path.relpath(full, root))[0] + ".png")
        key = os.path.normcase(os.path.abspath(target))
        if key in owner:
            raise ValueError(f"--images: {owner[key]} and {path} would both be drawn to {target}; rename one or "
                             "run them separately")
        owner[key] = path
        names[path] = target
    inputs = {os.path.normcase(path) for path in absolute}
    for path, target in names.items():
        if os.path.normcase(os.path.abspath(target)) in inputs:
            raise ValueError(f"--output_dir {output_dir}: the annotated image {target} would overwrite an input "
                             "image; choose another --output_dir")
    return names


class Detector:
    """An exported SavedModel's serving signature, fed with image files."""

    def __init__(self, saved_model_dir: str):
        saved_model_dir = saved_model_folder(saved_model_dir)
        import tensorflow as tf
        self._tf = tf
        self._loaded = tf.saved_model.load(saved_model_dir)
        if "serving_default" not in self._loaded.signatures:
            raise ValueError(f"--saved_model {saved_model_dir}: no 'serving_default' signature (it has "
                             f"{sorted(self._loaded.signatures) or 'none'}); expected a SavedModel written by "
                             "exporter_main_v2")
        self._serve = self._loaded.signatures["serving_default"]
        outputs = set(self._serve.structured_outputs)
        missing = sorted({"detection_boxes", "detection_scores", "detection_classes"} - outputs)
        _, specs = self._serve.structured_input_signature
        if missing or len(specs) != 1:
            raise ValueError(f"--saved_model {saved_model_dir}: its serving signature takes {sorted(specs)} and "
                             f"gives {sorted(outputs)}; expected one image input and detection_boxes, "
                             "detection_scores and detection_classes (a SavedModel written by exporter_main_v2)")
        self._input_name, spec = next(iter(specs.items()))
        self._input_dtype = spec.dtype
        self._as_example: Optional[bool] = None  # a string input: encoded image or tf.Example, learnt on first use

    def _serve_encoded(self, encoded: bytes) -> dict:
        """A string input is either an encoded image (encoded_image_string_tensor) or a serialized tf.Example
        holding one (tf_example): the signature does not say which, so the first image tries the image first."""
        tf = self._tf
        if self._as_example is None:
            try:
                outputs = self._serve(**{self._input_name: tf.constant([encoded])})
                self._as_example = False
                return outputs
            except (tf.errors.OpError, ValueError, UnicodeDecodeError):
                self._as_example = True
        if not self._as_example:
            return self._serve(**{self._input_name: tf.constant([encoded])})
        example = tf.train.Example(features=tf.train.Features(feature={
            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))}))
        return self._serve(**{self._input_name: tf.constant([example.SerializeToString()])})

    def detect_file(self, path: str) -> tuple[np.ndarray, dict]:
        """Returns (the image as uint8 RGB, {output name: numpy array without the batch dimension})."""
        tf = self._tf
        with open(path, "rb") as stream:
            encoded = stream.read()
        try:
            image = rgb8(Image.open(path))
        except OSError as error:
            raise ValueError(f"{path}: not a readable image ({error})") from error
        if self._input_dtype == tf.string:
            outputs = self._serve_encoded(encoded)
        else:
            value = image[None] if self._input_dtype == tf.uint8 else image[None].astype(np.float32)
            outputs = self._serve(**{self._input_name: tf.constant(value)})
        return image, {name: tensor.numpy()[0] for name, tensor in outputs.items()}


def rgb8(image: Image.Image) -> np.ndarray:
    """An image as uint8 RGB. 16- and 32-bit grayscale are scaled to 8 bits: Pillow's convert('RGB') clips them,
    turning nearly every pixel of a 16-bit photo white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


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
    """Detects on every matched image; returns the path of detections.json.

    The images, the output names, the label map, the SavedModel's files and the output folder are checked before
    TensorFlow loads the model.
    """
    paths = sorted({p for pattern in image_globs.split(",") for p in glob.glob(os.path.expanduser(pattern.strip()))
                    if os.path.isfile(p)})
    if not paths:
        raise FileNotFoundError(f"--images {image_globs!r} matches no file")
    targets = output_names(paths, output_dir)
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"--min_score {min_score}: expected 0 to 1")
    if max_boxes < 1:
        raise ValueError(f"--max_boxes {max_boxes}: expected 1 or more")
    names: dict[int, str] = {}
    if label_map:
        from tfsynth.utils import label_map_util
        check_input_file(label_map, "--label_map")
        names = {int(c["id"]): c["name"] for c in label_map_util.create_categories_from_labelmap(label_map)}
    saved_model_folder(saved_model)
    check_output_dir(output_dir, "--output_dir")
    from tfsynth.utils import visualization
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
        target = targets[path]
        record["output"] = os.path.abspath(target)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        temporary = os.path.join(os.path.dirname(target), f".tmp-{os.path.basename(target)}")
        Image.fromarray(drawn).save(temporary, format="PNG")
        os.replace(temporary, target)
        logging.info("%s: %d detections", path, len(record["detections"]))
    result = os.path.join(output_dir, "detections.json")
    write_atomically(result, json.dumps({"saved_model": os.path.abspath(saved_model), "min_score": min_score,
                                         "images": records}, indent=2))
    return result


def main(unused_argv) -> None:
    """The command (run_detection with the flags)."""
    logging.getLogger().setLevel(logging.INFO)
    for name in ("saved_model", "images", "output_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required")
    print(run_detection(FLAGS.saved_model, FLAGS.images, FLAGS.output_dir, FLAGS.label_map, FLAGS.min_score,
                        FLAGS.max_boxes))


def run() -> None:
    """Entry point: errors end as one line (tfsynth.utils.cli)."""
    cli.run(main, "detect")


if __name__ == "__main__":
    run()
