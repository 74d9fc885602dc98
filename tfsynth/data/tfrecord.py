"""ImageAnnotation <-> tf.train.Example in the OD API's layout, and the sharded TFRecord writer / reader.

No TensorFlow: examples are tfsynth.protos.example_pb2 messages (tf.train.Example's fields and wire format, so
either parses the other's bytes) and files are framed by tfrecord_framing, so that generate's main process, which
only writes records, never loads TensorFlow (it took 6-7 s and most of that process's memory). Only paths with a
scheme (gs://...) go through TensorFlow's file system.

Records hold the image file's own bytes (JPEG or PNG), boxes normalized to [0, 1], class text and label, and,
optionally, one PNG per object under image/object/mask (values 0/1, the OD API's PNG mask format), so both the
OD API's decoder and tf-models-official's TfExampleDecoder read them.
"""
from __future__ import annotations

import glob
import hashlib
import io
import logging
import os
import uuid
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from tfsynth.core.standard_fields import TfExampleFields as F
from tfsynth.data import tfrecord_framing
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation, box_problem
from tfsynth.protos import example_pb2

Example = example_pb2.Example


def _bytes(values: list[bytes]) -> example_pb2.Feature:
    return example_pb2.Feature(bytes_list=example_pb2.BytesList(value=values))


def _floats(values: list[float]) -> example_pb2.Feature:
    return example_pb2.Feature(float_list=example_pb2.FloatList(value=values))


def _ints(values: list[int]) -> example_pb2.Feature:
    return example_pb2.Feature(int64_list=example_pb2.Int64List(value=values))


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A binary mask [height, width] as a one-channel PNG with values 0/1."""
    from PIL import Image
    array = (np.asarray(mask) > 0).astype(np.uint8)
    if array.ndim != 2:
        raise ValueError(f"instance mask must be 2-D [height, width], got shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_mask_png(data: bytes) -> np.ndarray:
    """The uint8 0/1 mask [height, width] of a PNG mask (any non-zero pixel counts as 1)."""
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image.convert("L"))
    return (array > 0).astype(np.uint8)


def annotation_to_example(image: ImageAnnotation, label_map: dict[str, int],
                          include_masks: bool = True) -> Example:
    """The OD API tf.train.Example of one annotated image (as tfsynth's Example message: the same bytes).

    Class labels come from `label_map` (class name -> id). Raises ValueError naming the image when a class is
    not in the label map, a box is empty or outside the image, or masks are present for only some objects or
    have the wrong size.
    """
    encoded = image.read_encoded()
    where = f"image {image.filename!r}"
    if image.width <= 0 or image.height <= 0:
        raise ValueError(f"{where}: size {image.width}x{image.height}; expected positive width and height")
    xmin, xmax, ymin, ymax, areas = [], [], [], [], []
    texts, labels, difficult, truncated = [], [], [], []
    masks: list[bytes] = []
    with_mask = [obj.mask is not None for obj in image.objects]
    write_masks = include_masks and any(with_mask)
    if write_masks and not all(with_mask):
        raise ValueError(f"{where}: {with_mask.count(False)} of {len(with_mask)} objects have no instance mask; "
                         "expected masks on all objects or none")
    for obj in image.objects:
        problem = box_problem(obj, image.width, image.height)
        if problem:
            raise ValueError(f"{where}: {problem}")
        if obj.class_name not in label_map:
            raise ValueError(f"{where}: class {obj.class_name!r} is not in the label map "
                             f"(known: {sorted(label_map)})")
        xmin.append(obj.xmin / image.width)
        xmax.append(obj.xmax / image.width)
        ymin.append(obj.ymin / image.height)
        ymax.append(obj.ymax / image.height)
        texts.append(obj.class_name.encode("utf-8"))
        labels.append(int(label_map[obj.class_name]))
        difficult.append(int(obj.difficult))
        truncated.append(int(obj.truncated))
        areas.append(float(obj.area) if obj.area is not None else obj.box_area)
        if write_masks:
            if obj.mask.shape != (image.height, image.width):
                raise ValueError(f"{where}: mask of {obj.class_name!r} has shape {obj.mask.shape}; expected "
                                 f"({image.height}, {image.width})")
            masks.append(encode_mask_png(obj.mask))
    source_id = image.source_id if image.source_id is not None else image.filename
    features = {
        F.image_encoded: _bytes([encoded]),
        F.image_format: _bytes([image.image_format.encode("utf-8")]),
        F.height: _ints([image.height]),
        F.width: _ints([image.width]),
        F.filename: _bytes([image.filename.encode("utf-8")]),
        F.source_id: _bytes([str(source_id).encode("utf-8")]),
        F.key: _bytes([hashlib.sha256(encoded).hexdigest().encode("ascii")]),
        F.object_bbox_xmin: _floats(xmin),
        F.object_bbox_xmax: _floats(xmax),
        F.object_bbox_ymin: _floats(ymin),
        F.object_bbox_ymax: _floats(ymax),
        F.object_class_text: _bytes(texts),
        F.object_class_label: _ints(labels),
        F.object_difficult: _ints(difficult),
        F.object_truncated: _ints(truncated),
        F.object_area: _floats(areas),
        F.object_is_crowd: _ints([0] * len(labels)),
    }
    if write_masks:
        features[F.instance_masks] = _bytes(masks)
    return Example(features=example_pb2.Features(feature=features))


def _feature_values(example, key: str) -> list:
    if key not in example.features.feature:
        return []
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def example_to_annotation(example) -> ImageAnnotation:
    """The ImageAnnotation of an OD API record (boxes back to pixels; encoded bytes kept, masks decoded): a
    tf.train.Example or tfsynth's Example, which have the same fields."""
    def first(key: str, default=None):
        values = _feature_values(example, key)
        return values[0] if values else default

    width = int(first(F.width, 0))
    height = int(first(F.height, 0))
    filename = first(F.filename, b"").decode("utf-8")
    encoded = first(F.image_encoded)
    if (width <= 0 or height <= 0) and encoded is not None:
        from PIL import Image  # records without a size: read it from the image itself
        with Image.open(io.BytesIO(encoded)) as decoded:
            width, height = decoded.size
    xmin = _feature_values(example, F.object_bbox_xmin)
    xmax = _feature_values(example, F.object_bbox_xmax)
    ymin = _feature_values(example, F.object_bbox_ymin)
    ymax = _feature_values(example, F.object_bbox_ymax)
    texts = [t.decode("utf-8") for t in _feature_values(example, F.object_class_text)]
    labels = _feature_values(example, F.object_class_label)
    difficult = _feature_values(example, F.object_difficult)
    truncated = _feature_values(example, F.object_truncated)
    areas = _feature_values(example, F.object_area)
    masks = _feature_values(example, F.instance_masks)
    objects = []
    for index in range(len(xmin)):
        objects.append(ObjectAnnotation(
            class_name=texts[index] if index < len(texts) else str(labels[index]),
            xmin=xmin[index] * width, xmax=xmax[index] * width,
            ymin=ymin[index] * height, ymax=ymax[index] * height,
            class_id=int(labels[index]) if index < len(labels) else None,
            difficult=bool(difficult[index]) if index < len(difficult) else False,
            truncated=bool(truncated[index]) if index < len(truncated) else False,
            area=float(areas[index]) if index < len(areas) else None,
            mask=decode_mask_png(masks[index]) if index < len(masks) else None))
    image_format = first(F.image_format, b"jpeg").decode("utf-8").lower()
    source_id = first(F.source_id)
    return ImageAnnotation(filename=filename, width=width, height=height, objects=objects, encoded=encoded,
                           image_format="jpeg" if image_format == "jpg" else image_format,
                           source_id=source_id.decode("utf-8") if source_id is not None else None)


def serialize_example(example) -> bytes:
    """The Example's bytes, the same in every process: protobuf writes map entries (the feature names) in an order
    that depends on a per-process hash seed unless asked for a deterministic order."""
    return example.SerializeToString(deterministic=True)


def shard_filename(name: str, index: int, num_shards: int) -> str:
    """NAME-00000-of-00010.tfrecord: 5-digit index, 5-digit count."""
    return f"{name}-{index:05d}-of-{num_shards:05d}.tfrecord"


def shard_paths_named(output_dir: str, name: str) -> list[str]:
    """The NAME-?????-of-?????.tfrecord files of output_dir, sorted."""
    pattern = os.path.join(glob.escape(output_dir), f"{glob.escape(name)}-[0-9][0-9][0-9][0-9][0-9]-of-"
                                                    "[0-9][0-9][0-9][0-9][0-9].tfrecord")
    return sorted(glob.glob(pattern))


def refuse_foreign_outputs(output_dir: str, names: Iterable[str], known: Iterable[str], what: str,
                           label_map_text: Optional[str] = None) -> None:
    """ValueError, before anything is written, when output_dir holds shards of `names` that `known` (the paths an
    earlier run of the same command recorded there) does not list, or (label_map_text given) a label_map.pbtxt
    of other content that `known` does not list: this run would replace or delete them, and nothing already
    written may be lost. `what` names the folder's flag."""
    # By file name: the folder may have moved since the earlier run recorded its paths.
    known_names = {os.path.basename(path) for path in known}
    foreign = [path for name in names for path in shard_paths_named(output_dir, name)
               if os.path.basename(path) not in known_names]
    label_map = os.path.join(output_dir, "label_map.pbtxt")
    if label_map_text is not None and os.path.isfile(label_map) and "label_map.pbtxt" not in known_names:
        with open(label_map, encoding="utf-8", errors="replace") as handle:
            if handle.read() != label_map_text:
                foreign.append(label_map)
    if foreign:
        shown = ", ".join(os.path.basename(path) for path in foreign[:6]) + (" ..." if len(foreign) > 6 else "")
        raise ValueError(f"{what} {output_dir} holds {len(foreign)} file(s) no earlier run of this command wrote "
                         f"there ({shown}); this run would replace or delete them. Choose an empty folder, or move "
                         "them away first")


def remove_stale_shards(output_dir: str, name: str, current: list[str]) -> list[str]:
    """Deletes the NAME-?????-of-?????.tfrecord files of `output_dir` that are not in `current` (shards of an earlier
    run with another shard count, or of a split this run does not write), which a '*.tfrecord' or 'NAME-*' glob
    would otherwise mix into this run's data; returns their paths.

    Call it after the new shards are in place, so that a run stopped earlier leaves the old data whole.
    """
    keep = {os.path.abspath(path) for path in current}
    stale = [path for path in shard_paths_named(output_dir, name) if os.path.abspath(path) not in keep]
    for path in stale:
        os.remove(path)
        logging.warning("removed %s: a shard of an earlier run that this run does not overwrite", path)
    return stale


def write_shard(path: str, records: Iterable[bytes]) -> int:
    """Writes serialized records into one shard file at `path`, through a temporary name beside it that is renamed
    over `path` once every record is written; returns the number written.

    The temporary name is unique to this call, so two processes given the same shard (a distributed runner retries
    or duplicates work) never write one file; each renames a whole shard, and with the same records the same bytes.
    On an exception the temporary file is removed and an earlier file at `path` is left as it was.
    """
    temporary = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
    count = 0
    try:
        with open(temporary, "wb") as writer:
            for record in records:
                writer.write(tfrecord_framing.frame(record))
                count += 1
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return count


class ShardedTFRecordWriter:
    """Writes records round-robin into `num_shards` files of `output_dir`.

    Use as a context manager. Shards are written under temporary names and renamed to
    NAME-00000-of-000NN.tfrecord only when the block ends without an exception; on an exception the temporary
    files are removed and files already in the folder are left as they were.
    """

    def __init__(self, output_dir: str, name: str, num_shards: int = 1):
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        if not name or os.sep in name:
            raise ValueError(f"shard base name must be a plain file name, got {name!r}")
        self.output_dir = output_dir
        self.name = name
        self.num_shards = num_shards
        self.num_written = 0
        self.paths = [os.path.join(output_dir, shard_filename(name, i, num_shards)) for i in range(num_shards)]
        self._temp_paths = [os.path.join(output_dir, f".{os.path.basename(p)}.tmp-{os.getpid()}")
                            for p in self.paths]
        self._writers: list = []

    def __enter__(self) -> "ShardedTFRecordWriter":
        os.makedirs(self.output_dir, exist_ok=True)
        try:
            for temp_path in self._temp_paths:
                self._writers.append(open(temp_path, "wb"))
        except BaseException:
            self._abort()
            raise
        return self

    def write(self, example_or_bytes: Union[Example, bytes]) -> None:
        """Appends one record (an Example or its serialized bytes) to the next shard in turn."""
        if not self._writers:
            raise RuntimeError("ShardedTFRecordWriter.write called outside its `with` block")
        data = example_or_bytes if isinstance(example_or_bytes, bytes) else serialize_example(example_or_bytes)
        self._writers[self.num_written % self.num_shards].write(tfrecord_framing.frame(data))
        self.num_written += 1

    def _close_writers(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []

    def _abort(self) -> None:
        try:
            self._close_writers()
        finally:
            for temp_path in self._temp_paths:
                if os.path.exists(temp_path):
                    os.remove(temp_path)

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            self._close_writers()
            for temp_path, path in zip(self._temp_paths, self.paths):
                os.replace(temp_path, path)
        except BaseException:
            self._abort()
            raise


def expand_pattern(pattern: str) -> list[str]:
    """Sorted files matching a path, glob, or comma-separated list of them; FileNotFoundError when none."""
    paths: list[str] = []
    for part in pattern.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" in part:  # gs:// and similar: only TF's file system knows them
            import tensorflow as tf
            matches = tf.io.gfile.glob(part)
        else:
            matches = glob.glob(part)
        paths.extend(sorted(matches))
    if not paths:
        raise FileNotFoundError(f"no TFRecord files match {pattern!r}")
    return paths


def read_records(pattern: str) -> Iterator[bytes]:
    """Serialized records of every file matching `pattern`, file by file in sorted order; both checksums of each are
    verified (tfrecord_framing.CorruptRecordError names the file, record and byte where one breaks)."""
    for path in expand_pattern(pattern):
        yield from tfrecord_framing.read_records(path)


def read_examples(pattern: str) -> Iterator[Example]:
    """The Example (tf.train.Example's fields) of every record in the files matching `pattern`."""
    for data in read_records(pattern):
        yield Example.FromString(data)
