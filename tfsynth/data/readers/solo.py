"""Reader of Unity Perception SOLO datasets (Perception 1.0 layout, as written by Unity itself).

A SOLO folder holds metadata.json, annotation_definitions.json and sequence.N/stepM.frame_data.json files. Each
capture of a frame (one per camera) is one image: its file is named by the capture's "filename" (beside the
frame data; names contain spaces), boxes are the BoundingBox2DAnnotation values (origin and dimension in pixels,
top-left origin), classes their labelName. Instance masks come from the InstanceSegmentationAnnotation PNG:
an object's pixels are those of its instance colour.
"""
from __future__ import annotations

import json
import os
import re
from typing import Iterator, Optional

import numpy as np

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers.base import ErrorHandler, InputError, check_inside_root, raise_error

BOX_2D = "BoundingBox2DAnnotation"
INSTANCE_SEGMENTATION = "InstanceSegmentationAnnotation"


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}", f"not valid JSON: {error.msg}") from None
    except UnicodeDecodeError as error:
        raise InputError(path, f"byte {error.start} is not UTF-8 text ({error.reason}); expected a UTF-8 JSON "
                               "file") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None


def _natural_key(path: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def label_names_by_id(dataset_dir: str) -> dict[int, str]:
    """label_id -> label_name of the 2D-box annotator in annotation_definitions.json ({} when absent)."""
    path = os.path.join(dataset_dir, "annotation_definitions.json")
    if not os.path.isfile(path):
        return {}
    names = {}
    for definition in _load_json(path).get("annotationDefinitions", []):
        if definition.get("@type", "").endswith(BOX_2D):
            for entry in definition.get("spec", []):
                names[int(entry["label_id"])] = entry["label_name"]
    return names


_FRAME_DATA_SUFFIX = ".frame_data.json"


def frame_data_files(dataset_dir: str) -> list[str]:
    """Every sequence.N/step*.frame_data.json, in sequence then step order."""
    return [path for paths, _ in _sequences(dataset_dir) for path in paths]


def _sequences(dataset_dir: str) -> list[tuple[list[str], list[InputError]]]:
    """Per sequence.N folder, in order: (its frame data files, its problems: a folder without frame data, a step
    whose captures have no frame data beside them)."""
    sequences = []
    for sequence in sorted(os.listdir(dataset_dir), key=_natural_key):
        sequence_dir = os.path.join(dataset_dir, sequence)
        if not (sequence.startswith("sequence.") and os.path.isdir(sequence_dir)):
            continue
        names = sorted(os.listdir(sequence_dir), key=_natural_key)
        frames = [name for name in names if name.endswith(_FRAME_DATA_SUFFIX)]
        steps = {name[:-len(_FRAME_DATA_SUFFIX)] for name in frames}
        captured = dict.fromkeys(name.split(".", 1)[0] for name in names
                                 if re.fullmatch(r"step\d+\..+\.(png|jpg|jpeg)", name, re.IGNORECASE))
        problems = [InputError(os.path.join(sequence_dir, step + _FRAME_DATA_SUFFIX),
                               f"missing; the sequence holds captures of {step} without their frame data")
                    for step in captured if step not in steps]
        if not frames and not captured:
            problems.append(InputError(sequence_dir, "no step*.frame_data.json in this sequence folder; expected "
                                                     "the frame data of each step"))
        sequences.append(([os.path.join(sequence_dir, name) for name in frames], problems))
    return sequences


def _annotations_of(capture: dict, type_suffix: str, frame_path: str) -> list[dict]:
    annotations = capture.get("annotations", [])
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise InputError(frame_path, f"capture {capture.get('id')!r}: 'annotations' is {type(annotations).__name__}; "
                                     "expected a list of annotation objects")
    return [a for a in annotations if str(a.get("@type", "")).endswith(type_suffix)]


def _instance_masks(capture_dir: str, segmentation: dict, where: str, dataset_dir: str,
                    allow_outside_root: bool) -> dict[int, np.ndarray]:
    """instanceId -> 0/1 mask from the instance segmentation PNG and its colour table."""
    from PIL import Image
    path = os.path.join(capture_dir, segmentation.get("filename", ""))
    check_inside_root(path, dataset_dir, where, f"{segmentation.get('id')!r} filename "
                      f"{segmentation.get('filename')!r}", allow_outside_root, what="instance segmentation image")
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGBA"))
    except OSError as error:
        raise InputError(path, f"cannot read instance segmentation image ({where}): {error}") from None
    masks = {}
    for instance in segmentation.get("instances", []):
        color = np.array(instance["color"][:4] + [255] * (4 - len(instance["color"])), dtype=np.uint8)
        masks[int(instance["instanceId"])] = np.all(pixels == color, axis=-1).astype(np.uint8)
    return masks


def _capture_to_annotation(capture: dict, frame_path: str, dataset_dir: str, label_names: dict[int, str],
                           include_masks: bool, allow_outside_root: bool = False) -> ImageAnnotation:
    capture_dir = os.path.dirname(frame_path)
    filename = capture.get("filename")
    if not filename:
        raise InputError(frame_path, f"capture {capture.get('id')!r} has no 'filename'")
    dimension = capture.get("dimension") or [0, 0]
    width, height = int(round(float(dimension[0]))), int(round(float(dimension[1])))
    masks: dict[int, np.ndarray] = {}
    if include_masks:
        for segmentation in _annotations_of(capture, INSTANCE_SEGMENTATION, frame_path):
            masks.update(_instance_masks(capture_dir, segmentation, frame_path, dataset_dir, allow_outside_root))
    objects = []
    for annotation in _annotations_of(capture, BOX_2D, frame_path):
        values = annotation.get("values", [])
        if not isinstance(values, list) or not all(isinstance(value, dict) for value in values):
            raise InputError(frame_path, f"{annotation.get('id')!r}: 'values' is {type(values).__name__}; expected "
                                         "a list of box objects")
        for index, value in enumerate(values):
            name = value.get("labelName") or value.get("label_name") or label_names.get(value.get("labelId"))
            try:
                x, y = (float(v) for v in value["origin"])
                w, h = (float(v) for v in value["dimension"])
            except (KeyError, TypeError, ValueError):
                raise InputError(frame_path, f"{annotation.get('id')!r} value {index}: expected origin [x, y] "
                                             f"and dimension [w, h] in pixels") from None
            if not name:
                raise InputError(frame_path, f"{annotation.get('id')!r} value {index}: no labelName and "
                                             f"labelId {value.get('labelId')!r} is not defined")
            instance_id = value.get("instanceId")
            objects.append(ObjectAnnotation(class_name=name, xmin=x, ymin=y, xmax=x + w, ymax=y + h,
                                            mask=masks.get(instance_id) if include_masks else None))
    if include_masks and masks and any(obj.mask is None for obj in objects):
        raise InputError(frame_path, "an object of the 2D boxes has no instance in the segmentation image")
    image_path = os.path.join(capture_dir, filename)
    if not os.path.exists(image_path) and os.path.exists(os.path.join(dataset_dir, filename)):
        image_path = os.path.join(dataset_dir, filename)  # a filename given relative to the dataset root
    check_inside_root(image_path, dataset_dir, frame_path, f"capture {capture.get('id')!r} filename {filename!r}",
                      allow_outside_root)
    relative = os.path.relpath(image_path, dataset_dir).replace(os.sep, "/")
    if relative.startswith("../") or os.path.isabs(filename):
        relative = filename  # allowed outside the root: a chain of '../' would name nothing useful
    image_format = str(capture.get("imageFormat", os.path.splitext(filename)[1][1:])).lower()
    return ImageAnnotation(filename=relative, width=width, height=height, objects=objects, path=image_path,
                           image_format="jpeg" if image_format in ("jpg", "jpeg") else image_format)


def read(input_path: str, on_error: ErrorHandler = raise_error, include_masks: bool = False,
         allow_outside_root: bool = False) -> Iterator[ImageAnnotation]:
    """Every camera capture of the SOLO dataset at `input_path`, sequence by sequence, step by step.

    The dataset root is `input_path`: a capture whose filename (or instance segmentation filename) resolves
    outside it ('../', absolute path, escaping symbolic link) goes to on_error naming the frame data JSON file
    and the capture, and is skipped, unless allow_outside_root.
    """
    if not os.path.isdir(input_path):
        raise InputError(input_path, "not a folder; expected a SOLO dataset folder")
    sequences = _sequences(input_path)
    files = [path for paths, _ in sequences for path in paths]
    if not files:
        raise InputError(input_path, "no sequence.N/step*.frame_data.json files: not a SOLO dataset")
    # A step whose frame data is missing would otherwise drop out of the dataset without a word.
    for _, problems in sequences:
        for problem in problems:
            on_error(problem)
    label_names = label_names_by_id(input_path)
    for frame_path in files:
        try:
            frame = _load_json(frame_path)
            if not isinstance(frame, dict):
                raise InputError(frame_path, f"a JSON {type(frame).__name__}; expected an object with 'captures'")
            captures = frame.get("captures", [])
            if not isinstance(captures, list) or not all(isinstance(c, dict) for c in captures):
                found = (f"a {type(captures).__name__}" if not isinstance(captures, list) else
                         f"a list holding a {next(type(c).__name__ for c in captures if not isinstance(c, dict))}")
                raise InputError(frame_path, f"'captures' is {found}; expected a list of capture objects")
            # RGB camera captures only: other sensors (depth, normals) also name files but are not photos.
            captures = [c for c in captures
                        if c.get("filename") and str(c.get("@type", "RGBCamera")).endswith("RGBCamera")]
        except InputError as error:
            on_error(error)
            continue
        for capture in captures:
            try:
                annotation = _capture_to_annotation(capture, frame_path, input_path, label_names, include_masks,
                                                    allow_outside_root)
            except InputError as error:
                on_error(error)
                continue
            yield annotation
