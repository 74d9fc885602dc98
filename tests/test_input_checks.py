"""Input checks before training / inspection: each bad shard or record is an error naming the file and record, or
is counted and left out in skip mode; a good set passes; the real commands stop with the file named."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
import tensorflow as tf
from google.protobuf import text_format

from tests import train_fixtures as fixtures
from tests.commands import run_module
from tfsynth import inspect as inspect_module
from tfsynth.builders import dataset_builder
from tfsynth.core.standard_fields import TfExampleFields as F
from tfsynth.data import record_checks, tfrecord
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.protos import input_reader_pb2, model_pb2
from tfsynth.training import input_checks, model_lib

LABEL_MAP = {"ketchup": 1, "water": 2}


def _example(name="img", class_name="ketchup"):
    """A tiny 8x8 PNG record with one box (2..6 px) of class_name, written by the project's own converter."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(buffer, format="PNG")
    image = ImageAnnotation(f"{name}.png", 8, 8, [ObjectAnnotation(class_name, 2, 2, 6, 6)],
                            encoded=buffer.getvalue(), image_format="png")
    return tfrecord.annotation_to_example(image, LABEL_MAP)


def _shard(folder, name, examples):
    """One shard (the project's sharded writer) holding examples; returns its path."""
    with tfrecord.ShardedTFRecordWriter(str(folder), name) as writer:
        for example in examples:
            writer.write(example)
    return writer.paths[0]


def _set_floats(example, key, values):
    del example.features.feature[key].float_list.value[:]
    example.features.feature[key].float_list.value.extend(values)
    return example


def _missing_object_keys():
    example = _example()
    for key in list(example.features.feature):
        if key.startswith("image/object/"):
            del example.features.feature[key]
    return example


def _unknown_class():
    example = _example()
    example.features.feature[F.object_class_text].bytes_list.value[0] = b"soap"
    return example


def _with_image(transform, image_format="JPEG"):
    """A record whose image/encoded bytes are transform(a whole image of 32x24 px in image_format)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(buffer, format=image_format)
    example = _example()
    example.features.feature[F.image_encoded].bytes_list.value[0] = transform(buffer.getvalue())
    return example


BAD_RECORDS = {
    "JPEG cut short": (lambda: _with_image(lambda data: data[:len(data) // 2]), "bad image",
                       "image/encoded: JPEG of"),
    "PNG cut short": (lambda: _with_image(lambda data: data[:-16], "PNG"), "bad image", "has no IEND chunk"),
    "not an image": (lambda: _with_image(lambda data: b"<html>not found</html>"), "bad image",
                     "not an image file (starts with 3c 68 74 6d"),
    "missing object keys": (_missing_object_keys, "missing keys", "no image/object/bbox/ymin"),
    "class not in label map": (_unknown_class, "object: class not in label map",
                               "object 0: class 'soap' is not in the label map"),
    "xmax 3": (lambda: _set_floats(_example(), F.object_bbox_xmax, [3.0]), "box outside [0, 1]",
               "xmax 3 is outside [0, 1]"),
    "ymin -2": (lambda: _set_floats(_example(), F.object_bbox_ymin, [-2.0]), "box outside [0, 1]",
                "ymin -2, xmin 0.25, ymax 0.75, xmax 0.75 is outside [0, 1]"),
    "empty box": (lambda: _set_floats(_example(), F.object_bbox_xmax, [0.25]), "empty box",
                  "is empty; expected ymin < ymax and xmin < xmax"),
}


@pytest.fixture()
def label_map(tmp_path):
    path = tmp_path / "label_map.pbtxt"
    path.write_text(fixtures.LABEL_MAP)
    return str(path)


def _rules(label_map):
    return record_checks.ClassRules.from_label_map(label_map, num_classes=2)


def test_good_records_pass(tmp_path, label_map):
    path = _shard(tmp_path, "good", [_example(f"i{k}", ("ketchup", "water")[k % 2]) for k in range(3)])
    report = record_checks.check_records([path], _rules(label_map))
    assert report.num_records == 3 and report.num_checked == 3 and not report.skipped
    assert report.record_filter() is None


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_record_names_file_and_record(tmp_path, label_map, case):
    make, kind, text = BAD_RECORDS[case]
    path = _shard(tmp_path, "bad", [_example("ok"), make(), _example("ok2")])
    with pytest.raises(record_checks.RecordCheckError) as caught:
        record_checks.check_records([path], _rules(label_map))
    message = str(caught.value)
    assert message.startswith(f"{path}: record 1") and text in message, message
    assert caught.value.path == path and caught.value.record == 1 and caught.value.kind == kind


def _good_bytes(tmp_path, count=3):
    return open(_shard(tmp_path / "src", "good", [_example(f"i{k}") for k in range(count)]), "rb").read()


def test_broken_files_name_file_and_record(tmp_path):
    data = _good_bytes(tmp_path)
    record = len(data) // 3
    cases = {
        "empty.tfrecord": (b"", "is empty (0 bytes)", None),
        "text.tfrecord": (b"image,xmin,ymin\na.jpg,1,2\n" * 4, "is not a TFRecord file: at byte 0", 0),
        "cut_in_data.tfrecord": (data[:-20], f"record 2 (byte {2 * record}): the record needs", 2),
        # TensorFlow's reader takes a file cut inside a header for a clean end: only the framing walk sees it
        "cut_in_header.tfrecord": (data[:record + 5], f"record 1 (byte {record}): the file ends 5 bytes into", 1),
        "corrupt.tfrecord": (data[:record + 40] + bytes([data[record + 40] ^ 0xFF]) + data[record + 41:],
                             f"record 1 (byte {record}): its data fails its checksum", 1),
    }
    for name, (content, text, record_index) in cases.items():
        path = str(tmp_path / name)
        with open(path, "wb") as stream:
            stream.write(content)
        with pytest.raises(record_checks.RecordCheckError) as caught:
            record_checks.check_records([path])
        assert str(caught.value).startswith(f"{path}: ") and text in str(caught.value), (name, str(caught.value))
        assert caught.value.record == record_index, name


def test_skip_counts_and_the_pipeline_leaves_out_what_was_skipped(tmp_path, label_map):
    records = [_example("good0")] + [BAD_RECORDS[case][0]() for case in sorted(BAD_RECORDS)] + [_example("good1")]
    mixed = _shard(tmp_path, "mixed", records)
    cut = str(tmp_path / "cut.tfrecord")
    with open(cut, "wb") as stream:
        stream.write(_good_bytes(tmp_path)[:-20])  # 2 of 3 records readable
    empty = str(tmp_path / "empty.tfrecord")
    open(empty, "wb").close()
    report = record_checks.check_records([mixed, cut, empty], _rules(label_map), on_error="skip")
    assert dict(report.skipped) == {"missing keys": 1, "object: class not in label map": 1, "box outside [0, 1]": 2,
                                    "empty box": 1, "file cut short or corrupt": 1, "bad image": 3}
    assert report.empty_files == [empty]  # a shard of no records is valid: fewer images than shards
    # the unknown-class record stays (its object is dropped, as the decoder does): 3 of `mixed`, 2 of `cut`
    assert report.num_records == 5
    record_filter = report.record_filter()
    assert record_filter.limits == {cut: 2, empty: 0}
    assert record_filter.skipped == {mixed: frozenset({1, 2, 4, 5, 6, 7, 8})}
    reader = text_format.Parse(f'tf_record_input_reader {{ input_path: "{tmp_path}/*.tfrecord" }} '
                               'shuffle: false num_epochs: 1 num_readers: 1', input_reader_pb2.InputReader())
    names = [tf.train.Example.FromString(r.numpy()).features.feature[F.filename].bytes_list.value[0].decode()
             for r in dataset_builder.read_dataset(reader, record_filter=record_filter)]
    assert names == ["i0.png", "i1.png", "good0.png", "img.png", "good1.png"]
    # nothing usable left is an error even in skip mode: a repeated pipeline over no records would spin forever
    with pytest.raises(record_checks.RecordCheckError, match=r"is empty \(0 bytes\)"):
        record_checks.check_records([empty], on_error="skip")


def test_input_reader_check_glob_label_ids_and_num_classes(tmp_path, label_map, caplog):
    model = text_format.Parse("ssd { num_classes: 1 }", model_pb2.DetectionModel())
    reader = text_format.Parse(f'label_map_path: "{label_map}" tf_record_input_reader {{ '
                               f'input_path: "{tmp_path}/nothing-*.tfrecord" }}', input_reader_pb2.InputReader())
    with pytest.raises(ValueError, match=r"train_input_reader\.tf_record_input_reader\.input_path.*nothing-\*"):
        input_checks.check_input_reader(reader, model, "train_input_reader")
    path = _shard(tmp_path, "water", [_example("w", "water")])
    reader.tf_record_input_reader.input_path[:] = [path]
    # Fewer classes than the label map names: refused as a config mistake, whatever the records hold.
    with pytest.raises(input_checks.InputCheckError, match=r"train_input_reader\.label_map_path: .* has ids up to 2 "
                                                           r"\('water'=2\) but the model's num_classes is 1"):
        input_checks.check_input_reader(reader, model, "train_input_reader")
    # More classes than the label map names: allowed, as in the OD API, with a warning naming both.
    model.ssd.num_classes = 5
    with caplog.at_level("WARNING"):
        input_checks.check_input_reader(reader, model, "train_input_reader")
    assert f"the model's num_classes is 5 but the label map {label_map} has ids up to 2: classes 3..5" in caplog.text
    caplog.clear()
    model.ssd.num_classes = 2
    with caplog.at_level("WARNING"):
        input_checks.check_input_reader(reader, model, "train_input_reader")
    assert "num_classes" not in caplog.text
    reader.label_map_path = str(tmp_path / "missing.pbtxt")
    with pytest.raises(input_checks.InputCheckError, match="train_input_reader.label_map_path.*missing.pbtxt"):
        input_checks.check_input_reader(reader, model, "train_input_reader")


def test_train_loop_checks_inputs_and_fine_tune_checkpoint_before_building(tmp_path):
    pipeline = fixtures.write_pipeline(str(tmp_path))
    bad = _shard(tmp_path, "bad", [BAD_RECORDS["xmax 3"][0]()])
    override = f'train_input_reader {{ tf_record_input_reader {{ input_path: "{bad}" }} }}'
    with pytest.raises(record_checks.RecordCheckError, match=f"{bad}: record 0, object 0: box .* outside"):
        model_lib.train_loop(pipeline, str(tmp_path / "model"), config_override=override, train_steps=1)
    # skip mode: the bad record is left out, the fixture's good records train
    result = model_lib.train_loop(pipeline, str(tmp_path / "skipped"), config_override=override, train_steps=1,
                                  on_input_error="skip", record_summaries=False)
    assert result["step"] == 1 and np.isfinite(result["losses"]["Loss/total_loss"])
    missing = str(tmp_path / "pretrained" / "ckpt-0")
    with pytest.raises(input_checks.InputCheckError,
                       match=f"train_config.fine_tune_checkpoint: {missing}.index does not exist"):
        model_lib.train_loop(pipeline, str(tmp_path / "model"), train_steps=1,
                             config_override=f'train_config {{ fine_tune_checkpoint: "{missing}" }}')
    assert not os.path.exists(tmp_path / "model")  # stopped before writing anything


def test_inspect_stops_or_skips(tmp_path, label_map):
    path = _shard(tmp_path, "mixed", [_example("a"), _unknown_class(), BAD_RECORDS["empty box"][0](),
                                      BAD_RECORDS["JPEG cut short"][0]()])
    with pytest.raises(record_checks.RecordCheckError, match="record 1, object 0: class 'soap'"):
        inspect_module.inspect_dataset(path, label_map=label_map)
    stats = inspect_module.inspect_dataset(path, label_map=label_map, on_error="skip")
    assert stats["num_images"] == 2 and stats["num_boxes"] == 1
    assert stats["skipped"] == {"empty box": 1, "object: class not in label map": 1, "bad image": 1}
    assert "skipped: bad image 1, empty box 1" in inspect_module.format_stats(stats)


def _command(args, timeout=400):
    return run_module(*args, timeout=timeout)


def test_commands_stop_naming_the_file(tmp_path):
    # A 0-byte shard made training spin forever: the timeout makes a hang a failure.
    pipeline = fixtures.write_pipeline(str(tmp_path))
    train_records = f'input_path: "{tmp_path / "data" / "train.tfrecord"}"'
    with open(pipeline) as stream:
        text = stream.read()
    assert train_records in text
    with open(pipeline, "w") as stream:  # the glob matches the empty shard alone
        stream.write(text.replace(train_records, f'input_path: "{tmp_path}/empty-*.tfrecord"', 1))
    empty = str(tmp_path / "empty-00000.tfrecord")
    open(empty, "wb").close()
    result = _command(["tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline}",
                       f"--model_dir={tmp_path / 'model'}", "--num_train_steps=1"])
    assert result.returncode != 0 and f"{empty}: is empty (0 bytes)" in result.stderr, result.stderr[-2000:]
    cut = str(tmp_path / "cut.tfrecord")
    with open(cut, "wb") as stream:
        stream.write(_good_bytes(tmp_path)[:-20])
    result = _command(["tfsynth.inspect", cut])
    assert result.returncode != 0 and f"{cut}: record 2 (byte" in result.stderr, result.stderr[-2000:]


def test_a_mistyped_feature_extractor_stops_training_before_the_records_are_read(tmp_path):
    pipeline = fixtures.write_pipeline(str(tmp_path))
    bad = _shard(tmp_path, "bad", [BAD_RECORDS["xmax 3"][0]()])
    override = (f'train_input_reader {{ tf_record_input_reader {{ input_path: "{bad}" }} }} '
                'model { ssd { feature_extractor { type: "ssd_mobilenet_v9_keras" } } }')
    with pytest.raises(NotImplementedError, match=r"model\.ssd\.feature_extractor\.type = 'ssd_mobilenet_v9_keras'"):
        model_lib.train_loop(pipeline, str(tmp_path / "model"), config_override=override, train_steps=1)
    assert not os.path.exists(tmp_path / "model")
