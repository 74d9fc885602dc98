"""Readers of source datasets: each module has `read(input_path, on_error=raise_error, allow_outside_root=False)
-> Iterator[ImageAnnotation]` yielding images with `path` set to the image file and boxes in absolute pixels.
Image paths that lead out of the dataset root (each reader's docstring says which folder that is) go to on_error
as an OutsideRootError unless allow_outside_root."""
from __future__ import annotations

import importlib
from typing import Callable, Iterator

from tfsynth.data.annotations import ImageAnnotation
from tfsynth.data.readers.base import ErrorHandler, InputError, OutsideRootError, check_inside_root, raise_error

FORMATS = ("voc", "coco", "cntk", "solo")


def get_reader(input_format: str) -> Callable[..., Iterator[ImageAnnotation]]:
    """The `read` function of the reader of `input_format` (one of FORMATS)."""
    if input_format not in FORMATS:
        raise ValueError(f"unknown input format {input_format!r}; expected one of {', '.join(FORMATS)}")
    return importlib.import_module(f"tfsynth.data.readers.{input_format}").read


__all__ = ["FORMATS", "get_reader", "InputError", "OutsideRootError", "ErrorHandler", "raise_error",
           "check_inside_root"]
