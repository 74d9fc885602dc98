"""tfrecord_framing: TFRecord files written and read without TensorFlow, interchangeable with TensorFlow's own, and
tfsynth's Example message byte-compatible with tf.train.Example."""
import pathlib

import pytest

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
import tensorflow as tf

from tfsynth.data import tfrecord, tfrecord_framing
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tests.commands import run_python

RECORDS = [b"", b"a", b"\x00" * 1000, bytes(range(256)) * 40]


def test_crc32c_check_value():
    # The CRC-32C of "123456789" is 0xE3069283 (RFC 3720's check value).
    assert tfrecord_framing.crc32c(b"123456789") == 0xE3069283


def test_tensorflow_reads_what_we_write(tmp_path):
    path = tmp_path / "ours.tfrecord"
    path.write_bytes(b"".join(tfrecord_framing.frame(record) for record in RECORDS))
    assert [record.numpy() for record in tf.data.TFRecordDataset(str(path))] == RECORDS


def test_we_read_what_tensorflow_writes(tmp_path):
    path = str(tmp_path / "theirs.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in RECORDS:
            writer.write(record)
    assert list(tfrecord_framing.read_records(path)) == RECORDS
    assert open(path, "rb").read() == b"".join(tfrecord_framing.frame(record) for record in RECORDS)


def _written() -> bytearray:
    return bytearray(b"".join(tfrecord_framing.frame(record) for record in RECORDS))


def _second_record_offset() -> int:
    return len(tfrecord_framing.frame(RECORDS[0]))


@pytest.mark.parametrize("damage, expected", [
    ("flip a data byte", "its data fails its checksum"),
    ("flip a length byte", "its header fails its checksum"),
    ("cut inside the header", "ends 5 bytes into the record's 12-byte header"),
    ("cut inside the data", "file cut short"),
])
def test_damage_is_named_by_file_record_and_byte(tmp_path, damage, expected):
    data = _written()
    second = _second_record_offset()
    if damage == "flip a data byte":
        data[second + 12] ^= 0x01
    elif damage == "flip a length byte":
        data[second] ^= 0x01
    elif damage == "cut inside the header":
        data = data[:second + 5]
    else:
        data = data[:second + 12 + 1]
    path = tmp_path / "damaged.tfrecord"
    path.write_bytes(bytes(data))
    read = []
    with pytest.raises(tfrecord_framing.CorruptRecordError, match=expected) as raised:
        for record in tfrecord_framing.read_records(str(path)):
            read.append(record)
    assert read == RECORDS[:1]  # the record before the damage is delivered
    message = str(raised.value)
    assert str(path) in message and f"record 1 (byte {second})" in message


def test_example_bytes_equal_tf_train_example_bytes():
    objects = [ObjectAnnotation("milk", 4, 3, 20, 15, difficult=True), ObjectAnnotation("egg", 10, 12, 40, 30)]
    image = ImageAnnotation("a.png", 40, 30, objects, encoded=b"not decoded here", image_format="png",
                            source_id="7")
    ours = tfrecord.annotation_to_example(image, {"milk": 1, "egg": 2})
    theirs = tf.train.Example.FromString(tfrecord.serialize_example(ours))
    assert theirs.features.feature["image/object/bbox/xmin"].float_list.value == pytest.approx([0.1, 0.25])
    assert list(theirs.features.feature["image/object/class/label"].int64_list.value) == [1, 2]
    assert theirs.SerializeToString(deterministic=True) == tfrecord.serialize_example(ours)
    assert tfrecord.Example.FromString(theirs.SerializeToString()) == ours


def test_sharded_writer_output_reads_in_tensorflow(tmp_path):
    with tfrecord.ShardedTFRecordWriter(str(tmp_path), "train", num_shards=2) as writer:
        for record in RECORDS:
            writer.write(record)
    read = [r.numpy() for path in writer.paths for r in tf.data.TFRecordDataset(path)]
    assert sorted(read) == sorted(RECORDS)


_WRITE_WITHOUT_TF = """
import sys
sys.path.insert(0, {repo!r})
from tfsynth.data import tfrecord
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
image = ImageAnnotation("a.png", 40, 30, [ObjectAnnotation("milk", 4, 3, 20, 15)], encoded=b"x", image_format="png")
with tfrecord.ShardedTFRecordWriter({out!r}, "train", 1) as writer:
    writer.write(tfrecord.annotation_to_example(image, {{"milk": 1}}))
print(len(list(tfrecord.read_examples({out!r} + "/train-*.tfrecord"))), "tensorflow" in sys.modules)
"""


def test_writing_and_reading_records_never_loads_tensorflow(tmp_path):
    # generate's main process only writes records; loading TensorFlow there cost seconds and ~700 MB.
    repo = str(pathlib.Path(__file__).resolve().parent.parent)
    assert run_python(_WRITE_WITHOUT_TF.format(repo=repo, out=str(tmp_path))).stdout.split()[-2:] == ["1", "False"]


@pytest.mark.parametrize("name", ["Example", "Features", "Feature", "BytesList", "FloatList", "Int64List"])
def test_example_messages_declare_tensorflows_fields(name):
    from tfsynth.protos import example_pb2

    def fields(descriptor):
        # Map entries compare by their key and value fields (their generated names differ only by package).
        return {field.name: (field.number, field.type, field.label, field.is_packed,
                             field.message_type.name if field.message_type else None,
                             field.containing_oneof.name if field.containing_oneof else None)
                for field in descriptor.fields}

    ours = getattr(example_pb2, name).DESCRIPTOR
    theirs = getattr(tf.train, name).DESCRIPTOR
    assert fields(ours) == fields(theirs)
