"""Whether bytes are a whole image file TensorFlow's decoder reads into one image, from their form alone.

Decoding every image of a dataset costs seconds per thousand records; the form costs microseconds: the signature,
and for JPEG and PNG the structure up to the end marker that a file cut short (a partial copy or download) lacks.
Only what the end marker closes is read: a JPEG's segments up to its first scan and an end marker after it (an EXIF
thumbnail's own markers inside APP1 are skipped with their segment), a PNG's chunks up to IEND. Bytes after the
end (a phone's trailer, a motion photo's video, chunks after IEND) are ignored, as the decoders ignore them.
"""
from __future__ import annotations

from typing import Optional

_JPEG, _PNG = b"\xff\xd8", b"\x89PNG\r\n\x1a\n"
# Markers without a length field: TEM, RST0-7, SOI (EOI ends the walk).
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _jpeg_problem(data: bytes) -> Optional[str]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return f"JPEG: no marker at byte {position} of its header; the file is damaged"
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker == 0xD9:
            return "JPEG: ends before any image data"
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xDA:  # the first scan: entropy-coded data, in which FF D9 can only be the end marker
            if data.find(b"\xff\xd9", position + 2 + length) < 0:
                return f"JPEG of {len(data)} bytes has no end marker after its image data: the file is cut short"
            return None
        position += 2 + length
    return f"JPEG of {len(data)} bytes ends inside its header: the file is cut short"


def _png_problem(data: bytes) -> Optional[str]:
    position = len(_PNG)
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        if data[position + 4:position + 8] == b"IEND":
            return None
        position += 12 + length  # length, type, data, CRC
    return f"PNG of {len(data)} bytes has no IEND chunk: the file is cut short"


def encoded_image_problem(data: bytes) -> Optional[str]:
    """Why `data` is not a whole image file that tf.io.decode_image reads as one image (JPEG, PNG, BMP, WebP),
    or None."""
    if data.startswith(_JPEG):
        return _jpeg_problem(data)
    if data.startswith(_PNG):
        return _png_problem(data)
    if data.startswith(b"BM"):
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        riff_size = int.from_bytes(data[4:8], "little")
        return None if len(data) >= riff_size + 8 else \
            f"WebP of {len(data)} bytes, its header says {riff_size + 8}: the file is cut short"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ("a GIF, which TensorFlow's decoder reads as an animation (frames x height x width), not an image; "
                "expected JPEG, PNG, BMP or WebP (tfsynth.convert re-encodes other formats as PNG)")
    return (f"not an image file (starts with {data[:8].hex(' ')}); expected the bytes of a JPEG, PNG, BMP or "
            "WebP file")
