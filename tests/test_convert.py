"""tfsynth.convert on the real CNTK photos and on small broken fixtures."""
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from tfsynth.utils import label_map_util
from tfsynth import convert as convert_module
from tfsynth.data import tfrecord
from tfsynth.utils.shared_data import SHARED_DATA
from tests.commands import run_command, run_module

CNTK_FRIDGE = str(SHARED_DATA / "real/cntk_fridge_us")


def _cntk_fixture(root, boxes_by_image, size=(40, 30)):
    """Writes a tiny CNTK layout: {name: [(class, x1, y1, x2, y2), ...] or None for a negative}."""
    os.makedirs(root, exist_ok=True)
    for name, boxes in boxes_by_image.items():
        Image.new("RGB", size, (120, 30, 200)).save(os.path.join(root, f"{name}.jpg"))
        if boxes is None:
            continue
        with open(os.path.join(root, f"{name}.bboxes.tsv"), "w") as out:
            out.writelines(f"{x1}\t{y1}\t{x2}\t{y2}\n" for _, x1, y1, x2, y2 in boxes)
        with open(os.path.join(root, f"{name}.bboxes.labels.tsv"), "w") as out:
            out.writelines(f"{label}\n" for label, *_ in boxes)
    return str(root)


def test_real_cntk_photos(tmp_path):
    summary = convert_module.convert("cntk", CNTK_FRIDGE, str(tmp_path), num_shards=2)
    assert summary.num_images == 30
    assert summary.num_boxes == 225
    assert summary.label_map == {name: i for i, name in enumerate(
        ["eggBox", "joghurt", "ketchup", "mushroom", "mustard", "orange", "squash", "water"], 1)}
    assert summary.class_counts["squash"] == 50 and summary.class_counts["water"] == 25
    assert sorted(os.listdir(tmp_path)) == ["data-00000-of-00002.tfrecord", "data-00001-of-00002.tfrecord",
                                            "data_coco.json", "label_map.pbtxt"]
    assert label_map_util.get_label_map_dict(str(tmp_path / "label_map.pbtxt")) == summary.label_map
    examples = [tfrecord.example_to_annotation(e) for e in tfrecord.read_examples(str(tmp_path / "*.tfrecord"))]
    assert len(examples) == 30 and sum(len(e.objects) for e in examples) == 225
    by_name = {e.filename: e for e in examples}
    photo = by_name["positive/0.jpg"]
    assert (photo.width, photo.height) == (1000, 1333)
    assert photo.encoded == open(os.path.join(CNTK_FRIDGE, "positive/0.jpg"), "rb").read()
    first = photo.objects[0]  # 0.bboxes.tsv line 1: 213 337 329 473, label joghurt
    assert first.class_name == "joghurt" and first.class_id == 2
    np.testing.assert_allclose([first.xmin, first.ymin, first.xmax, first.ymax], [213, 337, 329, 473], atol=1e-3)
    assert by_name["negative/1.jpg"].objects == []
    from pycocotools.coco import COCO
    coco = COCO(str(tmp_path / "data_coco.json"))
    assert len(coco.getImgIds()) == 30 and len(coco.getAnnIds()) == 225
    assert {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())} == summary.label_map
    # The records' source_id is the JSON's image id.
    image_id = int(photo.source_id)
    assert coco.loadImgs(image_id)[0]["file_name"] == "positive/0.jpg"


def test_given_label_map_and_class_map(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("Milk", 1, 1, 10, 10), ("junk", 2, 2, 5, 5),
                                                    ("egg", 3, 3, 30, 20)]})
    label_map_path = tmp_path / "lm.pbtxt"
    label_map_path.write_text('item { name: "/m/milk" id: 5 display_name: "milk" } item { name: "egg" id: 9 }')
    class_map_path = tmp_path / "classes.yaml"
    class_map_path.write_text("Milk: milk\njunk: null\n")
    out = tmp_path / "out"
    summary = convert_module.convert("cntk", source, str(out), label_map_path=str(label_map_path),
                                     class_map_path=str(class_map_path), name="train")
    assert summary.num_boxes == 2 and summary.dropped_boxes == 1
    (example,) = list(tfrecord.read_examples(str(out / "train-*.tfrecord")))
    labels = list(example.features.feature["image/object/class/label"].int64_list.value)
    assert labels == [5, 9]
    # class/text is the label map's name (matched here through display_name "milk").
    texts = list(example.features.feature["image/object/class/text"].bytes_list.value)
    assert texts == [b"/m/milk", b"egg"]
    assert summary.class_counts == {"/m/milk": 1, "egg": 1}
    coco = json.load(open(out / "train_coco.json"))
    assert sorted(c["id"] for c in coco["categories"]) == [5, 9]
    assert [a["category_id"] for a in coco["annotations"]] == [5, 9]
    assert label_map_util.get_label_map_dict(str(out / "label_map.pbtxt")) == {"/m/milk": 5, "egg": 9}


def test_unknown_class_stops_or_skips(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 10, 10)], "b": [("cheese", 1, 1, 5, 5)]})
    label_map_path = tmp_path / "lm.pbtxt"
    label_map_path.write_text('item { name: "milk" id: 1 }')
    with pytest.raises(convert_module.ConversionError, match=r"b\.jpg.*'cheese' is not in the label map"):
        convert_module.convert("cntk", source, str(tmp_path / "out"), label_map_path=str(label_map_path))
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")  # nothing half-written
    summary = convert_module.convert("cntk", source, str(tmp_path / "out"), label_map_path=str(label_map_path),
                                     on_error="skip")
    assert summary.num_images == 1 and summary.skipped == {"unknown_class": 1}


def test_bad_inputs_are_named_and_counted(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {
        "good": [("milk", 1, 1, 10, 10)],
        "outside": [("milk", 30, 20, 41, 25)],
        "empty": [("milk", 5, 5, 5, 9)],
        "negative": None,
    })
    with open(os.path.join(source, "corrupt.jpg"), "wb") as out:
        out.write(open(os.path.join(source, "good.jpg"), "rb").read()[:100])  # truncated JPEG
    with open(os.path.join(source, "nolabels.bboxes.tsv"), "w") as out:
        out.write("1\t1\t5\t5\n")
    Image.new("RGB", (40, 30)).save(os.path.join(source, "nolabels.jpg"))
    with open(os.path.join(source, "badline.bboxes.tsv"), "w") as out:
        out.write("1\t1\tfive\t5\n")
    with open(os.path.join(source, "badline.bboxes.labels.tsv"), "w") as out:
        out.write("milk\n")
    Image.new("RGB", (40, 30)).save(os.path.join(source, "badline.jpg"))

    with pytest.raises(convert_module.ConversionError, match=r"badline\.bboxes\.tsv:1: expected 4 numbers"):
        convert_module.convert("cntk", source, str(tmp_path / "out"))
    summary = convert_module.convert("cntk", source, str(tmp_path / "out"), on_error="skip")
    assert summary.num_images == 2  # good + negative
    assert summary.skipped == {"bad_annotation": 2, "bad_image": 1, "bad_box": 2}
    assert "skipped 5 images" in convert_module.format_summary(summary)

    clipped = convert_module.convert("cntk", source, str(tmp_path / "out2"), on_error="skip", clip_boxes=True)
    assert clipped.num_images == 3 and clipped.clipped_boxes == 1
    assert clipped.skipped == {"bad_annotation": 2, "bad_image": 1, "bad_box": 1}


def test_command_line(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 10, 10)]})
    result = run_module("tfsynth.convert", "--input_format", "cntk", "--input_path", source,
                        "--output_dir", str(tmp_path / "out"), "--num_shards", "2")
    assert result.returncode == 0, result.stderr
    assert "wrote 1 images, 1 boxes, 1 classes into 2 shard(s)" in result.stdout
    assert os.path.exists(tmp_path / "out" / "data-00001-of-00002.tfrecord")
    failing = run_module("tfsynth.convert", "--input_format", "cntk", "--input_path", str(tmp_path / "nowhere"),
                         "--output_dir", str(tmp_path / "o"))
    assert failing.returncode == 1 and "nowhere: not a folder" in failing.stderr


def test_command_line_refuses_an_image_outside_the_root(tmp_path):
    root = tmp_path / "coco"
    root.mkdir()
    Image.new("RGB", (40, 30)).save(root / "inside.jpg")
    Image.new("RGB", (40, 30)).save(tmp_path / "outside.jpg")
    json_path = root / "instances.json"
    json_path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "inside.jpg"}, {"id": 2, "file_name": "../outside.jpg"}],
        "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [1, 1, 9, 9]} for n in (1, 2)],
        "categories": [{"id": 1, "name": "milk"}]}))
    command = [sys.executable, "-m", "tfsynth.convert", "--input_format", "coco", "--input_path", str(json_path),
               "--output_dir", str(tmp_path / "out")]
    refused = run_command(command)
    assert refused.returncode == 1
    assert (f"{json_path}: images[1] (id 2, file_name '../outside.jpg'): image path resolves to "
            f"{os.path.realpath(tmp_path / 'outside.jpg')}, outside the dataset root; expected a path inside "
            f"{os.path.realpath(root)}") in refused.stderr
    assert not (tmp_path / "out").exists()
    allowed = run_command(command + ["--allow_images_outside_root"])
    assert allowed.returncode == 0, allowed.stderr
    assert "wrote 2 images, 2 boxes" in allowed.stdout


def test_other_formats_reencoded_exif_counted_and_stale_shards_removed(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 10, 10)]})
    Image.new("RGB", (40, 30), (1, 2, 3)).save(os.path.join(source, "a.jpg"), format="BMP")  # misnamed BMP
    rotated = Image.new("RGB", (40, 30))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(os.path.join(source, "b.jpg"), exif=exif)
    out = tmp_path / "out"
    convert_module.convert("cntk", source, str(out), num_shards=3)
    summary = convert_module.convert("cntk", source, str(out), num_shards=1)
    assert summary.reencoded_images == 1 and summary.exif_rotated_images == 1
    assert len(summary.removed_stale_shards) == 3
    assert sorted(p for p in os.listdir(out) if p.endswith(".tfrecord")) == ["data-00000-of-00001.tfrecord"]
    records = {r.filename: r for r in map(tfrecord.example_to_annotation,
                                          tfrecord.read_examples(str(out / "*.tfrecord")))}
    assert records["a.jpg"].image_format == "png" and records["a.jpg"].encoded.startswith(b"\x89PNG")
    decoded = np.asarray(Image.open(__import__("io").BytesIO(records["a.jpg"].encoded)))
    assert tuple(decoded[0, 0]) == (1, 2, 3)


def test_nothing_to_write_is_an_error(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 50, 10)]})
    with pytest.raises(convert_module.ConversionError, match=r"no images to write \(skipped: bad_box 1\)"):
        convert_module.convert("cntk", source, str(tmp_path / "out"), on_error="skip")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(convert_module.ConversionError, match="no images to write"):
        convert_module.convert("cntk", str(tmp_path / "empty"), str(tmp_path / "out"))


def test_files_another_run_left_are_not_replaced_or_deleted(tmp_path):
    """Shards of another name's or command's run, or a label map of other classes, stop the conversion before
    anything is written; a rerun of the same conversion replaces its own outputs."""
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 10, 10)]})
    out = tmp_path / "out"
    os.makedirs(out)
    (out / "data-00000-of-00002.tfrecord").write_bytes(b"someone else's records")
    with pytest.raises(ValueError, match=r"--output_dir .* holds 1 file\(s\) no earlier run of this command wrote "
                                         r"there \(data-00000-of-00002\.tfrecord\)"):
        convert_module.convert("cntk", source, str(out))
    assert (out / "data-00000-of-00002.tfrecord").read_bytes() == b"someone else's records"
    os.remove(out / "data-00000-of-00002.tfrecord")
    label_map_util.write_label_map(str(out / "label_map.pbtxt"), {"cheese": 1, "milk": 2})
    with pytest.raises(ValueError, match=r"\(label_map\.pbtxt\)"):
        convert_module.convert("cntk", source, str(out))
    assert label_map_util.get_label_map_dict(str(out / "label_map.pbtxt")) == {"cheese": 1, "milk": 2}
    os.remove(out / "label_map.pbtxt")
    convert_module.convert("cntk", source, str(out), num_shards=2)
    summary = convert_module.convert("cntk", source, str(out), num_shards=1)  # its own earlier run: replaced
    assert len(summary.removed_stale_shards) == 2
    # What the rerun was allowed to replace is foreign to any other run.
    with pytest.raises(ValueError, match=r"\(data-00000-of-00001\.tfrecord, label_map\.pbtxt\)"):
        tfrecord.refuse_foreign_outputs(str(out), ["data"], [], "--output_dir", label_map_text="other")


def test_a_bad_box_names_the_annotation_file_to_correct(tmp_path):
    source = _cntk_fixture(tmp_path / "src", {"a": [("milk", 1, 1, 50, 10)]})  # x2 50 > the image's 40
    with pytest.raises(convert_module.ConversionError,
                       match=r"a\.jpg: box .* outside the 40x30 image \(annotated in .*a\.bboxes\.tsv\)"):
        convert_module.convert("cntk", source, str(tmp_path / "out"))
