"""Reader of Pascal VOC XML annotations.

Accepted layouts of `input_path`:
- a VOC year folder (VOC2007/ with Annotations/, JPEGImages/, ImageSets/Main/SPLIT.txt): the images of the split;
- a VOCdevkit root holding such year folders: the split of each, in sorted order;
- a plain folder of .xml files: every file, its image found in a JPEGImages folder beside it, or beside the XML.
Images must lie inside the dataset root (see `read`).
Boxes are taken as written (the OD API's create_pascal_tf_record divides them by the size without a -1 shift);
difficult and truncated are kept.
"""
from __future__ import annotations

import glob
import math
import os
import xml.etree.ElementTree as ElementTree
from typing import Iterator, Optional

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers.base import ErrorHandler, InputError, check_inside_root, raise_error


def _text(element: ElementTree.Element, tag: str, xml_path: str, required: bool = True) -> Optional[str]:
    child = element.find(tag)
    if child is None or child.text is None:
        if required:
            raise InputError(xml_path, f"<{element.tag}> lacks <{tag}>")
        return None
    return child.text.strip()


def _number(element: ElementTree.Element, tag: str, xml_path: str) -> float:
    value = _text(element, tag, xml_path)
    try:
        number = float(value)
    except ValueError:
        raise InputError(xml_path, f"<{tag}> is {value!r}; expected a number") from None
    if not math.isfinite(number):
        raise InputError(xml_path, f"<{tag}> is {value!r}; expected a finite number")
    return number


def _flag(element: ElementTree.Element, tag: str, xml_path: str) -> bool:
    value = _text(element, tag, xml_path, required=False)
    return value not in (None, "", "0")


def parse_voc_xml(xml_path: str, image_dir: Optional[str] = None) -> ImageAnnotation:
    """One VOC XML file as an ImageAnnotation; the image is image_dir/filename (image_dir defaults to a
    JPEGImages folder beside the XML's folder when there is one, else the XML's folder)."""
    try:
        root = ElementTree.parse(xml_path).getroot()
    except ElementTree.ParseError as error:
        line = error.position[0] if error.position else "?"
        raise InputError(f"{xml_path}:{line}", f"not well-formed XML: {error}") from None
    filename = _text(root, "filename", xml_path)
    size = root.find("size")
    width = int(_number(size, "width", xml_path)) if size is not None else 0
    height = int(_number(size, "height", xml_path)) if size is not None else 0
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        if box is None:
            raise InputError(xml_path, f"<object> {_text(obj, 'name', xml_path)!r} lacks <bndbox>")
        objects.append(ObjectAnnotation(
            class_name=_text(obj, "name", xml_path),
            xmin=_number(box, "xmin", xml_path), ymin=_number(box, "ymin", xml_path),
            xmax=_number(box, "xmax", xml_path), ymax=_number(box, "ymax", xml_path),
            difficult=_flag(obj, "difficult", xml_path), truncated=_flag(obj, "truncated", xml_path)))
    if image_dir is None:
        beside = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(xml_path))), "JPEGImages")
        image_dir = beside if os.path.isdir(beside) else os.path.dirname(os.path.abspath(xml_path))
    return ImageAnnotation(filename=filename, width=width, height=height, objects=objects,
                           path=os.path.join(image_dir, filename),
                           image_format="png" if filename.lower().endswith(".png") else "jpeg",
                           annotation_path=xml_path)


def _split_xml_paths(year_dir: str, split: str) -> list[str]:
    split_file = os.path.join(year_dir, "ImageSets", "Main", f"{split}.txt")
    if not os.path.isfile(split_file):
        raise InputError(split_file, f"split file missing (split {split!r})")
    try:
        with open(split_file, encoding="utf-8") as handle:
            ids = [line.split()[0] for line in handle if line.strip()]
    except UnicodeDecodeError as error:
        raise InputError(split_file, f"byte {error.start} is not UTF-8 text ({error.reason}); expected one image "
                                     "id a line") from None
    return [os.path.join(year_dir, "Annotations", f"{image_id}.xml") for image_id in ids]


def _xml_paths(input_path: str, split: str) -> tuple[str, list[tuple[str, Optional[str]]]]:
    """The dataset root and the (xml path, image folder or None) pairs of the layout at input_path.

    The root is input_path, except for a plain folder of XML files (such as VOC2007/Annotations) whose images
    lie in a JPEGImages folder beside it: there it is the folder holding both.
    """
    if os.path.isdir(os.path.join(input_path, "ImageSets")):
        jpeg_dir = os.path.join(input_path, "JPEGImages")
        return input_path, [(path, jpeg_dir) for path in _split_xml_paths(input_path, split)]
    year_dirs = sorted(d for d in glob.glob(os.path.join(input_path, "*"))
                       if os.path.isdir(os.path.join(d, "ImageSets")))
    if year_dirs:
        return input_path, [(path, os.path.join(year_dir, "JPEGImages"))
                            for year_dir in year_dirs for path in _split_xml_paths(year_dir, split)]
    root = input_path
    if os.path.isdir(os.path.join(input_path, "Annotations")):
        xml_dir = os.path.join(input_path, "Annotations")
    else:
        xml_dir = input_path
        parent = os.path.dirname(os.path.abspath(input_path))
        if os.path.isdir(os.path.join(parent, "JPEGImages")):
            root = parent  # parse_voc_xml takes the images from there
    return root, [(path, None) for path in sorted(glob.glob(os.path.join(xml_dir, "*.xml")))]


def read(input_path: str, on_error: ErrorHandler = raise_error, split: str = "trainval",
         allow_outside_root: bool = False) -> Iterator[ImageAnnotation]:
    """The images of the VOC layout at `input_path` (see the module docstring); `split` names the ImageSets
    file of VOC year folders.

    The dataset root is `input_path` (for a plain folder of XML files with a JPEGImages folder beside it, their
    common parent): an image whose <filename> resolves outside it ('../', absolute path, escaping symbolic link)
    goes to on_error naming the XML file and its <filename>, and is skipped, unless allow_outside_root.
    """
    if not os.path.isdir(input_path):
        raise InputError(input_path, "not a folder; expected VOC XML files or a VOCdevkit folder")
    root, paths = _xml_paths(input_path, split)
    if not paths:
        raise InputError(input_path, "no VOC .xml annotation files found")
    for xml_path, image_dir in paths:
        if not os.path.isfile(xml_path):
            on_error(InputError(xml_path, "annotation file missing"))
            continue
        try:
            image = parse_voc_xml(xml_path, image_dir)
            check_inside_root(image.path, root, xml_path, f"<filename> {image.filename!r}", allow_outside_root)
        except InputError as error:
            on_error(error)
            continue
        yield image
