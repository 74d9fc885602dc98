"""Readers: VOC and COCO round trips through small fixtures, SOLO on real Unity output, CNTK on the real photos."""
import json
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
from tfsynth import convert as convert_module
from tfsynth.data import coco_json, tfrecord
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers import InputError, OutsideRootError, get_reader
from tfsynth.utils.shared_data import SHARED_DATA

SOLO_SAMPLE = str(SHARED_DATA / "unity_solo_sample")
CNTK_FRIDGE = str(SHARED_DATA / "real/cntk_fridge_us")

VOC_XML = """<annotation>
  <folder>VOC2007</folder><filename>{name}.jpg</filename>
  <size><width>40</width><height>30</height><depth>3</depth></size>
  <object><name>milk</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
    <bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object>
  <object><name>egg</name><truncated>0</truncated><difficult>1</difficult>
    <bndbox><xmin>21</xmin><ymin>1</ymin><xmax>39</xmax><ymax>29</ymax></bndbox></object>
</annotation>"""


def _voc_year_folder(root, names=("000001", "000002"), split_names=None):
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for name in names:
        Image.new("RGB", (40, 30), (10, 200, 30)).save(os.path.join(root, "JPEGImages", f"{name}.jpg"))
        with open(os.path.join(root, "Annotations", f"{name}.xml"), "w") as out:
            out.write(VOC_XML.format(name=name))
    with open(os.path.join(root, "ImageSets", "Main", "trainval.txt"), "w") as out:
        out.write("\n".join(split_names or names) + "\n")
    return str(root)


def test_voc_year_folder_devkit_and_plain_folder(tmp_path):
    year = _voc_year_folder(tmp_path / "VOCdevkit" / "VOC2007", split_names=["000002"])
    (image,) = list(get_reader("voc")(year))  # only the split's image
    assert image.filename == "000002.jpg" and (image.width, image.height) == (40, 30)
    assert image.path == os.path.join(year, "JPEGImages", "000002.jpg")
    milk, egg = image.objects
    assert (milk.class_name, milk.xmin, milk.ymin, milk.xmax, milk.ymax) == ("milk", 2, 3, 20, 25)
    assert milk.truncated and not milk.difficult and egg.difficult and not egg.truncated
    assert len(list(get_reader("voc")(str(tmp_path / "VOCdevkit")))) == 1
    assert len(list(get_reader("voc")(year, split="trainval"))) == 1
    plain = [i.filename for i in get_reader("voc")(os.path.join(year, "Annotations"))]
    assert plain == ["000001.jpg", "000002.jpg"]


def test_voc_errors_name_the_file(tmp_path):
    year = _voc_year_folder(tmp_path / "VOC2012")
    with open(os.path.join(year, "Annotations", "000002.xml"), "w") as out:
        out.write("<annotation>\n<filename>x.jpg</filename>\n<object>")
    with pytest.raises(InputError, match=r"000002\.xml:3: not well-formed XML"):
        list(get_reader("voc")(year))
    errors = []
    assert len(list(get_reader("voc")(year, on_error=errors.append))) == 1
    assert len(errors) == 1
    with pytest.raises(InputError, match=r"ImageSets/Main/test\.txt: split file missing"):
        list(get_reader("voc")(year, split="test"))
    for value in ("nan", "inf"):
        with open(os.path.join(year, "Annotations", "000002.xml"), "w") as out:
            out.write(VOC_XML.format(name="000002").replace("<width>40</width>", f"<width>{value}</width>"))
        with pytest.raises(InputError, match=rf"000002\.xml: <width> is '{value}'; expected a finite number"):
            list(get_reader("voc")(year))
    with open(os.path.join(year, "ImageSets", "Main", "trainval.txt"), "wb") as out:
        out.write(b"000001\n00000\xe92\n")
    with pytest.raises(InputError, match=r"trainval\.txt: byte 12 is not UTF-8 text"):
        list(get_reader("voc")(year))


def test_voc_missing_annotation_and_image_in_convert(tmp_path):
    year = _voc_year_folder(tmp_path / "VOC2007", names=("000001", "000002"),
                            split_names=["000001", "000002", "000003"])
    os.remove(os.path.join(year, "JPEGImages", "000002.jpg"))
    with pytest.raises(convert_module.ConversionError, match=r"000002\.jpg: cannot read image file"):
        convert_module.convert("voc", year, str(tmp_path / "out"))
    with pytest.raises(InputError, match=r"000003\.xml: annotation file missing"):
        list(get_reader("voc")(year))
    summary = convert_module.convert("voc", year, str(tmp_path / "out"), on_error="skip")
    assert summary.num_images == 1
    assert summary.skipped == {"bad_annotation": 1, "bad_image": 1}


def test_voc_converts_to_records(tmp_path):
    year = _voc_year_folder(tmp_path / "VOC2007")
    summary = convert_module.convert("voc", year, str(tmp_path / "out"))
    assert summary.num_images == 2 and summary.label_map == {"egg": 1, "milk": 2}
    first = tfrecord.example_to_annotation(next(tfrecord.read_examples(str(tmp_path / "out" / "*.tfrecord"))))
    assert [(o.class_name, o.class_id, o.difficult, o.truncated) for o in first.objects] == [
        ("milk", 2, False, True), ("egg", 1, True, False)]
    np.testing.assert_allclose([first.objects[1].xmin, first.objects[1].ymax], [21, 29], rtol=1e-6)


def _coco_fixture(tmp_path):
    images = []
    for index in range(2):
        name = f"img{index}.png"
        Image.new("RGB", (40, 30), (index * 100, 0, 0)).save(tmp_path / name)
        mask = np.zeros((30, 40), np.uint8)
        mask[5:15, 6:20] = 1
        images.append(ImageAnnotation(name, 40, 30, [ObjectAnnotation("milk", 6, 5, 20, 15, class_id=3,
                                                                      mask=mask)], image_format="png"))
    images[1].objects.append(ObjectAnnotation("egg", 1.5, 2.5, 11.5, 22.5, class_id=7, area=50.0))
    path = str(tmp_path / "instances.json")
    coco_json.write_coco_json(path, images, [{"id": 3, "name": "milk"}, {"id": 7, "name": "egg"}])
    return path, images


def test_coco_json_round_trip(tmp_path):
    path, images = _coco_fixture(tmp_path)
    data = json.load(open(path))
    assert [i["id"] for i in data["images"]] == [1, 2]
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]
    assert data["annotations"][2]["bbox"] == [1.5, 2.5, 10.0, 20.0] and data["annotations"][2]["area"] == 50.0
    assert all(a["iscrowd"] == 0 for a in data["annotations"])
    assert "segmentation" in data["annotations"][0] and "segmentation" not in data["annotations"][2]
    back = coco_json.read_coco_json(path, include_masks=True)
    assert [i.filename for i in back] == ["img0.png", "img1.png"] and back[0].path == str(tmp_path / "img0.png")
    egg = back[1].objects[1]
    assert (egg.class_name, egg.class_id, egg.xmin, egg.ymin, egg.xmax, egg.ymax) == ("egg", 7, 1.5, 2.5, 11.5, 22.5)
    np.testing.assert_array_equal(back[0].objects[0].mask, images[0].objects[0].mask)
    assert coco_json.read_coco_categories(path) == [{"id": 3, "name": "milk"}, {"id": 7, "name": "egg"}]


def test_coco_converts_with_masks(tmp_path):
    path, images = _coco_fixture(tmp_path)
    summary = convert_module.convert("coco", path, str(tmp_path / "out"))
    assert summary.num_images == 2 and summary.num_boxes == 3
    # --include_masks needs a mask on every object: the egg has none.
    with pytest.raises(convert_module.ConversionError, match=r"img1\.png: object 'egg' has no instance mask"):
        convert_module.convert("coco", path, str(tmp_path / "out2"), include_masks=True)
    summary = convert_module.convert("coco", path, str(tmp_path / "out2"), include_masks=True, on_error="skip")
    assert summary.num_images == 1 and summary.skipped == {"missing_mask": 1}
    records = [tfrecord.example_to_annotation(e)
               for e in tfrecord.read_examples(str(tmp_path / "out2" / "*.tfrecord"))]
    np.testing.assert_array_equal(records[0].objects[0].mask, images[0].objects[0].mask)
    assert records[0].objects[0].class_id == 1  # no label map: ids 1..K in sorted name order (egg absent)


def test_coco_malformed_json_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"id": 1, "image_id": 2, '
                    '"category_id": 1, "bbox": [0, 0, 1, 1]}], "categories": [{"id": 1, "name": "a"}]}')
    with pytest.raises(InputError, match=r"bad\.json.*image_id 2 is not in 'images'"):
        list(get_reader("coco")(str(path)))
    path.write_text('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [], "categories": '
                    '[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}')
    with pytest.raises(InputError, match=r"bad\.json: malformed COCO JSON: categories\[1\] \('b'\) repeats category id 1 of 'a'"):
        list(get_reader("coco")(str(path)))
    path.write_text(path.read_text().replace('"name": "b"', '"name": "a"'))  # the same entry twice: harmless
    assert len(list(get_reader("coco")(str(path)))) == 1
    path.write_text('{"images": [{"id": 7, "file_name": "a.jpg", "width": "abc", "height": 30}], "annotations": [], '
                    '"categories": [{"id": 1, "name": "a"}]}')
    with pytest.raises(InputError, match=r"bad\.json: malformed COCO JSON: images\[0\] \(id 7\): width 'abc', "
                                         r"height 30; expected "):
        list(get_reader("coco")(str(path)))


@pytest.mark.parametrize("text, message", [
    ('{"images": [null], "annotations": [], "categories": []}', r"images\[0\]: expected an object \(\{\.\.\.\}\), got null"),
    ('{"images": [], "annotations": ["x"], "categories": []}', r'annotations\[0\]: expected an object .*got "x"'),
    ('{"images": [{"id": 1, "file_name": 5}], "annotations": [], "categories": []}',
     r"images\[0\]\.file_name: expected a file name \(a string\), got 5"),
    ('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"id": 3, "image_id": 1, "category_id": 1, '
     '"bbox": [[10], 10, 90, 110]}], "categories": [{"id": 1, "name": "a"}]}',
     r"annotations\[0\] \(id 3\): bbox must be \[x, y, width, height\], four numbers"),
    ('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotation": [], "categories": []}',
     r"no 'annotations' list \(has \['annotation', 'categories', 'images'\]\)"),
])
def test_coco_entries_of_the_wrong_kind_are_named(tmp_path, text, message):
    path = tmp_path / "set.json"
    path.write_text(text)
    with pytest.raises(InputError, match=r"set\.json: malformed COCO JSON: " + message):
        list(get_reader("coco")(str(path)))


def test_solo_sample_from_unity(tmp_path):
    images = list(get_reader("solo")(SOLO_SAMPLE, include_masks=True))
    assert [i.filename for i in images] == ["sequence.0/step0.camera.png", "sequence.1/step0.camera.png"]
    first = images[0]
    assert (first.width, first.height, first.image_format) == (1024, 768, "png")
    assert os.path.isfile(first.path)
    assert [(o.class_name, o.xmin, o.ymin, o.xmax, o.ymax) for o in first.objects] == [
        ("Crate", 167, 308, 395, 500), ("Character", 418, 243, 546, 579), ("Crate", 669, 400, 903, 666)]
    # Instance masks by colour: pixel counts equal Unity's own RenderedObjectInfo visiblePixels.
    assert [int(o.mask.sum()) for o in first.objects] == [35950, 16777, 47768]
    assert all(o.mask is None for o in images[1].objects)  # sequence.1 has no instance segmentation annotation
    summary = convert_module.convert("solo", SOLO_SAMPLE, str(tmp_path / "out"), num_shards=2)
    assert summary.num_images == 2 and summary.num_boxes == 6
    assert summary.label_map == {"Character": 1, "Crate": 2}
    masked = convert_module.convert("solo", SOLO_SAMPLE, str(tmp_path / "masked"), include_masks=True,
                                    on_error="skip")
    assert masked.num_images == 1 and masked.skipped == {"missing_mask": 1}
    (record,) = [tfrecord.example_to_annotation(e)
                 for e in tfrecord.read_examples(str(tmp_path / "masked" / "*.tfrecord"))]
    assert [int(o.mask.sum()) for o in record.objects] == [35950, 16777, 47768]


def test_solo_broken_frame_is_named(tmp_path):
    import shutil
    copy = tmp_path / "solo"
    shutil.copytree(SOLO_SAMPLE, copy)
    (copy / "sequence.1" / "step0.frame_data.json").write_text("{ not json")
    with pytest.raises(InputError, match=r"sequence\.1/step0\.frame_data\.json:1: not valid JSON"):
        list(get_reader("solo")(str(copy)))
    errors = []
    assert len(list(get_reader("solo")(str(copy), on_error=errors.append))) == 1 and len(errors) == 1


@pytest.mark.parametrize("damage, message", [
    ("missing frame", r"sequence\.1/step0\.frame_data\.json: missing; the sequence holds captures of step0"),
    ("empty sequence", r"sequence\.2: no step\*\.frame_data\.json in this sequence folder"),
    ("captures not a list", r"step0\.frame_data\.json: 'captures' is a dict; expected a list of capture objects"),
    ("values null", r"step0\.frame_data\.json: .*'values' is NoneType; expected a list of box objects"),
    ("latin-1", r"step0\.frame_data\.json: byte \d+ is not UTF-8 text"),
])
def test_solo_damage_is_named_not_dropped_or_a_traceback(tmp_path, damage, message):
    import shutil
    copy = tmp_path / "solo"
    shutil.copytree(SOLO_SAMPLE, copy)
    frame = copy / "sequence.1" / "step0.frame_data.json"
    data = json.loads(frame.read_text())
    if damage == "missing frame":
        frame.unlink()
    elif damage == "empty sequence":
        (copy / "sequence.2").mkdir()
    elif damage == "captures not a list":
        frame.write_text(json.dumps({**data, "captures": {"a": 1}}))
    elif damage == "values null":
        for capture in data["captures"]:
            for annotation in capture.get("annotations", []):
                annotation["values"] = None
        frame.write_text(json.dumps(data))
    else:
        frame.write_bytes(frame.read_bytes().replace(b'"captures"', b'"captures\xe9"', 1))
    with pytest.raises(InputError, match=message):
        list(get_reader("solo")(str(copy)))
    errors = []
    kept = 2 if damage == "empty sequence" else 1
    assert len(list(get_reader("solo")(str(copy), on_error=errors.append))) == kept and len(errors) == 1


def test_cntk_reader_on_real_photos():
    images = list(get_reader("cntk")(CNTK_FRIDGE))
    assert len(images) == 30
    assert sum(len(i.objects) for i in images) == 225
    assert len({o.class_name for i in images for o in i.objects}) == 8
    assert sum(1 for i in images if not i.objects) == 5


# Image paths leading out of the dataset root: '../', absolute, or a symbolic link inside that points out.
ESCAPES = ("dotdot", "absolute", "symlink")


def _outside_image(tmp_path, suffix=".jpg"):
    path = tmp_path / f"outside{suffix}"
    Image.new("RGB", (40, 30), (5, 6, 7)).save(path)
    return str(path)


def _escaping_entry(how, folder, outside):
    """The path that, joined onto `folder` by a reader, reaches the file `outside` (a link is made in `folder`)."""
    if how == "dotdot":
        return os.path.relpath(outside, folder)
    if how == "absolute":
        return outside
    link = "link" + os.path.splitext(outside)[1]
    os.symlink(outside, os.path.join(folder, link))
    return link


def _refusal(annotation_file, entry, outside, root, what="image"):
    """The start of the error a reader gives for an escaping path, as a regular expression."""
    return re.escape(f"{annotation_file}: {entry}: {what} path resolves to {os.path.realpath(outside)}, outside the "
                     f"dataset root; expected a path inside {os.path.realpath(root)}")


@pytest.mark.parametrize("how", ESCAPES)
def test_coco_image_outside_the_root_is_refused(tmp_path, how):
    root = tmp_path / "coco"
    root.mkdir()
    path, _ = _coco_fixture(root)
    outside = _outside_image(tmp_path)
    data = json.load(open(path))
    data["images"][1]["file_name"] = entry = _escaping_entry(how, str(root), outside)
    (root / "instances.json").write_text(json.dumps(data))
    if how == "dotdot":
        assert entry == "../outside.jpg"
    with pytest.raises(OutsideRootError, match=_refusal(path, f"images[1] (id 2, file_name {entry!r})", outside, root)):
        list(get_reader("coco")(path))
    errors = []
    (inside,) = get_reader("coco")(path, on_error=errors.append)  # the entry and its annotations are skipped
    assert inside.path == str(root / "img0.png") and len(errors) == 1
    allowed = list(get_reader("coco")(path, allow_outside_root=True))
    assert len(allowed) == 2 and os.path.samefile(allowed[1].path, outside) and len(allowed[1].objects) == 2
    # With image_dir, it is the root: the JSON's own folder is outside a subfolder given as image_dir.
    (root / "images").mkdir()
    data["images"][0]["file_name"] = "../img0.png"
    (root / "instances.json").write_text(json.dumps(data))
    with pytest.raises(OutsideRootError, match=re.escape("images[0] (id 1, file_name '../img0.png')")):
        coco_json.read_coco_json(path, image_dir=str(root / "images"))


@pytest.mark.parametrize("how", ESCAPES)
def test_voc_image_outside_the_root_is_refused(tmp_path, how):
    year = _voc_year_folder(tmp_path / "VOC2007")
    outside = _outside_image(tmp_path)
    entry = _escaping_entry(how, os.path.join(year, "JPEGImages"), outside)
    xml_path = os.path.join(year, "Annotations", "000002.xml")
    with open(xml_path, "w") as out:
        out.write(VOC_XML.format(name="000002").replace("<filename>000002.jpg", f"<filename>{entry}"))
    with pytest.raises(OutsideRootError, match=_refusal(xml_path, f"<filename> {entry!r}", outside, year)):
        list(get_reader("voc")(year))
    errors = []
    (inside,) = get_reader("voc")(year, on_error=errors.append)
    assert inside.path == os.path.join(year, "JPEGImages", "000001.jpg") and len(errors) == 1
    allowed = list(get_reader("voc")(year, allow_outside_root=True))
    assert len(allowed) == 2 and os.path.samefile(allowed[1].path, outside)


@pytest.mark.parametrize("how", ESCAPES)
def test_solo_image_outside_the_root_is_refused(tmp_path, how):
    copy = tmp_path / "solo"
    shutil.copytree(SOLO_SAMPLE, copy)
    outside = str(tmp_path / "outside.png")
    shutil.copy(copy / "sequence.1" / "step0.camera.png", outside)
    frame_path = copy / "sequence.1" / "step0.frame_data.json"
    frame = json.loads(frame_path.read_text())
    frame["captures"][0]["filename"] = entry = _escaping_entry(how, str(copy / "sequence.1"), outside)
    frame_path.write_text(json.dumps(frame))
    with pytest.raises(OutsideRootError, match=_refusal(frame_path, f"capture 'camera' filename {entry!r}", outside,
                                                        copy)):
        list(get_reader("solo")(str(copy)))
    errors = []
    (inside,) = get_reader("solo")(str(copy), on_error=errors.append)
    assert inside.filename == "sequence.0/step0.camera.png" and len(errors) == 1
    allowed = list(get_reader("solo")(str(copy), allow_outside_root=True))
    assert len(allowed) == 2 and os.path.samefile(allowed[1].path, outside) and len(allowed[1].objects) == 3


def test_solo_instance_segmentation_outside_the_root_is_refused(tmp_path):
    copy = tmp_path / "solo"
    shutil.copytree(SOLO_SAMPLE, copy)
    frame_path = copy / "sequence.0" / "step0.frame_data.json"
    frame = json.loads(frame_path.read_text())
    (segmentation,) = [a for a in frame["captures"][0]["annotations"]
                       if a["@type"].endswith("InstanceSegmentationAnnotation")]
    segmentation["filename"] = "../../elsewhere.png"
    frame_path.write_text(json.dumps(frame))
    assert len(list(get_reader("solo")(str(copy)))) == 2  # masks not asked for: the file is never opened
    with pytest.raises(OutsideRootError, match=re.escape(f"{frame_path}: {segmentation['id']!r} filename "
                                                         "'../../elsewhere.png': instance segmentation image path")):
        list(get_reader("solo")(str(copy), include_masks=True))


def test_cntk_links_outside_the_root_are_refused(tmp_path):
    # CNTK annotation files name no image path: the image (or box file) itself being a link is the way out.
    root = tmp_path / "cntk"
    root.mkdir()
    outside = _outside_image(tmp_path)
    Image.new("RGB", (40, 30)).save(root / "a.jpg")
    os.symlink(outside, root / "b.jpg")
    for name in ("a", "b"):
        (root / f"{name}.bboxes.tsv").write_text("1\t1\t10\t10\n")
        (root / f"{name}.bboxes.labels.tsv").write_text("milk\n")
    boxes = str(root / "b.bboxes.tsv")
    with pytest.raises(OutsideRootError, match=_refusal(boxes, "image 'b.jpg'", outside, root)):
        list(get_reader("cntk")(str(root)))
    errors = []
    assert [i.filename for i in get_reader("cntk")(str(root), on_error=errors.append)] == ["a.jpg"]
    assert len(errors) == 1
    allowed = list(get_reader("cntk")(str(root), allow_outside_root=True))
    assert [i.filename for i in allowed] == ["a.jpg", "b.jpg"] and os.path.samefile(allowed[1].path, outside)
    # A box file linked from outside is refused too: its lines would otherwise be read (and echoed in errors).
    os.remove(root / "b.jpg")
    Image.new("RGB", (40, 30)).save(root / "b.jpg")
    os.rename(boxes, tmp_path / "b.bboxes.tsv")
    os.symlink(tmp_path / "b.bboxes.tsv", boxes)
    with pytest.raises(OutsideRootError, match=_refusal(boxes, "annotation file of image 'b.jpg'",
                                                        tmp_path / "b.bboxes.tsv", root, "annotation file")):
        list(get_reader("cntk")(str(root)))


def test_cntk_non_utf8_labels_are_blamed_on_the_labels_file(tmp_path):
    root = tmp_path / "cntk"
    root.mkdir()
    Image.new("RGB", (40, 30)).save(root / "a.jpg")
    (root / "a.bboxes.tsv").write_text("1\t1\t10\t10\n2\t2\t20\t20\n")
    (root / "a.bboxes.labels.tsv").write_bytes(b"milk\nk\xe4se\n")  # Latin-1, not UTF-8
    labels = str(root / "a.bboxes.labels.tsv")
    with pytest.raises(InputError, match=re.escape(f"{labels}:2: byte 6 is not UTF-8 text")):
        list(get_reader("cntk")(str(root)))


def test_cntk_boxes_without_their_image_are_an_error_not_a_silent_drop(tmp_path):
    root = tmp_path / "cntk"
    (root / "positive").mkdir(parents=True)
    for stem in ("a", "b", "c"):
        Image.new("RGB", (40, 30)).save(root / "positive" / f"{stem}.jpg")
        (root / "positive" / f"{stem}.bboxes.tsv").write_text("1\t1\t10\t10\n")
        (root / "positive" / f"{stem}.bboxes.labels.tsv").write_text("milk\n")
    (root / "positive" / "b.jpg").unlink()  # lost in a copy
    (root / "positive" / "c.jpg").unlink()
    (root / "positive" / "c.jpg").mkdir()  # a folder of the image's name is no image either
    boxes = str(root / "positive" / "b.bboxes.tsv")
    with pytest.raises(InputError, match=re.escape(f"{boxes}: no image beside it; expected b with one of the "
                                                   "extensions .jpg, .jpeg, .png")):
        list(get_reader("cntk")(str(root)))
    summary = convert_module.convert("cntk", str(root), str(tmp_path / "out"), on_error="skip")
    assert summary.num_images == 1 and summary.skipped == {"bad_annotation": 2}


def test_outside_root_is_counted_by_convert_on_error_skip(tmp_path):
    root = tmp_path / "VOC2007"
    year = _voc_year_folder(root)
    with open(os.path.join(year, "Annotations", "000002.xml"), "w") as out:
        out.write(VOC_XML.format(name="000002").replace("<filename>000002.jpg",
                                                        f"<filename>{_outside_image(tmp_path)}"))
    with pytest.raises(convert_module.ConversionError, match=r"000002\.xml: <filename> '/.*outside\.jpg'"):
        convert_module.convert("voc", year, str(tmp_path / "out"))
    summary = convert_module.convert("voc", year, str(tmp_path / "out"), on_error="skip")
    assert summary.num_images == 1 and summary.skipped == {"outside_root": 1}
    summary = convert_module.convert("voc", year, str(tmp_path / "out"), allow_images_outside_root=True)
    assert summary.num_images == 2 and summary.skipped == {}


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown input format 'yolo'"):
        get_reader("yolo")


def test_a_file_that_is_no_image_is_named_with_its_first_bytes(tmp_path):
    root = tmp_path / "cntk"
    root.mkdir()
    Image.new("RGB", (40, 30)).save(root / "a.jpg")
    (root / "b.jpg").write_bytes(b"<html>404</html>")
    with pytest.raises(convert_module.ConversionError) as caught:
        convert_module.convert("cntk", str(root), str(tmp_path / "out"))
    message = str(caught.value)
    assert f"{root / 'b.jpg'}: not an image file Pillow can read (starts with 3c 68 74 6d" in message, message
    assert "BytesIO" not in message


def test_cntk_labels_with_a_byte_order_mark_read_as_the_class(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "a.jpg")
    (tmp_path / "a.bboxes.tsv").write_text("1\t1\t10\t10\n")
    (tmp_path / "a.bboxes.labels.tsv").write_bytes("\ufeffjoghurt\n".encode("utf-8"))
    (image,) = get_reader("cntk")(str(tmp_path))
    assert [obj.class_name for obj in image.objects] == ["joghurt"]
    # A bad byte is placed by its offset in the file, the mark counted.
    (tmp_path / "a.bboxes.labels.tsv").write_bytes(b"\xef\xbb\xbfk\xe4se\n")
    with pytest.raises(InputError, match=r"a\.bboxes\.labels\.tsv:1: byte 4 is not UTF-8 text"):
        list(get_reader("cntk")(str(tmp_path)))
