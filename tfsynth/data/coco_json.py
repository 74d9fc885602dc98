"""COCO ground-truth JSON (instances format): write from ImageAnnotations, read back into them.

Written files have image ids 1..N in list order, annotation ids 1..M, bbox [x, y, width, height] in pixels,
iscrowd 0, and an RLE segmentation for objects with a mask; pycocotools' COCO/COCOeval read them.
"""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers.base import ErrorHandler, OutsideRootError, check_inside_root, raise_error
from tfsynth.utils.files import write_atomically


def _mask_to_rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray((np.asarray(mask) > 0).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    from pycocotools import mask as mask_util
    if isinstance(segmentation, list):  # polygons
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return mask_util.decode(rle).astype(np.uint8)


def coco_entries(image: ImageAnnotation, name_to_id: dict[str, int]) -> tuple[dict, list[dict]]:
    """One image's part of the COCO dict, before numbering: its image entry without "id" and its annotations
    without "id" and "image_id". Plain JSON data, so a process that writes one shard can hand it on (generate's
    Beam runner) and coco_from_entries numbers it exactly as coco_dict would.
    """
    known_ids = set(name_to_id.values())
    annotations = []
    for obj in image.objects:
        category_id = obj.class_id if obj.class_id is not None else name_to_id.get(obj.class_name)
        if category_id not in known_ids:
            raise ValueError(f"image {image.filename!r}: class {obj.class_name!r} (id {obj.class_id}) "
                             f"is not among the categories {sorted(name_to_id)}")
        annotation = {
            "category_id": int(category_id),
            "bbox": [float(obj.xmin), float(obj.ymin), float(obj.xmax - obj.xmin), float(obj.ymax - obj.ymin)],
            "area": float(obj.area) if obj.area is not None else float(obj.box_area),
            "iscrowd": 0,
        }
        if obj.mask is not None:
            annotation["segmentation"] = _mask_to_rle(obj.mask)
        annotations.append(annotation)
    return {"file_name": image.filename, "width": int(image.width), "height": int(image.height)}, annotations


def coco_from_entries(entries, categories: list[dict]) -> dict:
    """The COCO instances dict of (image entry, annotations) pairs from coco_entries, in order: images numbered
    1..N, annotations 1..M."""
    coco_images, coco_annotations = [], []
    for image_id, (image_entry, image_annotations) in enumerate(entries, 1):
        coco_images.append({"id": image_id, **image_entry})
        for annotation in image_annotations:
            coco_annotations.append({"id": len(coco_annotations) + 1, "image_id": image_id, **annotation})
    return {
        "info": {"description": "written by tfsynth"},
        "licenses": [],
        "images": coco_images,
        "annotations": coco_annotations,
        "categories": [{"id": int(c["id"]), "name": c["name"], "supercategory": c.get("supercategory", "")}
                       for c in sorted(categories, key=lambda c: c["id"])],
    }


def coco_dict(images: list[ImageAnnotation], categories: list[dict]) -> dict:
    """The COCO instances dict of `images` (ids 1..N); categories are {'id', 'name'} dicts.

    An object's category is its class_id when set, else the category whose name is its class_name.
    """
    name_to_id = {category["name"]: int(category["id"]) for category in categories}
    return coco_from_entries((coco_entries(image, name_to_id) for image in images), categories)


def write_coco_json(path: str, images: list[ImageAnnotation], categories: list[dict]) -> None:
    """Writes the COCO ground truth of `images` to `path` (temporary file, then rename)."""
    write_coco_dict(path, coco_dict(images, categories))


def write_coco_dict(path: str, data: dict) -> None:
    """Writes a COCO dict (coco_dict, coco_from_entries) to `path` (temporary file, then rename): one layout of the
    file for every writer, so equal dicts give equal bytes."""
    write_atomically(path, json.dumps(data))


def load_coco_dict(path: str) -> dict:
    """The parsed JSON of a COCO file; ValueError naming the file when it is not COCO instances JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: expected a COCO JSON object with an 'images' list")
    if "annotations" not in data:
        # An instances file without the key (a typo, or an image_info file) would make every image a negative.
        raise ValueError(f"{path}: no 'annotations' list (has {sorted(data)}); expected COCO instances JSON, with "
                         "\"annotations\": [] for a set of images without objects")
    for key in ("images", "annotations", "categories"):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise ValueError(f"{path}: field {key!r} must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"{path}: {key}[{index}]: expected an object ({{...}}), got "
                                 f"{json.dumps(entry)[:60]}")
    return data


def read_coco_json(path: str, image_dir: Optional[str] = None, include_masks: bool = False,
                   allow_outside_root: bool = False, on_error: ErrorHandler = raise_error
                   ) -> list[ImageAnnotation]:
    """ImageAnnotations of a COCO JSON file, in its image order.

    `path` of each image is image_dir/file_name (image_dir defaults to the JSON's folder); class_name is the
    category name and class_id the category id; crowd annotations (iscrowd 1) are left out, as they are
    regions, not objects. With include_masks, segmentations become masks.

    image_dir is the dataset root: an image whose file_name leads out of it ('../', an absolute path, a symbolic
    link) is handed to on_error as an OutsideRootError naming the JSON and the entry, then left out with its
    annotations, unless allow_outside_root.
    """
    data = load_coco_dict(path)
    image_dir = image_dir if image_dir is not None else os.path.dirname(os.path.abspath(path))
    refused: set = set()  # ids of images left out for lying outside image_dir; their annotations go too
    categories = {}
    for index, category in enumerate(data.get("categories", [])):
        if "id" not in category or "name" not in category:
            raise ValueError(f"{path}: categories[{index}] needs 'id' and 'name'")
        if categories.get(category["id"], category["name"]) != category["name"]:  # a repeat of the same is harmless
            raise ValueError(f"{path}: categories[{index}] ({category['name']!r}) repeats category id "
                             f"{category['id']} of {categories[category['id']]!r}; expected one id per category")
        categories[category["id"]] = category["name"]
    images: dict = {}
    order = []
    for index, entry in enumerate(data["images"]):
        missing = [key for key in ("id", "file_name") if key not in entry]
        if missing:
            raise ValueError(f"{path}: images[{index}] lacks {missing}")
        if not isinstance(entry["file_name"], str) or not entry["file_name"]:
            raise ValueError(f"{path}: images[{index}].file_name: expected a file name (a string), got "
                             f"{json.dumps(entry['file_name'])[:60]}")
        if not isinstance(entry["id"], (int, str)) or isinstance(entry["id"], bool):
            raise ValueError(f"{path}: images[{index}].id: expected an integer or string, got "
                             f"{json.dumps(entry['id'])[:60]}")
        if entry["id"] in images:
            raise ValueError(f"{path}: images[{index}] repeats image id {entry['id']}")
        if entry["id"] in refused:
            raise ValueError(f"{path}: images[{index}] repeats image id {entry['id']}")
        image_path = os.path.join(image_dir, entry["file_name"])
        try:
            check_inside_root(image_path, image_dir, path,
                              f"images[{index}] (id {entry['id']}, file_name {entry['file_name']!r})",
                              allow_outside_root)
        except OutsideRootError as error:
            on_error(error)
            refused.add(entry["id"])
            continue
        try:
            width, height = (int(entry.get(key, 0)) for key in ("width", "height"))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: images[{index}] (id {entry['id']}): width {entry.get('width')!r}, height "
                             f"{entry.get('height')!r}; expected integers (pixels)") from None
        images[entry["id"]] = ImageAnnotation(
            filename=entry["file_name"], width=width, height=height,
            path=image_path, source_id=str(entry["id"]),
            image_format="png" if entry["file_name"].lower().endswith(".png") else "jpeg")
        order.append(entry["id"])
    for index, annotation in enumerate(data.get("annotations", [])):
        where = f"{path}: annotations[{index}] (id {annotation.get('id')})"
        if annotation.get("image_id") in refused:
            continue
        image = images.get(annotation.get("image_id"))
        if image is None:
            raise ValueError(f"{where}: image_id {annotation.get('image_id')} is not in 'images'")
        if annotation.get("category_id") not in categories:
            raise ValueError(f"{where}: category_id {annotation.get('category_id')} is not in 'categories'")
        if annotation.get("iscrowd", 0):
            continue
        bbox = annotation.get("bbox")
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise ValueError(f"{where}: bbox must be [x, y, width, height], four numbers, got {bbox!r}")
        x, y, w, h = (float(v) for v in bbox)
        mask = None
        if include_masks and annotation.get("segmentation"):
            mask = _segmentation_to_mask(annotation["segmentation"], image.height, image.width)
        image.objects.append(ObjectAnnotation(
            class_name=categories[annotation["category_id"]], class_id=int(annotation["category_id"]),
            xmin=x, ymin=y, xmax=x + w, ymax=y + h, area=annotation.get("area"), mask=mask))
    return [images[image_id] for image_id in order]


def read_coco_categories(path: str) -> list[dict]:
    """The {'id', 'name'} categories of a COCO JSON file, sorted by id."""
    data = load_coco_dict(path)
    return sorted(({"id": c["id"], "name": c["name"]} for c in data.get("categories", [])), key=lambda c: c["id"])
