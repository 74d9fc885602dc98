"""Reader of the CNTK object-detection layout (Azure/ObjectDetectionUsingCntk, e.g. data/real/cntk_fridge_us).

Folders of images N.jpg, each with N.bboxes.tsv (one box per line: x1<TAB>y1<TAB>x2<TAB>y2, absolute pixels,
top-left origin) and N.bboxes.labels.tsv (one class name per line, same order). An image with neither file is a
negative (no objects); an image with only one of them is an error, and so are box files without their image.
Links leading out of the folder are refused (see `read`).
"""
from __future__ import annotations

import codecs
import os
from typing import Iterator

from PIL import Image

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers.base import ErrorHandler, InputError, check_inside_root, raise_error

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BOXES_SUFFIX = ".bboxes.tsv"
LABELS_SUFFIX = ".bboxes.labels.tsv"


def _walk(root: str) -> tuple[list[str], list[str]]:
    """(image files, annotation files) under root, sorted as the walk finds them."""
    images, annotations = [], []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                images.append(os.path.join(folder, name))
            elif name.endswith((BOXES_SUFFIX, LABELS_SUFFIX)):
                annotations.append(os.path.join(folder, name))
    return images, annotations


def _annotation_stem(path: str) -> str:
    return path[:-len(LABELS_SUFFIX)] if path.endswith(LABELS_SUFFIX) else path[:-len(BOXES_SUFFIX)]


def _header_size(path: str) -> tuple[int, int]:
    """Size from the image header; (0, 0) when unreadable (the converter reports the broken file)."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return 0, 0


def _read_lines(path: str) -> list[tuple[int, str]]:
    """The non-blank lines of a UTF-8 tsv with their 1-based numbers; InputError naming this file otherwise."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror}") from None
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""  # no part of the first label
    try:
        text = data[len(bom):].decode("utf-8")
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}", f"byte {error.start + len(bom)} is not UTF-8 text ({error.reason}); "
                         "expected a UTF-8 tsv file") from None
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _parse_objects(boxes_path: str, labels_path: str) -> list[ObjectAnnotation]:
    boxes = _read_lines(boxes_path)
    labels = _read_lines(labels_path)
    if len(boxes) != len(labels):
        raise InputError(boxes_path, f"{len(boxes)} boxes but {len(labels)} labels in {labels_path}")
    objects = []
    for (line_number, box_line), (_, label) in zip(boxes, labels):
        fields = box_line.split("\t") if "\t" in box_line else box_line.split()
        try:
            x1, y1, x2, y2 = (float(value) for value in fields)
        except ValueError:
            raise InputError(f"{boxes_path}:{line_number}",
                             f"expected 4 numbers x1<TAB>y1<TAB>x2<TAB>y2, got {box_line!r}") from None
        objects.append(ObjectAnnotation(class_name=label, xmin=x1, ymin=y1, xmax=x2, ymax=y2))
    return objects


def _check_links(image_path: str, input_path: str, has_boxes: bool, allow_outside_root: bool) -> None:
    """OutsideRootError when the image or its box files are symbolic links leading out of input_path (the walk
    only finds names inside it, so links are the one way out)."""
    stem = os.path.splitext(image_path)[0]
    relative = os.path.relpath(image_path, input_path).replace(os.sep, "/")
    check_inside_root(image_path, input_path, stem + BOXES_SUFFIX if has_boxes else image_path,
                      f"image {relative!r}", allow_outside_root)
    if has_boxes:
        for path in (stem + BOXES_SUFFIX, stem + LABELS_SUFFIX):
            check_inside_root(path, input_path, path, f"annotation file of image {relative!r}", allow_outside_root,
                              what="annotation file")


def read(input_path: str, on_error: ErrorHandler = raise_error, allow_outside_root: bool = False
         ) -> Iterator[ImageAnnotation]:
    """Every image under `input_path` (recursively, sorted) with its boxes; filename is relative to it.

    The dataset root is `input_path`: an image or box file that is a symbolic link resolving outside it goes to
    on_error naming the box file (or the image, for a negative) and the image, and is skipped, unless
    allow_outside_root.
    """
    if not os.path.isdir(input_path):
        raise InputError(input_path, "not a folder; expected the root of a CNTK image/box-file layout")
    image_paths, annotation_paths = _walk(input_path)
    # Boxes without their image would otherwise vanish from the dataset without a word (a photo lost in a copy).
    image_stems = {os.path.splitext(path)[0] for path in image_paths}
    orphans = dict.fromkeys(_annotation_stem(path) for path in annotation_paths
                            if _annotation_stem(path) not in image_stems)
    for stem in orphans:
        path = stem + BOXES_SUFFIX if os.path.exists(stem + BOXES_SUFFIX) else stem + LABELS_SUFFIX
        on_error(InputError(path, f"no image beside it; expected {os.path.basename(stem)} with one of the "
                                  f"extensions {', '.join(IMAGE_EXTENSIONS)}"))
    for image_path in image_paths:
        stem = os.path.splitext(image_path)[0]
        boxes_path, labels_path = stem + BOXES_SUFFIX, stem + LABELS_SUFFIX
        has_boxes, has_labels = os.path.exists(boxes_path), os.path.exists(labels_path)
        try:
            if has_boxes != has_labels:
                missing = labels_path if has_boxes else boxes_path
                raise InputError(missing, f"annotation file missing (needed for {image_path})")
            _check_links(image_path, input_path, has_boxes, allow_outside_root)
            objects = _parse_objects(boxes_path, labels_path) if has_boxes else []
        except InputError as error:
            on_error(error)
            continue
        width, height = _header_size(image_path)
        relative = os.path.relpath(image_path, input_path)
        yield ImageAnnotation(filename=relative.replace(os.sep, "/"), width=width, height=height,
                              objects=objects, path=image_path,
                              image_format="png" if image_path.lower().endswith(".png") else "jpeg",
                              annotation_path=boxes_path if has_boxes else None)
