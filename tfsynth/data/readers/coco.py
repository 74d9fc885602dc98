"""Reader of COCO instances JSON with its image folder (e.g. annotations/instances_val2017.json + val2017/)."""
from __future__ import annotations

import os
from typing import Iterator, Optional

from tfsynth.data.annotations import ImageAnnotation
from tfsynth.data.coco_json import read_coco_json
from tfsynth.data.readers.base import ErrorHandler, InputError, raise_error


def read(input_path: str, on_error: ErrorHandler = raise_error, image_dir: Optional[str] = None,
         include_masks: bool = False, allow_outside_root: bool = False) -> Iterator[ImageAnnotation]:
    """The images of the COCO JSON `input_path`; image files are image_dir/file_name, image_dir defaulting to
    the JSON's folder. Crowd regions are left out; with include_masks, segmentations become masks.

    The dataset root is image_dir (default the JSON's folder): an image whose file_name resolves outside it
    ('../', absolute path, escaping symbolic link) goes to on_error naming the JSON file, the image id and
    file_name, and is skipped, unless allow_outside_root.
    """
    if not os.path.isfile(input_path):
        raise InputError(input_path, "not a file; expected a COCO instances JSON file")
    if image_dir is not None and not os.path.isdir(image_dir):
        raise InputError(image_dir, "image folder does not exist")
    try:
        images = read_coco_json(input_path, image_dir=image_dir, include_masks=include_masks,
                                allow_outside_root=allow_outside_root, on_error=on_error)
    except InputError:
        raise  # an entry's own error (from on_error), already naming the file and entry
    except (ValueError, KeyError, TypeError) as error:
        # The file as a whole is malformed: no image of it can be trusted, so there is nothing to skip to.
        text = str(error)
        if text.startswith(f"{input_path}:"):  # coco_json's messages name the file themselves
            text = text[len(input_path) + 1:].strip()
        raise InputError(input_path, f"malformed COCO JSON: {text}") from None
    yield from images
