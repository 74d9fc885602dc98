"""tfsynth.inspect: statistics and contact sheet from TFRecords, COCO JSON and a SOLO folder."""

import numpy as np
import pytest
from PIL import Image

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
from tfsynth import convert as convert_module
from tfsynth import inspect as inspect_module
from tfsynth.utils.shared_data import SHARED_DATA
from tests.commands import run_module

SOLO_SAMPLE = str(SHARED_DATA / "unity_solo_sample")


@pytest.fixture()
def converted(tmp_path):
    """Three tiny CNTK images (one negative) converted to two shards."""
    source = tmp_path / "src"
    source.mkdir()
    boxes = {"a": [("milk", 0, 0, 10, 20), ("egg", 10, 10, 30, 20)], "b": [("milk", 5, 5, 45, 35)], "c": None}
    for name, objects in boxes.items():
        Image.new("RGB", (50, 40) if name != "c" else (80, 60), (200, 200, 200)).save(source / f"{name}.jpg")
        if objects:
            (source / f"{name}.bboxes.tsv").write_text("".join(f"{x1}\t{y1}\t{x2}\t{y2}\n"
                                                               for _, x1, y1, x2, y2 in objects))
            (source / f"{name}.bboxes.labels.tsv").write_text("".join(f"{c}\n" for c, *_ in objects))
    out = tmp_path / "out"
    convert_module.convert("cntk", str(source), str(out), num_shards=2)
    return out


def test_stats_from_tfrecords_and_contact_sheet(converted, tmp_path):
    sheet = tmp_path / "sheet.png"
    stats = inspect_module.inspect_dataset(str(converted / "*.tfrecord"), contact_sheet=str(sheet), num_images=2)
    assert stats["num_images"] == 3 and stats["num_boxes"] == 3 and stats["num_images_without_boxes"] == 1
    assert stats["class_counts"] == {"egg": 1, "milk": 2}
    # Records hold float32 normalized boxes: pixels come back within float32 precision.
    assert stats["box_width"] == pytest.approx({"min": 10.0, "median": 20.0, "max": 40.0}, rel=1e-6)
    assert stats["box_height"] == pytest.approx({"min": 10.0, "median": 20.0, "max": 30.0}, rel=1e-6)
    assert stats["box_area_fraction"]["max"] == pytest.approx(40 * 30 / (50 * 40))
    assert stats["image_sizes"] == {"50x40": 2, "80x60": 1}
    assert stats["image_width"] == {"min": 50.0, "median": 50.0, "max": 80.0}
    picture = np.asarray(Image.open(sheet))
    # Two thumbnails side by side (2 columns, 1 row); boxes drawn in the palette's first colours.
    assert picture.shape[1] == 2 * (inspect_module.THUMBNAIL_SIZE + 4)
    colors = {tuple(c) for c in picture.reshape(-1, 3)}
    assert inspect_module.PALETTE[0] in colors and inspect_module.PALETTE[1] in colors
    text = inspect_module.format_stats(stats)
    assert "images: 3 (1 without boxes), boxes: 3, classes: 2" in text


def test_label_map_names_classes_by_display_name(converted, tmp_path):
    label_map = tmp_path / "lm.pbtxt"
    label_map.write_text('item { name: "egg" id: 1 display_name: "Eggs" } item { name: "milk" id: 2 }')
    stats = inspect_module.inspect_dataset(str(converted / "*.tfrecord"), label_map=str(label_map))
    assert stats["class_counts"] == {"Eggs": 1, "milk": 2}


def test_coco_json_and_solo_folder(converted):
    coco_stats = inspect_module.inspect_dataset(str(converted / "data_coco.json"))
    # The COCO JSON names images relative to the source; statistics need no pixels.
    assert coco_stats["class_counts"] == {"egg": 1, "milk": 2} and coco_stats["num_images"] == 3
    sheet = converted / "coco_sheet.png"
    inspect_module.inspect_dataset(str(converted / "data_coco.json"), contact_sheet=str(sheet),
                                   image_dir=str(converted.parent / "src"))
    assert Image.open(sheet).size[0] == 2 * (inspect_module.THUMBNAIL_SIZE + 4)  # 3 images: 2 columns
    solo_stats = inspect_module.inspect_dataset(SOLO_SAMPLE)
    assert solo_stats["class_counts"] == {"Character": 2, "Crate": 4}
    assert solo_stats["image_sizes"] == {"1024x768": 2}


def test_command_line(converted, tmp_path):
    sheet = tmp_path / "cli_sheet.png"
    result = run_module("tfsynth.inspect", str(converted / "*.tfrecord"), "--contact_sheet", str(sheet),
                        "--num_images", "3")
    assert result.returncode == 0, result.stderr
    assert "milk" in result.stdout and "box width (px):       min 10.0  median 20.0  max 40.0" in result.stdout
    assert Image.open(sheet).size[0] == 2 * (inspect_module.THUMBNAIL_SIZE + 4)
    missing = run_module("tfsynth.inspect", str(tmp_path / "none*.tfrecord"))
    assert missing.returncode == 1 and "no TFRecord files match" in missing.stderr
