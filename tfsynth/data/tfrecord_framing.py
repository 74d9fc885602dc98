"""TFRecord files without TensorFlow: each record's framing written (frame) and read back with both checksums
verified (read_records), and a walk of the framing alone: where each record starts, and where the file stops being a
well-formed TFRecord file (walk).

A TFRecord file is a run of records, each: length (uint64 little-endian), masked CRC-32C of those 8 bytes,
`length` bytes of data, masked CRC-32C of the data. TensorFlow's reader treats a file that ends inside a header
(a 3-byte file, or one cut a few bytes into a record) as a clean end of file, so a cut shard reads as fewer
records, or none, without an error; a file of no records makes a repeated tf.data pipeline spin forever. This walk
reads only the 12-byte headers (seeking over the data), so it costs one small read per record; data checksums are
left to whichever reader reads the records (read_records here, or TensorFlow's). Writing and reading here need no
TensorFlow, so the process that assembles rendered images into records never loads it (issue 17).
"""
from __future__ import annotations

import dataclasses
import os
import struct
from typing import BinaryIO, Iterator, Optional

import google_crc32c

_HEADER_BYTES = 12  # uint64 length + uint32 masked CRC of the length
_MASK_DELTA = 0xA282EAD8
_CRC_BYTES = 4


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of data, through google-crc32c's C extension (a few GB/s; its pure-Python fallback where
    the extension did not build)."""
    return google_crc32c.value(data)


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord files store (rotated right by 15 bits, plus a constant)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record as it lies in a TFRecord file: header, data, footer."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), data,
                     struct.pack("<I", masked_crc32c(data))))


def _header_problem(header: bytes) -> Optional[str]:
    """What is wrong with a record's header as read (up to 12 bytes), in words; None when it is sound."""
    if len(header) < _HEADER_BYTES:
        return f"the file ends {len(header)} bytes into the record's {_HEADER_BYTES}-byte header (file cut short)"
    if masked_crc32c(header[:8]) != struct.unpack("<I", header[8:])[0]:
        return "its header fails its checksum (not TFRecord data, or a corrupt file)"
    return None


def _record_bytes(header: bytes) -> int:
    """The bytes a record takes in the file, header and footer included, from its sound header."""
    return _HEADER_BYTES + struct.unpack("<Q", header[:8])[0] + _CRC_BYTES


def _cut_short(needed: int, available: int) -> str:
    return (f"the record needs {needed} bytes but the file ends {available} bytes after its start "
            "(file cut short)")


class CorruptRecordError(ValueError):
    """A TFRecord file that breaks at a record: names the file, the record's index and its byte offset."""

    def __init__(self, path: str, index: int, offset: int, problem: str):
        super().__init__(f"{path}: record {index} (byte {offset}): {problem}; expected a TFRecord file as "
                         "tf.io.TFRecordWriter writes it")
        self.path = path
        self.index = index
        self.offset = offset


def read_records(path: str) -> Iterator[bytes]:
    """The data of each record of the TFRecord file at `path`, both checksums verified; CorruptRecordError at the
    first record that is cut short or fails a checksum (the records before it have been yielded)."""
    with _open(path) as stream:
        index = offset = 0
        while True:
            header = stream.read(_HEADER_BYTES)
            if not header:
                return
            problem = _header_problem(header)
            if problem:
                raise CorruptRecordError(path, index, offset, problem)
            size = _record_bytes(header)
            body = stream.read(size - _HEADER_BYTES)
            if len(body) < size - _HEADER_BYTES:
                raise CorruptRecordError(path, index, offset, _cut_short(size, _HEADER_BYTES + len(body)))
            data = body[:-_CRC_BYTES]
            if masked_crc32c(data) != struct.unpack("<I", body[-_CRC_BYTES:])[0]:
                raise CorruptRecordError(path, index, offset, "its data fails its checksum (corrupt file)")
            yield data
            index += 1
            offset += size


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
            problem = _header_problem(header)
            if problem is None:
                end = offset + _record_bytes(header)
                if end > size:
                    problem = _cut_short(end - offset, size - offset)
            if problem is not None:
                framing.problem, framing.problem_offset = problem, offset
                return framing
            framing.offsets.append(offset)
            offset = end
            stream.seek(offset)
    return framing
