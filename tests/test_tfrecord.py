"""tfrecord: OD API records that tf-models-official's decoder reads back with the same values; sharded writer."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
import tensorflow as tf

from tfsynth.data import tfrecord
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tests.commands import run_python

LABEL_MAP = {"milk": 1, "egg": 2}


def _image_bytes(width, height, image_format):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return pixels, buffer.getvalue()


def _annotation(image_format="PNG", with_masks=False):
    width, height = 40, 30
    pixels, encoded = _image_bytes(width, height, image_format)
    objects = [ObjectAnnotation("milk", 4, 3, 20, 15, difficult=True),
               ObjectAnnotation("egg", 10, 12, 40, 30, truncated=True, area=123.0)]
    if with_masks:
        for obj in objects:
            mask = np.zeros((height, width), np.uint8)
            mask[int(obj.ymin):int(obj.ymax), int(obj.xmin):int(obj.xmax)] = 1
            obj.mask = mask
    annotation = ImageAnnotation(filename="a.png", width=width, height=height, objects=objects,
                                 encoded=encoded, image_format=image_format.lower(), source_id="7")
    return annotation, pixels


def _decode(example, include_mask=False):
    from official.vision.dataloaders.tf_example_decoder import TfExampleDecoder
    decoded = TfExampleDecoder(include_mask=include_mask).decode(tf.constant(example.SerializeToString()))
    return {key: value.numpy() for key, value in decoded.items()}


def test_record_decodes_with_tf_models_decoder():
    annotation, pixels = _annotation()
    decoded = _decode(tfrecord.annotation_to_example(annotation, LABEL_MAP))
    np.testing.assert_array_equal(decoded["image"], pixels)  # PNG: lossless, bytes stored unchanged
    assert (decoded["height"], decoded["width"]) == (30, 40)
    assert decoded["source_id"] == b"7"
    np.testing.assert_allclose(decoded["groundtruth_boxes"],
                               [[3 / 30, 4 / 40, 15 / 30, 20 / 40], [12 / 30, 10 / 40, 1.0, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(decoded["groundtruth_classes"], [1, 2])
    np.testing.assert_allclose(decoded["groundtruth_area"], [16 * 12, 123.0])
    np.testing.assert_array_equal(decoded["groundtruth_is_crowd"], [False, False])


def test_masks_decode_with_tf_models_decoder():
    annotation, _ = _annotation(with_masks=True)
    example = tfrecord.annotation_to_example(annotation, LABEL_MAP)
    decoded = _decode(example, include_mask=True)
    masks = decoded["groundtruth_instance_masks"]
    assert masks.shape == (2, 30, 40)
    for obj, mask in zip(annotation.objects, masks):
        np.testing.assert_array_equal(mask, obj.mask.astype(np.float32))
    # Without include_masks the record holds no masks.
    plain = tfrecord.annotation_to_example(annotation, LABEL_MAP, include_masks=False)
    assert "image/object/mask" not in plain.features.feature


def test_example_to_annotation_round_trip():
    annotation, _ = _annotation(image_format="JPEG", with_masks=True)
    example = tfrecord.annotation_to_example(annotation, LABEL_MAP)
    feature = example.features.feature
    assert feature["image/format"].bytes_list.value == [b"jpeg"]
    assert feature["image/encoded"].bytes_list.value[0] == annotation.encoded  # no re-encode
    assert len(feature["image/key/sha256"].bytes_list.value[0]) == 64
    assert list(feature["image/object/difficult"].int64_list.value) == [1, 0]
    assert list(feature["image/object/truncated"].int64_list.value) == [0, 1]
    back = tfrecord.example_to_annotation(example)
    assert (back.filename, back.width, back.height, back.source_id) == ("a.png", 40, 30, "7")
    assert [o.class_name for o in back.objects] == ["milk", "egg"]
    assert [o.class_id for o in back.objects] == [1, 2]
    assert back.objects[0].difficult and back.objects[1].truncated
    np.testing.assert_allclose([back.objects[1].xmin, back.objects[1].ymin, back.objects[1].xmax,
                                back.objects[1].ymax], [10, 12, 40, 30], rtol=1e-6)
    np.testing.assert_array_equal(back.objects[0].mask, annotation.objects[0].mask)


@pytest.mark.parametrize("change, expected", [
    (lambda a: setattr(a.objects[0], "class_name", "cheese"), "not in the label map"),
    (lambda a: setattr(a.objects[0], "xmax", 41), "outside"),
    (lambda a: setattr(a.objects[0], "ymax", a.objects[0].ymin), "zero or negative size"),
])
def test_bad_objects_are_refused(change, expected):
    annotation, _ = _annotation()
    change(annotation)
    with pytest.raises(ValueError, match=expected):
        tfrecord.annotation_to_example(annotation, LABEL_MAP)


def test_masks_on_some_objects_only_are_refused():
    annotation, _ = _annotation(with_masks=True)
    annotation.objects[1].mask = None
    with pytest.raises(ValueError, match="1 of 2 objects have no instance mask"):
        tfrecord.annotation_to_example(annotation, LABEL_MAP)


def test_sharded_writer_round_robin_and_names(tmp_path):
    records = [f"record-{i}".encode() for i in range(5)]
    with tfrecord.ShardedTFRecordWriter(str(tmp_path), "train", 3) as writer:
        for record in records:
            writer.write(record)
    names = sorted(os.listdir(tmp_path))
    assert names == ["train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord",
                     "train-00002-of-00003.tfrecord"]
    shard0 = list(tfrecord.read_records(str(tmp_path / names[0])))
    assert shard0 == [records[0], records[3]]
    assert sorted(tfrecord.read_records(str(tmp_path / "train-*.tfrecord"))) == sorted(records)


def test_sharded_writer_on_exception_removes_temporaries_and_keeps_old_shards(tmp_path):
    with tfrecord.ShardedTFRecordWriter(str(tmp_path), "train", 1) as writer:
        writer.write(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with tfrecord.ShardedTFRecordWriter(str(tmp_path), "train", 1) as writer:
            writer.write(b"new")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["train-00000-of-00001.tfrecord"]
    assert list(tfrecord.read_records(str(tmp_path / "*.tfrecord"))) == [b"old"]


def test_read_examples_reports_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        list(tfrecord.read_examples(str(tmp_path / "*.tfrecord")))


_SERIALIZE_IN_CHILD = """
import hashlib, io, sys
sys.path.insert(0, {repo!r})
from tfsynth.data import tfrecord
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
objects = [ObjectAnnotation("milk", 4, 3, 20, 15), ObjectAnnotation("egg", 10, 12, 40, 30, truncated=True)]
image = ImageAnnotation("a.png", 40, 30, objects, encoded=b"not decoded here", image_format="png")
print(hashlib.sha256(tfrecord.serialize_example(tfrecord.annotation_to_example(image, {{"milk": 1, "egg": 2}}))).hexdigest())
"""


def test_records_are_byte_identical_from_one_process_to_the_next():
    # Map order in protobuf's output follows a per-process hash seed: only separate processes can show it.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = {run_python(_SERIALIZE_IN_CHILD.format(repo=repo)).stdout.split()[-1] for _ in range(2)}
    assert len(digests) == 1
