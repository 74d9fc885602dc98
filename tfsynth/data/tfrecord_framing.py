"""Walks the framing of a TFRecord file without reading its records: where each record starts, and where the file
stops being a well-formed TFRecord file.

A TFRecord file is a run of records, each: length (uint64 little-endian), masked CRC-32C of those 8 bytes,
`length` bytes of data, masked CRC-32C of the data. TensorFlow's reader treats a file that ends inside a header
(a 3-byte file, or one cut a few bytes into a record) as a clean end of file, so a cut shard reads as fewer
records, or none, without an error; a file of no records makes a repeated tf.data pipeline spin forever. This walk
reads only the 12-byte headers (seeking over the data), so it costs one small read per record; data checksums are
left to TensorFlow's reader, which checks them while the records are read.
"""
from __future__ import annotations

import dataclasses
import os
import struct
from typing import BinaryIO, Optional

_HEADER_BYTES = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER_BYTES = 4  # uint32 masked CRC of the data
_CRC32C_POLYNOMIAL = 0x82F63B78  # Castagnoli, reflected
_MASK_DELTA = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of data. Pure Python: meant for the 8-byte length fields, not for record data."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord files store (rotated right by 15 bits, plus a constant)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


@dataclasses.dataclass
class Framing:
    """The records of one file as far as its framing is sound.

    offsets: byte offset of each well-framed record. problem: None for a sound file, else what breaks at record
    len(offsets) (byte problem_offset), in words. size: the file's size in bytes.
    """

    size: int
    offsets: list[int]
    problem: Optional[str] = None
    problem_offset: Optional[int] = None

    @property
    def num_records(self) -> int:
        """Records that can be read before the framing breaks."""
        return len(self.offsets)


def _open(path: str) -> BinaryIO:
    if "://" in path:  # gs:// and similar: only TF's file system knows them
        import tensorflow as tf
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def _size(path: str) -> int:
    if "://" in path:
        import tensorflow as tf
        return int(tf.io.gfile.stat(path).length)
    return os.path.getsize(path)


def walk(path: str) -> Framing:
    """The framing of the TFRecord file at path (OSError when it cannot be opened)."""
    size = _size(path)
    framing = Framing(size=size, offsets=[])
    with _open(path) as stream:
        offset = 0
        while offset < size:
            header = stream.read(_HEADER_BYTES)
            if len(header) < _HEADER_BYTES:
                framing.problem = (f"the file ends {len(header)} bytes into the record's {_HEADER_BYTES}-byte header "
                                   f"(file cut short)")
                framing.problem_offset = offset
                return framing
            length_bytes, stored_crc = header[:8], struct.unpack("<I", header[8:])[0]
            if masked_crc32c(length_bytes) != stored_crc:
                framing.problem = "its header fails its checksum (not TFRecord data, or a corrupt file)"
                framing.problem_offset = offset
                return framing
            length = struct.unpack("<Q", length_bytes)[0]
            end = offset + _HEADER_BYTES + length + _FOOTER_BYTES
            if end > size:
                framing.problem = (f"the record needs {end - offset} bytes but the file ends {size - offset} bytes "
                                   f"after its start (file cut short)")
                framing.problem_offset = offset
                return framing
            framing.offsets.append(offset)
            offset = end
            stream.seek(offset)
    return framing
