"""tfsynth's TFDS builders through the `tfds build` command: tfsynth_renders (its Beam pipeline on a real DirectRunner,
real renderer), loaded with tfds.load and held to the records `python -m tfsynth.generate` writes for the same flags;
tfsynth_real, a small COCO photo set read through the project's reader."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.commands import run_module


def _records(pattern: str) -> dict:
    from tfsynth.data.tfrecord import example_to_annotation, read_examples
    return {a.filename: a for a in (example_to_annotation(e) for e in read_examples(pattern))}


@pytest.mark.parametrize("split, prefix", [("train", "train"), ("validation", "val")])
def test_tfds_load_gives_the_generators_images_boxes_and_labels(tfds_tiny, split, prefix):
    import tensorflow_datasets as tfds
    import tfsynth.datasets  # noqa: F401 - registers the builders
    from tfsynth.generate.catalog import default_catalog
    data_dir, out = tfds_tiny
    names = default_catalog().class_names
    records = _records(str(out / f"{prefix}-*.tfrecord"))
    raw = tfds.load("tfsynth_renders/tiny", data_dir=str(data_dir), split=split,
                    decoders={"image": tfds.decode.SkipDecoding()})
    examples = {e["image/filename"].decode(): e for e in tfds.as_numpy(raw)}
    assert sorted(examples) == sorted(records) and len(records) == (8 if split == "train" else 4)
    for filename, example in examples.items():
        record = records[filename]
        assert example["image"] == record.encoded  # the same JPEG bytes
        objects = example["objects"]
        assert [names[label] for label in objects["label"]] == [o.class_name for o in record.objects]
        boxes = np.array([[o.ymin / record.height, o.xmin / record.width, o.ymax / record.height,
                           o.xmax / record.width] for o in record.objects], np.float32).reshape(-1, 4)
        np.testing.assert_allclose(objects["bbox"], boxes, atol=1e-6)
    decoded = next(iter(tfds.as_numpy(tfds.load("tfsynth_renders/tiny", data_dir=str(data_dir), split=split))))
    assert decoded["image"].dtype == np.uint8 and decoded["image"].shape in ((48, 64, 3), (64, 48, 3))


def test_tfds_build_of_a_coco_photo_set(tmp_path):
    import tensorflow_datasets as tfds
    from PIL import Image
    from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
    from tfsynth.data.coco_json import write_coco_json
    from tfsynth.utils.label_map_util import write_label_map
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photos / "a.jpg")
    Image.new("RGB", (20, 50), (10, 200, 10)).save(photos / "b.png")
    images = [ImageAnnotation("a.jpg", 40, 30, [ObjectAnnotation("egg", 4, 3, 20, 15, class_id=2)]),
              ImageAnnotation("b.png", 20, 50, [ObjectAnnotation("milk", 0, 10, 20, 50, class_id=1),
                                                ObjectAnnotation("egg", 5, 5, 10, 10, class_id=2)])]
    write_coco_json(str(photos / "set.json"), images, [{"id": 1, "name": "milk"}, {"id": 2, "name": "egg"}])
    write_label_map(str(tmp_path / "label_map.pbtxt"), {"milk": 1, "egg": 2})
    config = {"name": "mine", "input_format": "coco", "input_path": str(photos / "set.json"),
              "label_map": str(tmp_path / "label_map.pbtxt")}
    build = run_module("tensorflow_datasets.scripts.cli.main", "build", "tfsynth_real", "--imports",
                       "tfsynth.datasets", "--data_dir", str(tmp_path / "tfds"), "--config", json.dumps(config),
                       timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    builder = tfds.builder_from_directory(str(tmp_path / "tfds" / "tfsynth_real" / "mine" / "1.0.0"))
    assert builder.info.features["objects"]["label"].names == ["milk", "egg"]
    examples = {e["image/filename"].decode(): e for e in tfds.as_numpy(builder.as_dataset(split="test"))}
    assert sorted(examples) == ["a.jpg", "b.png"]
    assert examples["b.png"]["image"].shape == (50, 20, 3)  # the PNG decoded as it is
    assert examples["b.png"]["objects"]["label"].tolist() == [0, 1]
    np.testing.assert_allclose(examples["a.jpg"]["objects"]["bbox"], [[0.1, 0.1, 0.5, 0.5]], atol=1e-6)
