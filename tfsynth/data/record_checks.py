"""Checks TFRecord shards of tf.train.Example (OD API layout) before anything trains on or reports about them.

Each problem names the file and the record (and object) at fault and says what was expected:

- file level: a file of 0 bytes, a file that cannot be opened, a file that is not TFRecord data, a file cut short
  (tfrecord_framing walks every header), data that fails its checksum (tfrecord_framing's reader);
- record level: bytes that are not a tf.train.Example, no image/encoded, no image/object/bbox/* keys (an image
  without objects has them with empty lists), no class for the boxes, lists of different lengths, a feature of the
  wrong type, a box outside [0, 1] (BOX_TOLERANCE allowed) or empty (xmin >= xmax or ymin >= ymax), a class id
  unknown to the label map or outside the model's 1..num_classes;
- object level: a class text that the label map does not know.

on_error 'stop' raises RecordCheckError at the first problem. 'skip' counts and logs each problem and leaves out
what it concerns: the rest of a file from where it breaks (the records before stay usable), a bad record, and,
for a class text missing from the label map, that object only: dropping such objects is what the OD API's
decoder does, and what a label map that leaves classes out on purpose relies on. Records are parsed and each
image's form checked (tfsynth.data.image_form: its signature and end marker), never its pixels decoded: about 2000
records (100 MB) a second on a busy 2-core machine, so a full scan of thousands of records takes seconds;
max_records_per_file bounds the content checks of large shards (framing is always walked in
full, which costs one 12-byte read per record).
"""
from __future__ import annotations

import collections
import itertools
import dataclasses
import logging
import math
from typing import Iterator, Optional, Sequence

# label_map_util before TensorFlow: it compiles stale protos with grpc_tools, which crashes once TF is loaded.
from tfsynth.utils import label_map_util
from tfsynth.core.standard_fields import TfExampleFields as F
from tfsynth.data import tfrecord_framing
from tfsynth.data.image_form import encoded_image_problem
from tfsynth.data.readers.base import InputError
from tfsynth.protos import example_pb2

logger = logging.getLogger(__name__)

ON_ERROR_CHOICES = ("stop", "skip")
# Normalized coordinates may overshoot [0, 1] by this much (rounding in other tools' writers), no more.
BOX_TOLERANCE = 1e-3
# Skipped items logged one by one; the rest are only counted.
_LOGGED_SKIPS = 20
_BOX_KEYS = (F.object_bbox_ymin, F.object_bbox_xmin, F.object_bbox_ymax, F.object_bbox_xmax)
_EXPECTED_KINDS = {F.image_encoded: "bytes_list", F.object_class_text: "bytes_list",
                   F.object_class_label: "int64_list", **{key: "float_list" for key in _BOX_KEYS}}
_LAYOUT = (f"expected the OD API layout: {F.image_encoded}, {', '.join(_BOX_KEYS)} and {F.object_class_label} "
           f"or {F.object_class_text} (empty lists for an image without objects)")


class RecordCheckError(InputError):
    """A problem with a TFRecord file or one of its records; `path` names the file, `record` the record index
    (None for the whole file) and `kind` the kind of problem (the key of the skip counts)."""

    def __init__(self, path: str, message: str, record: Optional[int] = None, kind: str = ""):
        super().__init__(path, message)
        self.record = record
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class ClassRules:
    """What a record's classes must satisfy, mirroring the input pipeline's decoder: with a label map, class texts
    are looked up in it (ids stand only when a record has no texts); ids must lie in 1..num_classes when known."""

    name_to_id: Optional[dict] = None  # None: no label map
    label_map_path: str = ""
    num_classes: Optional[int] = None

    @classmethod
    def from_label_map(cls, label_map_path: str = "", use_display_name: bool = False,
                       num_classes: Optional[int] = None) -> "ClassRules":
        """Rules for a label map file (none when label_map_path is empty) and an optional model num_classes."""
        name_to_id = (label_map_util.get_label_map_dict(label_map_path, use_display_name=use_display_name)
                      if label_map_path else None)
        return cls(name_to_id, label_map_path, num_classes)


@dataclasses.dataclass(frozen=True)
class RecordFilter:
    """What an input pipeline leaves out after a scan in skip mode: `limits` maps a file to the number of records
    to read from its start (files cut short or corrupt; 0 for unusable files), `skipped` a file to the indices of
    records to leave out."""

    limits: dict
    skipped: dict


@dataclasses.dataclass
class CheckedExample:
    """A record that passed: where it is, the parsed Example, and the objects to leave out (skip mode)."""

    path: str
    index: int
    example: example_pb2.Example  # tf.train.Example's fields
    dropped_objects: tuple = ()


@dataclasses.dataclass
class CheckReport:
    """The outcome of a scan: files, usable and checked records, and what skip mode left out, by kind."""

    files: list
    num_records: int = 0  # usable records (including ones past max_records_per_file, not checked)
    num_checked: int = 0  # records whose content was checked
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    limits: dict = dataclasses.field(default_factory=dict)
    skipped_records: dict = dataclasses.field(default_factory=dict)
    empty_files: list = dataclasses.field(default_factory=list)  # valid shards of 0 records

    def record_filter(self) -> Optional[RecordFilter]:
        """The RecordFilter of what was skipped, or None when nothing was."""
        if not self.limits and not self.skipped_records:
            return None
        return RecordFilter(dict(self.limits), {path: frozenset(indices)
                                                for path, indices in self.skipped_records.items()})

    def summary(self) -> str:
        """One line: files, records, and the skip counts."""
        text = f"{len(self.files)} files, {self.num_records} usable records ({self.num_checked} checked)"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{kind} {count}" for kind, count in sorted(self.skipped.items()))
        return text


class _Policy:
    """Applies on_error: raise at once, or count, log the first few and let the caller leave the item out."""

    def __init__(self, on_error: str, report: CheckReport, skip_hint: str):
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.report = report
        self.skip_hint = skip_hint
        self.logged = 0

    def problem(self, path: str, message: str, kind: str, record: Optional[int] = None) -> None:
        """Raises RecordCheckError in stop mode; counts and logs in skip mode (the caller then skips)."""
        if self.on_error == "stop":
            raise RecordCheckError(path, message + (f" ({self.skip_hint})" if self.skip_hint else ""), record, kind)
        self.report.skipped[kind] += 1
        if self.logged < _LOGGED_SKIPS:
            logger.warning("skipping: %s: %s", path, message)
        elif self.logged == _LOGGED_SKIPS:
            logger.warning("further skipped items are only counted")
        self.logged += 1


def _values(example, key: str) -> Optional[list]:
    """The values of a feature, or None when the key is absent."""
    if key not in example.features.feature:
        return None
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _record_problem(example, rules: ClassRules) -> tuple[Optional[tuple[str, str]], list[tuple[int, str]]]:
    """((kind, message) of the first record-level problem or None, [(object index, message)] of class texts the
    label map does not know)."""
    features = example.features.feature
    for key, expected in _EXPECTED_KINDS.items():
        kind = features[key].WhichOneof("kind") if key in features else None
        if kind is not None and kind != expected:
            return ("wrong feature type", f"{key} is a {kind}; expected a {expected}"), []
    encoded = _values(example, F.image_encoded)
    missing = [key for key in (F.image_encoded,) + _BOX_KEYS if _values(example, key) is None]
    if missing:
        return ("missing keys", f"no {', '.join(missing)}; {_LAYOUT}"), []
    if not encoded or not encoded[0]:
        return ("missing keys", f"{F.image_encoded} is empty; expected the image file's bytes"), []
    image_problem = encoded_image_problem(encoded[0])
    if image_problem:
        return ("bad image", f"{F.image_encoded}: {image_problem}"), []
    ymin, xmin, ymax, xmax = (_values(example, key) for key in _BOX_KEYS)
    num_boxes = len(ymin)
    if not len(xmin) == len(ymax) == len(xmax) == num_boxes:
        return ("mismatched lengths", f"image/object/bbox/ymin, xmin, ymax, xmax hold {num_boxes}, {len(xmin)}, "
                                      f"{len(ymax)}, {len(xmax)} values; expected one each per object"), []
    for index in range(num_boxes):
        box = (ymin[index], xmin[index], ymax[index], xmax[index])
        where = (f"object {index}: box ymin {box[0]:.4g}, xmin {box[1]:.4g}, ymax {box[2]:.4g}, "
                 f"xmax {box[3]:.4g}")
        if not all(math.isfinite(v) and -BOX_TOLERANCE <= v <= 1 + BOX_TOLERANCE for v in box):
            return ("box outside [0, 1]", f"{where} is outside [0, 1]; expected coordinates normalized by the image "
                                          f"width and height"), []
        if box[0] >= box[2] or box[1] >= box[3]:
            return ("empty box", f"{where} is empty; expected ymin < ymax and xmin < xmax"), []
    texts = [t.decode("utf-8", "replace") for t in (_values(example, F.object_class_text) or [])]
    labels = _values(example, F.object_class_label) or []
    by_text = bool(texts) and rules.name_to_id is not None  # the decoder's choice
    classes = texts if by_text else labels
    if len(classes) != num_boxes:
        if not classes and num_boxes:
            detail = (f"no {F.object_class_label}" + (f" or {F.object_class_text}" if rules.name_to_id is not None
                                                      else " (and no label map to look up class texts in)"))
            return ("missing keys", f"{num_boxes} boxes but {detail}; {_LAYOUT}"), []
        key = F.object_class_text if by_text else F.object_class_label
        return ("mismatched lengths", f"{num_boxes} boxes but {len(classes)} values in {key}; expected one per "
                                      f"object"), []
    unknown: list[tuple[int, str]] = []
    for index, value in enumerate(classes):
        if by_text:
            if value not in rules.name_to_id:
                unknown.append((index, f"object {index}: class {value!r} is not in the label map "
                                       f"{rules.label_map_path} (known: {', '.join(sorted(rules.name_to_id))})"))
                continue
            class_id, named = int(rules.name_to_id[value]), f"class {value!r} (id {rules.name_to_id[value]})"
        else:
            class_id, named = int(value), f"class id {int(value)}"
            if rules.name_to_id is not None and class_id not in set(rules.name_to_id.values()):
                return ("class not in label map", f"object {index}: {named} is not in the label map "
                                                  f"{rules.label_map_path} (ids: "
                                                  f"{', '.join(map(str, sorted(set(rules.name_to_id.values()))))})"), []
        if rules.num_classes is not None and not 1 <= class_id <= rules.num_classes:
            return ("class id out of range", f"object {index}: {named} is outside 1..{rules.num_classes}, the "
                                             f"model's num_classes"), []
    return None, unknown


def _before(count: int) -> str:
    return f"the {count} record{'' if count == 1 else 's'} before it {'is' if count == 1 else 'are'} readable"


def iter_checked_examples(paths: Sequence[str], rules: Optional[ClassRules] = None, on_error: str = "stop",
                          max_records_per_file: Optional[int] = None, report: Optional[CheckReport] = None,
                          skip_hint: str = "") -> Iterator[CheckedExample]:
    """The records of `paths` that pass the checks (see the module docstring), file by file in order.

    on_error 'stop' raises RecordCheckError (a ValueError) at the first problem, its message ending with
    `skip_hint` (how to skip instead); 'skip' counts into `report` and leaves the item out. With
    max_records_per_file, only that many records of each file are parsed and checked (and yielded).
    """
    from google.protobuf.message import DecodeError

    rules = rules or ClassRules()
    report = report if report is not None else CheckReport(files=list(paths))
    policy = _Policy(on_error, report, skip_hint)
    for path in paths:
        try:
            framing = tfrecord_framing.walk(path)
        except OSError as error:
            policy.problem(path, f"cannot be read ({error}); expected a readable TFRecord file", "unreadable file")
            report.limits[path] = 0
            continue
        if framing.size == 0:
            # A valid shard of no records (tf.io.TFRecordWriter writes 0 bytes for none; generate and convert do so
            # when there are fewer images than shards). Only a set with no record at all is an error (check_records).
            report.limits[path] = 0
            report.empty_files.append(path)
            continue
        usable = framing.num_records
        if framing.problem is not None:
            if usable == 0 and "checksum" in framing.problem:
                message = (f"is not a TFRecord file: at byte 0 {framing.problem}; expected records written by "
                           f"tf.io.TFRecordWriter")
                kind = "not a TFRecord file"
            else:
                message = (f"record {usable} (byte {framing.problem_offset}): {framing.problem}; "
                           f"{_before(usable)}")
                kind = "file cut short or corrupt"
            policy.problem(path, message, kind, usable)
            report.limits[path] = usable
        checked = usable if max_records_per_file is None else min(usable, max_records_per_file)
        skipped = report.skipped_records.setdefault(path, set())
        try:
            for index, data in enumerate(itertools.islice(tfrecord_framing.read_records(path), checked)):
                report.num_checked += 1
                try:
                    example = example_pb2.Example.FromString(data)
                except DecodeError as error:
                    policy.problem(path, f"record {index}: is not a tf.train.Example ({error}); {_LAYOUT}",
                                   "not a tf.train.Example", index)
                    skipped.add(index)
                    continue
                problem, unknown = _record_problem(example, rules)
                if problem is not None:
                    separator = ", " if problem[1].startswith("object") else ": "
                    policy.problem(path, f"record {index}{separator}{problem[1]}", problem[0], index)
                    skipped.add(index)
                    continue
                for _, message in unknown:
                    policy.problem(path, f"record {index}, {message}", "object: class not in label map", index)
                yield CheckedExample(path, index, example, tuple(i for i, _ in unknown))
        except tfrecord_framing.CorruptRecordError as error:
            # The framing is sound, so the data of this record fails its checksum.
            read = error.index
            policy.problem(path, f"record {read} (byte {error.offset}): its data fails its checksum "
                                 f"(corrupt file); {_before(read)}",
                           "file cut short or corrupt", read)
            report.limits[path] = usable = read
        if not skipped:
            del report.skipped_records[path]
        report.num_records += usable - len(skipped)


def check_records(paths: Sequence[str], rules: Optional[ClassRules] = None, on_error: str = "stop",
                  max_records_per_file: Optional[int] = None, skip_hint: str = "") -> CheckReport:
    """Scans `paths` (see iter_checked_examples) and returns the report; its record_filter() tells an input
    pipeline what to leave out. Raises RecordCheckError when no usable record remains, even in skip mode (a
    repeated pipeline over no records would spin forever)."""
    report = CheckReport(files=list(paths))
    for _ in iter_checked_examples(paths, rules, on_error, max_records_per_file, report, skip_hint):
        pass
    if report.num_records == 0 and paths and len(report.empty_files) == len(paths):
        raise RecordCheckError(", ".join(paths), f"{'is' if len(paths) == 1 else 'are'} empty (0 bytes); expected "
                               "TFRecord records of tf.train.Example", None, "empty file")
    if report.num_records == 0:
        raise RecordCheckError(", ".join(paths), "no usable records" + (
            f" (skipped: {', '.join(f'{k} {n}' for k, n in sorted(report.skipped.items()))})"
            if report.skipped else "") + "; expected at least one tf.train.Example", None, "no records")
    if report.skipped:
        logger.warning("input check: %s", report.summary())
    return report
