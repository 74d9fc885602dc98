"""label_map_util: the OD API's names on real label maps, strict checks, atomic writing."""
import os

import pytest

from tfsynth.utils import label_map_util
from tfsynth.utils.shared_data import SHARED_DATA

COCO_LABEL_MAP = str(SHARED_DATA / "odapi_reference/mscoco_label_map.pbtxt")


def _write(tmp_path, text, name="label_map.pbtxt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_coco_label_map_reads_with_gaps_and_display_names():
    label_map = label_map_util.load_labelmap(COCO_LABEL_MAP)
    assert len(label_map.item) == 80
    assert label_map_util.get_max_label_map_index(label_map) == 90
    by_name = label_map_util.get_label_map_dict(COCO_LABEL_MAP)
    assert by_name["/m/01g317"] == 1
    by_display = label_map_util.get_label_map_dict(COCO_LABEL_MAP, use_display_name=True)
    assert by_display["person"] == 1 and by_display["toothbrush"] == 90
    assert 12 not in by_display.values()  # COCO's gaps stay gaps
    index = label_map_util.create_category_index_from_labelmap(COCO_LABEL_MAP)
    assert index[90] == {"id": 90, "name": "toothbrush"}
    categories = label_map_util.create_categories_from_labelmap(COCO_LABEL_MAP, use_display_name=False)
    assert categories[0] == {"id": 1, "name": "/m/01g317"}
    assert label_map_util.create_category_index(categories)[3]["name"] == "/m/0k4j"


def test_fill_in_gaps_and_background():
    filled = label_map_util.get_label_map_dict(COCO_LABEL_MAP, use_display_name=True,
                                               fill_in_gaps_and_background=True)
    assert filled["background"] == 0
    assert filled["12"] == 12
    assert sorted(filled.values()) == list(range(91))


def test_convert_without_label_map_and_max_classes():
    assert label_map_util.convert_label_map_to_categories(None, 2) == [
        {"id": 1, "name": "category_1"}, {"id": 2, "name": "category_2"}]
    label_map = label_map_util.load_labelmap(COCO_LABEL_MAP)
    categories = label_map_util.convert_label_map_to_categories(label_map, max_num_classes=3)
    assert [c["id"] for c in categories] == [1, 2, 3]


@pytest.mark.parametrize("text, expected", [
    ('item { name: "a" id: 1 } item { name: "b" id: 1 }', "duplicate id 1"),
    ('item { name: "a" id: 1 } item { name: "a" id: 2 }', "duplicate name 'a'"),
    ('item { name: "a" id: 0 }', "id 0 is reserved"),
    ('item { name: "a" id: -3 }', "id must be >= 1"),
    ('item { name: "a" }', "has no id"),
    ('item { name: "a" id: 1 ', "not a StringIntLabelMap"),
])
def test_bad_label_maps_name_file_and_item(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        label_map_util.load_labelmap(path)
    assert expected in str(error.value)
    assert path in str(error.value)


def test_background_at_zero_is_accepted_and_left_out_of_categories(tmp_path):
    path = _write(tmp_path, 'item { name: "background" id: 0 } item { name: "milk" id: 1 }')
    assert label_map_util.create_categories_from_labelmap(path) == [{"id": 1, "name": "milk"}]


def test_write_then_read_round_trip(tmp_path):
    path = str(tmp_path / "out" / "label_map.pbtxt")
    label_map_util.write_label_map(path, {"water": 2, "eggBox": 1}, display_names={"water": "Water bottle"})
    assert os.listdir(tmp_path / "out") == ["label_map.pbtxt"]  # no temporary file left
    assert label_map_util.get_label_map_dict(path) == {"eggBox": 1, "water": 2}
    assert label_map_util.get_label_map_dict(path, use_display_name=True) == {"eggBox": 1, "Water bottle": 2}
    text = open(path).read()
    assert text.index("eggBox") < text.index("water")  # sorted by id, as the OD API's files


def test_write_refuses_bad_ids_and_keeps_old_file(tmp_path):
    path = str(tmp_path / "label_map.pbtxt")
    label_map_util.write_label_map(path, {"a": 1})
    with pytest.raises(ValueError, match="id 0 is reserved"):
        label_map_util.write_label_map(path, {"a": 0})
    with pytest.raises(ValueError, match="duplicate id"):
        label_map_util.write_label_map(path, {"a": 1, "b": 1})
    assert label_map_util.get_label_map_dict(path) == {"a": 1}
    assert os.listdir(tmp_path) == ["label_map.pbtxt"]


def test_keypoints_frequency_and_instance_count_carried_into_categories(tmp_path):
    path = _write(tmp_path, 'item { name: "person" id: 1 keypoints { id: 0 label: "nose" } frequency: RARE '
                            'instance_count: 7 }')
    (category,) = label_map_util.create_categories_from_labelmap(path)
    assert category == {"id": 1, "name": "person", "keypoints": {"nose": 0}, "frequency": "r",
                        "instance_count": 7}


def test_an_empty_label_map_is_named_as_empty(tmp_path):
    path = tmp_path / "label_map.pbtxt"
    path.write_text("# no classes yet\n")
    with pytest.raises(ValueError, match=r"label_map\.pbtxt: holds no item \{ name: \.\.\. id: \.\.\. \}"):
        label_map_util.load_labelmap(str(path))

