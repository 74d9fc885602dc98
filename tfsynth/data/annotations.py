"""Annotated images: the one in-memory form that every reader yields and every writer takes.

Readers (VOC, COCO, CNTK, SOLO) and the synthetic generator produce ImageAnnotation objects; writers (TFRecord,
COCO JSON, SOLO) consume them. Boxes are absolute pixel coordinates, top-left origin, x to the right and y down,
so that no reader has to know how a writer normalizes.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass
class ObjectAnnotation:
    """One labelled object in an image."""

    class_name: str
    # Box in absolute pixels: xmin <= xmax, ymin <= ymax, within [0, width] x [0, height].
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    class_id: Optional[int] = None  # filled from the label map when the record is written
    difficult: bool = False
    truncated: bool = False
    # Area of the object in pixels (of its mask where there is one, else of its box).
    area: Optional[float] = None
    # Fraction of the object that is visible (1.0 when unknown); the generator knows it exactly.
    visibility: float = 1.0
    # Optional binary instance mask, uint8 [height, width] with values 0/1.
    mask: Optional[np.ndarray] = None

    @property
    def box_area(self) -> float:
        return max(0.0, self.xmax - self.xmin) * max(0.0, self.ymax - self.ymin)


@dataclasses.dataclass
class ImageAnnotation:
    """One image with its objects.

    Either `encoded` holds the image file's bytes (JPEG or PNG) or `path` names the file; `image_format` is
    'jpeg' or 'png'.
    """

    filename: str
    width: int
    height: int
    objects: list[ObjectAnnotation] = dataclasses.field(default_factory=list)
    path: Optional[str] = None
    encoded: Optional[bytes] = None
    image_format: str = "jpeg"
    source_id: Optional[str] = None
    # The file the objects were read from, where it is not the image (a VOC XML, a CNTK .bboxes.tsv, a SOLO
    # frame): errors about a box name it, since that is the file to correct.
    annotation_path: Optional[str] = None

    def read_encoded(self) -> bytes:
        """The image file's bytes, from memory or from `path`."""
        if self.encoded is not None:
            return self.encoded
        if self.path is None:
            raise ValueError(f"image {self.filename!r} has neither encoded bytes nor a path")
        with open(self.path, "rb") as handle:
            return handle.read()


def box_problem(obj: ObjectAnnotation, width: int, height: int) -> Optional[str]:
    """Why the object's box is unusable in a width x height image, or None when it is fine.

    A box must have positive width and height and lie within [0, width] x [0, height]; writers refuse any
    other box rather than store a silently wrong record.
    """
    coords = (obj.xmin, obj.ymin, obj.xmax, obj.ymax)
    if not all(np.isfinite(c) for c in coords):
        return f"box {coords} of {obj.class_name!r} has a non-finite coordinate"
    if obj.xmax <= obj.xmin or obj.ymax <= obj.ymin:
        return f"box {coords} of {obj.class_name!r} has zero or negative size"
    if obj.xmin < 0 or obj.ymin < 0 or obj.xmax > width or obj.ymax > height:
        return f"box {coords} of {obj.class_name!r} lies (partly) outside the {width}x{height} image"
    return None
