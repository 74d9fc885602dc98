"""What every reader shares: the error type for bad input, the default way to handle it, and the check that
keeps image paths inside the dataset root."""
from __future__ import annotations

import os
from typing import Callable


class InputError(ValueError):
    """Bad source data for one image (missing or malformed annotation file, unknown class, bad box...).

    `path` names the file at fault so that a user can find it.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class OutsideRootError(InputError):
    """A path named by an annotation file resolves outside the dataset root (`path` is the annotation file)."""


# Readers call on_error(InputError) for each bad item; when it returns, the item is skipped.
ErrorHandler = Callable[[InputError], None]


def raise_error(error: InputError) -> None:
    """The default ErrorHandler: stop at the first bad item."""
    raise error


def check_inside_root(path: str, root: str, annotation_file: str, entry: str, allow_outside: bool = False,
                      what: str = "image") -> str:
    """`path` (as the reader will open it) unchanged when its real location is inside that of `root`, else
    OutsideRootError.

    Both are resolved with realpath, so '../', absolute paths and symbolic links that lead out of the root are
    all caught; a file that does not exist is judged by where it would be (its absence is reported later, by
    whoever opens it). The error names `annotation_file` and `entry` (e.g. "images[3] (id 4, file_name 'x')").
    With allow_outside, nothing is checked: the caller trusts the annotation files.
    """
    if allow_outside:
        return path
    real_root = os.path.realpath(root)
    real_path = os.path.realpath(path)
    try:
        inside = os.path.commonpath([real_root, real_path]) == real_root
    except ValueError:  # paths on different drives (Windows): certainly not inside
        inside = False
    if not inside:
        raise OutsideRootError(annotation_file,
                               f"{entry}: {what} path resolves to {real_path}, outside the dataset root; expected "
                               f"a path inside {real_root} (pass --allow_images_outside_root, or "
                               f"allow_outside_root=True to the reader, to read it anyway)")
    return path
