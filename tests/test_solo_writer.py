"""SOLO writer: hand-made and generated images written as SOLO, read back with the SOLO reader, converted to records.

The generate run is a subprocess: the GL renderer (llvmpipe) and TensorFlow must not share a process.
"""
from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.data.readers import solo as solo_reader
from tfsynth.generate.solo_writer import instance_color, write_solo
from tfsynth.utils.shared_data import SHARED_DATA
from tests.commands import run_command

SOLO_SAMPLE = str(SHARED_DATA / "unity_solo_sample")
NAME_TO_ID = {"milk": 1, "juice": 2, "cheese": 3}


def _encoded(width: int, height: int, image_format: str, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG" if image_format == "jpeg" else "PNG")
    return buffer.getvalue()


def _mask(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[box[1]:box[3], box[0]:box[2]] = 1
    return mask


def _hand_made(with_masks: bool) -> list[ImageAnnotation]:
    width, height = 40, 30
    layouts = [
        [("milk", (2, 3, 12, 20)), ("juice", (15, 0, 40, 9.5)), ("milk", (20, 12, 33, 30))],
        [],  # an image without objects is still a frame
        [("cheese", (0.5, 1.25, 7.75, 29))],
    ]
    images = []
    for index, layout in enumerate(layouts):
        objects = []
        for name, box in layout:
            obj = ObjectAnnotation(class_name=name, xmin=box[0], ymin=box[1], xmax=box[2], ymax=box[3])
            if with_masks:
                obj.mask = _mask(width, height, tuple(int(v) for v in box))
            objects.append(obj)
        image_format = "png" if index == 2 else "jpeg"
        images.append(ImageAnnotation(filename=f"img{index}", width=width, height=height, objects=objects,
                                      encoded=_encoded(width, height, image_format, index), image_format=image_format))
    return images


def _boxes(image: ImageAnnotation) -> list[tuple]:
    return [(o.class_name, o.xmin, o.ymin, o.xmax, o.ymax) for o in image.objects]


def test_instance_colors_distinct_and_never_background():
    colors = [instance_color(i) for i in range(1, 5000)]
    assert len(set(colors)) == len(colors)
    assert (0, 0, 0, 255) not in colors
    with pytest.raises(ValueError):
        instance_color(0)


@pytest.mark.parametrize("with_masks", [False, True])
def test_hand_made_round_trip(tmp_path, with_masks):
    images = _hand_made(with_masks)
    out = tmp_path / "solo"
    summary = write_solo(str(out), iter(images), NAME_TO_ID)
    assert (summary.frames, summary.objects, summary.masks) == (3, 4, with_masks)
    assert sorted(os.listdir(tmp_path)) == ["solo"]  # no temporary folder or file left beside it
    for name in ("metadata.json", "sensor_definitions.json", "annotation_definitions.json", "metric_definitions.json"):
        assert (out / name).is_file()
    assert not [f for _, _, files in os.walk(out) for f in files if ".tmp" in f]
    assert solo_reader.label_names_by_id(str(out)) == {1: "milk", 2: "juice", 3: "cheese"}

    back = list(solo_reader.read(str(out), include_masks=with_masks))
    assert len(back) == 3
    for original, read in zip(images, back):
        assert (read.width, read.height) == (original.width, original.height)
        assert _boxes(read) == _boxes(original)
        assert read.image_format == original.image_format
        assert read.read_encoded() == original.encoded  # stored as given, not re-encoded
        for obj_in, obj_out in zip(original.objects, read.objects):
            if with_masks:
                np.testing.assert_array_equal(obj_out.mask, obj_in.mask)
            else:
                assert obj_out.mask is None
    assert back[0].filename == "sequence.0/step0.camera.jpg" and back[2].filename == "sequence.2/step0.camera.png"
    has_segmentation = (out / "sequence.0" / "step0.camera.instance segmentation.png").is_file()
    assert has_segmentation == with_masks

    frame = json.loads((out / "sequence.0" / "step0.frame_data.json").read_text())
    boxes = [a for a in frame["captures"][0]["annotations"] if a["@type"].endswith("BoundingBox2DAnnotation")]
    assert boxes[0]["values"][1] == {"instanceId": 2, "labelId": 2, "labelName": "juice",
                                     "origin": [15.0, 0.0], "dimension": [25.0, 9.5]}
    counts = {v["labelName"]: v["count"] for v in frame["metrics"][0]["values"]}
    assert counts == {"milk": 2, "juice": 1, "cheese": 0}
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["totalFrames"] == 3
    assert ("instance segmentation" in [a["name"] for a in metadata["annotators"]]) == with_masks


def test_segmentation_colours_match_unity_layout(tmp_path):
    """The PNG is RGBA with a black background and each instance in the colour its frame data lists."""
    out = tmp_path / "solo"
    write_solo(str(out), _hand_made(True)[:1], NAME_TO_ID, include_masks=True)
    frame = json.loads((out / "sequence.0" / "step0.frame_data.json").read_text())
    segmentation = [a for a in frame["captures"][0]["annotations"]
                    if a["@type"].endswith("InstanceSegmentationAnnotation")][0]
    pixels = np.asarray(Image.open(out / "sequence.0" / segmentation["filename"]))
    assert pixels.shape == (30, 40, 4)
    assert tuple(pixels[29, 0]) == (0, 0, 0, 255)
    for instance in segmentation["instances"]:
        assert instance["color"] == list(instance_color(instance["instanceId"]))
    assert tuple(pixels[5, 5]) == tuple(segmentation["instances"][0]["color"])
    rendered = [m for m in frame["metrics"] if m["id"] == "RenderedObjectInfo"][0]["values"]
    assert [v["visiblePixels"] for v in rendered] == [10 * 17, 25 * 9, 13 * 18]


def test_rewrite_replaces_and_refuses_foreign_folder(tmp_path):
    out = tmp_path / "solo"
    write_solo(str(out), _hand_made(False), NAME_TO_ID)
    write_solo(str(out), _hand_made(False)[:1], NAME_TO_ID)  # a rerun replaces the earlier dataset
    assert len(list(solo_reader.read(str(out)))) == 1
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a SOLO dataset"):
        write_solo(str(foreign), _hand_made(False), NAME_TO_ID)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_bad_input_is_named_and_leaves_nothing(tmp_path):
    images = _hand_made(True)
    images[2].objects[0].class_name = "butter"
    with pytest.raises(ValueError, match=r"image 2 \('img2'\).*'butter' is not in the label map"):
        write_solo(str(tmp_path / "solo"), images, NAME_TO_ID)
    assert os.listdir(tmp_path) == []

    overlapping = _hand_made(True)
    overlapping[0].objects[1].mask = _mask(40, 30, (0, 0, 40, 10))  # covers part of object 0
    with pytest.raises(ValueError, match=r"image 0.*object 1 \('juice'\) mask overlaps"):
        write_solo(str(tmp_path / "solo"), overlapping, NAME_TO_ID)

    partial = _hand_made(True)
    partial[0].objects[2].mask = None
    with pytest.raises(ValueError, match="2 of 3 objects have masks"):
        write_solo(str(tmp_path / "solo"), partial, NAME_TO_ID)

    outside = _hand_made(False)
    outside[0].objects[0].xmax = 41
    with pytest.raises(ValueError, match="object 0: box .* outside the 40x30 image"):
        write_solo(str(tmp_path / "solo"), outside, NAME_TO_ID)

    wrong_size = _hand_made(False)
    wrong_size[1].width = 41
    with pytest.raises(ValueError, match=r"image 1 .*image is 40x30, annotation says 41x30"):
        write_solo(str(tmp_path / "solo"), wrong_size, NAME_TO_ID)
    assert os.listdir(tmp_path) == []


def test_unity_sample_rewritten_reads_the_same(tmp_path):
    """Unity's own dataset read, written by us, read again: same boxes, classes and masks."""
    unity = list(solo_reader.read(SOLO_SAMPLE, include_masks=True))
    name_to_id = {name: label_id for label_id, name in solo_reader.label_names_by_id(SOLO_SAMPLE).items()}
    # Unity's RGB captures are PNG with alpha; the annotation says png and the bytes stay as they are.
    write_solo(str(tmp_path / "solo"), unity, name_to_id)
    ours = list(solo_reader.read(str(tmp_path / "solo"), include_masks=True))
    assert [_boxes(i) for i in ours] == [_boxes(i) for i in unity]
    for a, b in zip(unity, ours):
        for obj_a, obj_b in zip(a.objects, b.objects):
            np.testing.assert_array_equal(obj_a.mask, obj_b.mask)


def test_convert_reads_written_solo(tmp_path):
    from tfsynth import convert as convert_module
    from tfsynth.data.tfrecord import example_to_annotation, read_examples
    images = _hand_made(True)
    write_solo(str(tmp_path / "solo"), images, NAME_TO_ID)
    summary = convert_module.convert(input_format="solo", input_path=str(tmp_path / "solo"),
                                     output_dir=str(tmp_path / "records"), include_masks=True)
    assert summary.num_images == 3 and summary.num_boxes == 4
    records = [example_to_annotation(e) for e in read_examples(str(tmp_path / "records" / "data-*"))]
    assert len(records) == len(images)
    for record, image in zip(records, images):
        # Records store boxes normalized in float32: equal to about 1e-5 pixel.
        assert [o.class_name for o in record.objects] == [o.class_name for o in image.objects]
        np.testing.assert_allclose([b[1:] for b in _boxes(record)], [b[1:] for b in _boxes(image)], atol=1e-4)
        for obj_record, obj_image in zip(record.objects, image.objects):
            np.testing.assert_array_equal(obj_record.mask, obj_image.mask)


def test_generate_write_solo_reads_back(tmp_path):
    out = tmp_path / "gen"
    command = [sys.executable, "-m", "tfsynth.generate", f"--output_dir={out}", "--num_images=4", "--width=160",
               "--height=120", "--num_workers=1", "--num_shards=1", "--preset=fast", "--products_per_image=3,6",
               "--write_solo", "--include_masks"]
    result = run_command(command, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from tfsynth.data.tfrecord import example_to_annotation, read_examples
    from tfsynth.utils.label_map_util import get_label_map_dict
    records = [example_to_annotation(e) for e in read_examples(str(out / "train-*"))]
    solo = list(solo_reader.read(str(out / "solo_train"), include_masks=True))
    assert len(solo) == len(records) == 4
    assert sum(len(i.objects) for i in solo) > 0
    label_map = get_label_map_dict(str(out / "label_map.pbtxt"))
    names = solo_reader.label_names_by_id(str(out / "solo_train"))
    assert {name: label_id for label_id, name in names.items()} == label_map
    for record, image in zip(records, solo):
        # Phone shots may be portrait: the frame is 160x120 either way round, as in the record.
        assert (image.width, image.height) == (record.width, record.height)
        assert sorted((image.width, image.height)) == [120, 160]
        assert [o.class_name for o in image.objects] == [o.class_name for o in record.objects]
        np.testing.assert_allclose([[o.xmin, o.ymin, o.xmax, o.ymax] for o in image.objects],
                                   [[o.xmin, o.ymin, o.xmax, o.ymax] for o in record.objects], atol=1e-3)
        for obj in image.objects:
            assert obj.mask.shape == (image.height, image.width) and obj.mask.any()
            ys, xs = np.nonzero(obj.mask)
            # Boxes are the tight boxes of the visible part, i.e. of the mask.
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (obj.xmin, obj.ymin, obj.xmax, obj.ymax)
    summary_dir = tmp_path / "records"
    from tfsynth import convert as convert_module
    summary = convert_module.convert(input_format="solo", input_path=str(out / "solo_train"),
                                     output_dir=str(summary_dir), label_map_path=str(out / "label_map.pbtxt"))
    assert summary.num_images == 4 and summary.num_boxes == sum(len(i.objects) for i in solo)
