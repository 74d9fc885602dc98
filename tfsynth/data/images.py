"""Image file checks: read an image file's format and size from the file itself, and refuse broken ones."""
from __future__ import annotations

import dataclasses
import io

from PIL import Image, UnidentifiedImageError

# Pillow format name -> the OD API's image/format value.
_FORMATS = {"JPEG": "jpeg", "PNG": "png"}


class BadImageError(ValueError):
    """An image file that is missing, unreadable, truncated or of a format records cannot hold."""


@dataclasses.dataclass
class ImageInfo:
    """What the file itself says: its bytes, 'jpeg' or 'png', and its size in pixels."""

    encoded: bytes
    image_format: str
    width: int
    height: int


def probe_image(path: str) -> ImageInfo:
    """Reads `path` and fully decodes it once to prove it is a whole JPEG or PNG.

    Raises BadImageError naming the file when it is missing, corrupt, truncated or another format.
    """
    try:
        with open(path, "rb") as handle:
            encoded = handle.read()
    except OSError as error:
        raise BadImageError(f"{path}: cannot read image file: {error.strerror or error}") from None
    return probe_encoded(encoded, path)


def probe_encoded(encoded: bytes, name: str = "<image>") -> ImageInfo:
    """As probe_image, for bytes already in memory; `name` is used in error messages."""
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            pillow_format = image.format
            width, height = image.size
            image.load()  # a truncated or corrupt file fails here, not at training time
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"{name}: not a readable image: {error}") from None
    if pillow_format not in _FORMATS:
        raise BadImageError(f"{name}: image format {pillow_format}; expected JPEG or PNG")
    return ImageInfo(encoded=encoded, image_format=_FORMATS[pillow_format], width=width, height=height)
