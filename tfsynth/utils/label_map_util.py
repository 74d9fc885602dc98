"""Label maps (label_map.pbtxt, the OD API's StringIntLabelMap): read, check, convert and write.

The public names and defaults are the OD API's (object_detection/utils/label_map_util.py), so code written
against it works unchanged. Checks are stricter: duplicate ids, duplicate names and ids below 1 are errors that
name the file and the item (the OD API's one exception, id 0 for the item named "background", is accepted and
left out of categories, as there).
"""
from __future__ import annotations

import logging
import os
from typing import Optional, Union

from google.protobuf import text_format

from tfsynth.protos import string_int_label_map_pb2
from tfsynth.utils.files import write_atomically

LabelMap = string_int_label_map_pb2.StringIntLabelMap
_BACKGROUND = "background"
_FREQUENCY_LETTERS = {"FREQUENT": "f", "COMMON": "c", "RARE": "r"}


def _read_bytes(path: str) -> bytes:
    if "://" in path:  # gs:// and similar: only TF's file system knows them
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "rb") as handle:
            return handle.read()
    with open(path, "rb") as handle:
        return handle.read()


def _describe(item: string_int_label_map_pb2.StringIntLabelMapItem, index: int) -> str:
    return f"item {index + 1} (name {item.name!r}, id {item.id})"


def validate_label_map(label_map: LabelMap, source: str = "<label map>") -> None:
    """Raises ValueError naming `source` and the item when ids are < 1 (except background 0) or repeated,
    or names are missing or repeated."""
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for index, item in enumerate(label_map.item):
        where = f"{source}: {_describe(item, index)}"
        if not item.HasField("id"):
            raise ValueError(f"{where}: has no id; expected an integer id >= 1")
        if item.id < 0:
            raise ValueError(f"{where}: id must be >= 1")
        if item.id == 0 and _BACKGROUND not in (item.name, item.display_name):
            raise ValueError(f"{where}: id 0 is reserved for the background; class ids start at 1")
        if not item.name and not item.display_name:
            raise ValueError(f"{where}: has neither name nor display_name")
        if item.id in seen_ids:
            raise ValueError(f"{where}: duplicate id {item.id} (also item {seen_ids[item.id] + 1})")
        seen_ids[item.id] = index
        if item.name:
            if item.name in seen_names:
                raise ValueError(f"{where}: duplicate name {item.name!r} (also item {seen_names[item.name] + 1})")
            seen_names[item.name] = index


def load_labelmap(path: str) -> LabelMap:
    """Reads and checks a label map in text format (or binary StringIntLabelMap) from `path`."""
    data = _read_bytes(path)
    label_map = LabelMap()
    try:
        text_format.Merge(data.decode("utf-8"), label_map)
    except (text_format.ParseError, UnicodeDecodeError) as text_error:
        # The OD API also reads binary label maps; accept one only when it round-trips, since almost any
        # bytes parse as some binary message.
        label_map = LabelMap()
        try:
            label_map.ParseFromString(data)
            is_binary = bool(label_map.item) and label_map.SerializeToString() == data
        except Exception:  # noqa: BLE001 - any failure means "not binary either"
            is_binary = False
        if not is_binary:
            raise ValueError(f"{path}: not a StringIntLabelMap in text format: {text_error}") from None
    if not label_map.item:
        # Every use reads classes from it; an empty one would only surface later as "class X is not in the map".
        raise ValueError(f"{path}: holds no item {{ name: ... id: ... }}; expected one item per class, ids from 1")
    validate_label_map(label_map, path)
    return label_map


def _as_label_map(label_map_path_or_proto: Union[str, LabelMap]) -> LabelMap:
    if isinstance(label_map_path_or_proto, (str, os.PathLike)):
        return load_labelmap(os.fspath(label_map_path_or_proto))
    validate_label_map(label_map_path_or_proto)
    return label_map_path_or_proto


def _item_name(item, use_display_name: bool) -> str:
    if use_display_name and item.HasField("display_name"):
        return item.display_name
    return item.name or item.display_name


def get_label_map_dict(label_map_path_or_proto: Union[str, LabelMap], use_display_name: bool = False,
                       fill_in_gaps_and_background: bool = False) -> dict[str, int]:
    """Class name (or display_name) -> id.

    With fill_in_gaps_and_background, id 0 maps from 'background' and every missing id below the largest gets
    the name str(id), as in the OD API.
    """
    label_map = _as_label_map(label_map_path_or_proto)
    source = label_map_path_or_proto if isinstance(label_map_path_or_proto, str) else "<label map>"
    name_to_id: dict[str, int] = {}
    for index, item in enumerate(label_map.item):
        name = _item_name(item, use_display_name)
        if name in name_to_id and name_to_id[name] != item.id:
            raise ValueError(f"{source}: {_describe(item, index)}: duplicate "
                             f"{'display_name' if use_display_name else 'name'} {name!r}")
        name_to_id[name] = item.id
    if fill_in_gaps_and_background:
        present = set(name_to_id.values())
        name_to_id.setdefault(_BACKGROUND, 0)
        for missing in range(1, max(present | {0}) + 1):
            if missing not in present:
                name_to_id[str(missing)] = missing
    return name_to_id


def get_max_label_map_index(label_map: LabelMap) -> int:
    """The largest id in the label map (0 when it is empty)."""
    return max((item.id for item in label_map.item), default=0)


def convert_label_map_to_categories(label_map: Optional[LabelMap], max_num_classes: int,
                                    use_display_name: bool = True) -> list[dict]:
    """List of {'id', 'name'} dicts (plus 'keypoints', 'frequency', 'instance_count' when set) for ids in
    1..max_num_classes. Without a label map, ids 1..max_num_classes named 'category_N' (as the OD API)."""
    if label_map is None:
        return [{"id": class_id, "name": f"category_{class_id}"} for class_id in range(1, max_num_classes + 1)]
    categories = []
    added_ids: set[int] = set()
    for item in label_map.item:
        if not 0 < item.id <= max_num_classes:
            logging.info("Ignoring label map item %r with id %d: outside 1..%d", item.name, item.id,
                         max_num_classes)
            continue
        if item.id in added_ids:
            continue
        added_ids.add(item.id)
        category = {"id": item.id, "name": _item_name(item, use_display_name)}
        if item.keypoints:
            category["keypoints"] = {kp.label: kp.id for kp in item.keypoints}
        if item.HasField("frequency"):
            # LVIS's own letters: 'f'requent, 'c'ommon, 'r'are (UNSPECIFIED adds nothing).
            letter = _FREQUENCY_LETTERS.get(string_int_label_map_pb2.LVISFrequency.Name(item.frequency))
            if letter:
                category["frequency"] = letter
        if item.HasField("instance_count"):
            category["instance_count"] = item.instance_count
        categories.append(category)
    return categories


def create_categories_from_labelmap(label_map_path: str, use_display_name: bool = True) -> list[dict]:
    """Categories list of the label map at `label_map_path` (every item with id >= 1)."""
    label_map = load_labelmap(label_map_path)
    return convert_label_map_to_categories(label_map, get_max_label_map_index(label_map), use_display_name)


def create_category_index(categories: list[dict]) -> dict[int, dict]:
    """id -> category dict."""
    return {category["id"]: category for category in categories}


def create_category_index_from_labelmap(label_map_path: str, use_display_name: bool = True) -> dict[int, dict]:
    """id -> {'id', 'name'} of the label map at `label_map_path`."""
    return create_category_index(create_categories_from_labelmap(label_map_path, use_display_name))


def create_class_agnostic_category_index() -> dict[int, dict]:
    """The one-class index of class-agnostic models."""
    return {1: {"id": 1, "name": "object"}}


def build_label_map(name_to_id: dict[str, int], display_names: Optional[dict[str, str]] = None) -> LabelMap:
    """A checked StringIntLabelMap from name -> id, items sorted by id."""
    label_map = LabelMap()
    for name, class_id in sorted(name_to_id.items(), key=lambda pair: pair[1]):
        item = label_map.item.add(name=name, id=int(class_id))
        if display_names and name in display_names:
            item.display_name = display_names[name]
    validate_label_map(label_map, "<name_to_id>")
    return label_map


def label_map_to_text(label_map: LabelMap) -> str:
    """The label map in the OD API's text layout (one `item { ... }` block per class)."""
    return text_format.MessageToString(label_map)


def write_label_map(path: str, name_to_id: dict[str, int], display_names: Optional[dict[str, str]] = None) -> None:
    """Writes a label_map.pbtxt (temporary file, then rename). Raises ValueError on ids < 1 or duplicates."""
    text = label_map_to_text(build_label_map(name_to_id, display_names))
    write_atomically(path, text)
