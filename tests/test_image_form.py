"""image_form.encoded_image_problem against real encoders' bytes: what TensorFlow decodes as one image passes
(trailers, thumbnails, chunks after the end included), what is cut short or is no single image is named."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsynth.data.image_form import encoded_image_problem


def _encoded(image_format: str, **options) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _with_exif_thumbnail(jpeg: bytes) -> bytes:
    """An APP1 segment right after SOI holding a whole JPEG of its own (as an EXIF thumbnail does)."""
    thumbnail = _encoded("JPEG", quality=50)
    payload = b"Exif\x00\x00" + thumbnail
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


ACCEPTED = {
    "baseline JPEG": lambda: _encoded("JPEG"),
    "progressive JPEG": lambda: _encoded("JPEG", progressive=True),
    "JPEG with an EXIF thumbnail": lambda: _with_exif_thumbnail(_encoded("JPEG")),
    # A phone's trailer or a motion photo's video after the end marker, holding FF DA by chance.
    "JPEG with a trailer": lambda: _encoded("JPEG") + b"\x00\x01\xff\xda\x00\x08" + bytes(200),
    "PNG": lambda: _encoded("PNG"),
    "PNG with bytes after IEND": lambda: _encoded("PNG") + b"\x00\x00\x00\x05tEXtabcde\x00\x00\x00\x00" + bytes(100),
    "BMP": lambda: _encoded("BMP"),
    "WebP": lambda: _encoded("WEBP"),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_whole_images_pass_and_tensorflow_decodes_them(case):
    data = ACCEPTED[case]()
    assert encoded_image_problem(data) is None
    assert tf.io.decode_image(data, channels=3, expand_animations=False).shape == (48, 64, 3)


REFUSED = {
    "JPEG cut in its header": (lambda: _encoded("JPEG")[:40], "ends inside its header"),
    "JPEG cut in its scan": (lambda: _encoded("JPEG")[:-300], "no end marker after its image data"),
    "progressive JPEG cut": (lambda: _encoded("JPEG", progressive=True)[:-300], "no end marker"),
    # The thumbnail's end marker inside APP1 does not make a cut main image whole.
    "cut JPEG with a thumbnail": (lambda: _with_exif_thumbnail(_encoded("JPEG"))[:-300], "no end marker"),
    "PNG cut short": (lambda: _encoded("PNG")[:-20], "no IEND chunk"),
    "WebP cut short": (lambda: _encoded("WEBP")[:-50], "WebP of"),
    "GIF": (lambda: _encoded("GIF"), "a GIF, which TensorFlow's decoder reads as an animation"),
    "HTML": (lambda: b"<html>not found</html>", "not an image file (starts with 3c 68 74 6d"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_cut_or_foreign_bytes_are_named(case):
    make, message = REFUSED[case]
    problem = encoded_image_problem(make())
    assert problem is not None and message in problem, problem
