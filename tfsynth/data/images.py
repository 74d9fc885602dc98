"""Image file checks: read an image file's format and size from the file itself, and refuse broken ones."""
from __future__ import annotations

import dataclasses
import io

from PIL import Image, UnidentifiedImageError

# Pillow format name -> the OD API's image/format value.
_FORMATS = {"JPEG": "jpeg", "PNG": "png"}
_EXIF_ORIENTATION = 0x0112


class BadImageError(ValueError):
    """An image file that is missing, unreadable, truncated or of a format records cannot hold."""


@dataclasses.dataclass
class ImageInfo:
    """What the file itself says: its bytes ('jpeg' or 'png'), its size in pixels, and its EXIF orientation.

    reencoded is True when the file was another format (BMP, TIFF, ...) and `encoded` is a lossless PNG of it.
    """

    encoded: bytes
    image_format: str
    width: int
    height: int
    exif_orientation: int = 1
    reencoded: bool = False


def probe_image(path: str) -> ImageInfo:
    """Reads `path` and fully decodes it once to prove it is a whole JPEG or PNG.

    Raises BadImageError naming the file when it is missing, corrupt, truncated or not an image.
    """
    try:
        with open(path, "rb") as handle:
            encoded = handle.read()
    except OSError as error:
        raise BadImageError(f"{path}: cannot read image file: {error.strerror or error}") from None
    return probe_encoded(encoded, path)


def probe_encoded(encoded: bytes, name: str = "<image>") -> ImageInfo:
    """As probe_image, for bytes already in memory; `name` is used in error messages.

    JPEG and PNG bytes are kept as they are; other formats Pillow reads are re-encoded as PNG (lossless), since
    TFRecord decoders only promise JPEG and PNG.
    """
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            pillow_format = image.format
            width, height = image.size
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            image.load()  # a truncated or corrupt file fails here, not at training time
            if pillow_format not in _FORMATS:
                buffer = io.BytesIO()
                image.convert("RGBA" if "A" in image.getbands() else "RGB").save(buffer, format="PNG")
                return ImageInfo(encoded=buffer.getvalue(), image_format="png", width=width, height=height,
                                 exif_orientation=orientation, reencoded=True)
    except UnidentifiedImageError:
        # Pillow's own message names its in-memory buffer, not the file.
        raise BadImageError(f"{name}: not an image file Pillow can read (starts with {encoded[:8].hex(' ')}); "
                            "expected JPEG, PNG or another image format") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"{name}: not a readable image: {error}") from None
    return ImageInfo(encoded=encoded, image_format=_FORMATS[pillow_format], width=width, height=height,
                     exif_orientation=orientation)
