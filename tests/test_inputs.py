"""train_input / eval_input on small real TFRecords: decoding, label-map mapping, resizing, padding, batching,
augmentation, input_reader options and error messages."""
import io

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image

from tfsynth.protos import eval_pb2, input_reader_pb2, model_pb2, train_pb2
from tfsynth.training import inputs

RED = (255, 0, 0)


def _png(height, width, box=None, color=RED):
    """Grey image, with `box` (normalized) painted `color`."""
    pixels = np.full((height, width, 3), 90, np.uint8)
    if box is not None:
        y0, x0, y1, x1 = (int(round(v * s)) for v, s in zip(box, (height, width, height, width)))
        pixels[y0:y1, x0:x1] = color
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _example(source_id, height, width, boxes, labels=None, texts=None, weights=None, difficult=None):
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[_png(height, width, boxes[0] if boxes else None)])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
        "image/source_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[source_id.encode()])),
    }
    for i, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
        feature[f"image/object/bbox/{key}"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=[b[i] for b in boxes]))
    if labels is not None:
        feature["image/object/class/label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=labels))
    if texts is not None:
        feature["image/object/class/text"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t.encode() for t in texts]))
    if weights is not None:
        feature["image/object/weight"] = tf.train.Feature(float_list=tf.train.FloatList(value=weights))
    if difficult is not None:
        feature["image/object/difficult"] = tf.train.Feature(int64_list=tf.train.Int64List(value=difficult))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            writer.write(example)


@pytest.fixture()
def records(tmp_path):
    """Two shards of 3 examples: boxes labelled 1 / 2, one image with 3 boxes."""
    _write(tmp_path / "train-00000-of-00002.tfrecord", [
        _example("a", 40, 60, [[0.25, 0.25, 0.75, 0.5]], labels=[1]),
        _example("b", 50, 50, [[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9], [0.0, 0.0, 1.0, 1.0]],
                 labels=[2, 1, 2], weights=[1.0, 0.5, 1.0], difficult=[0, 1, 0]),
        _example("c", 30, 80, [[0.2, 0.2, 0.6, 0.6]], labels=[2]),
    ])
    _write(tmp_path / "train-00001-of-00002.tfrecord", [
        _example("d", 40, 40, [[0.5, 0.5, 1.0, 1.0]], labels=[1]),
        _example("e", 60, 40, [], labels=[]),
        _example("f", 40, 60, [[0.1, 0.6, 0.3, 0.9]], labels=[2]),
    ])
    label_map = tmp_path / "label_map.pbtxt"
    label_map.write_text('item { id: 1 name: "cola" }\nitem { id: 2 name: "milk" }\n')
    return tmp_path


def _model(resizer="fixed_shape_resizer { height: 32 width: 32 }", num_classes=2):
    return text_format.Parse(f"ssd {{ num_classes: {num_classes} image_resizer {{ {resizer} }} }}",
                             model_pb2.DetectionModel())


def _reader(text):
    return text_format.Parse(text, input_reader_pb2.InputReader())


def _train(text=""):
    return text_format.Parse(text, train_pb2.TrainConfig())


def test_train_input_shapes_and_padding(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-?????-of-00002.tfrecord" }}
                         max_number_of_boxes: 4 shuffle: false num_readers: 1""")
    dataset = inputs.train_input(_train("batch_size: 2"), reader, _model())
    features, labels = next(iter(dataset))
    assert features["image"].shape == (2, 32, 32, 3) and features["image"].dtype == tf.float32
    assert features["true_image_shape"].numpy().tolist() == [[32, 32, 3]] * 2
    assert features["original_image_spatial_shape"].numpy().tolist() == [[40, 60], [50, 50]]
    assert features["hash"].dtype == tf.int32
    assert labels["groundtruth_boxes"].shape == (2, 4, 4)
    assert labels["groundtruth_classes"].shape == (2, 4, 2)
    assert labels["num_groundtruth_boxes"].numpy().tolist() == [1, 3]
    # Class 1 -> [1, 0], class 2 -> [0, 1]; padding rows are zeros.
    np.testing.assert_array_equal(labels["groundtruth_classes"][1].numpy(), [[0, 1], [1, 0], [0, 1], [0, 0]])
    np.testing.assert_allclose(labels["groundtruth_boxes"][0, 0], [0.25, 0.25, 0.75, 0.5])
    np.testing.assert_allclose(labels["groundtruth_weights"][1], [1.0, 0.5, 1.0, 0.0])
    np.testing.assert_array_equal(labels["groundtruth_difficult"][1], [0, 1, 0, 0])
    # The red box region is still red after resizing to 32x32.
    image = features["image"][0].numpy()
    assert image[12:20, 10:14, 0].min() > 200 and image[12:20, 10:14, 1].max() < 60


def test_drop_remainder_and_epochs(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-00000-of-00002.tfrecord"
                                                   input_path: "{records}/train-00001-of-00002.tfrecord" }}
                         num_epochs: 1 shuffle: false""")
    batches = list(inputs.train_input(_train(), reader, _model(), batch_size=4))
    assert len(batches) == 1  # 6 examples, batch 4: the remainder is dropped in training
    eval_batches = list(inputs.eval_input(eval_pb2.EvalConfig(), reader, _model(), batch_size=4))
    assert [b[0]["image"].shape[0] for b in eval_batches] == [4, 2]


def test_eval_input_keeps_original_image_and_eval_fields(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-0000[01]-of-00002.tfrecord" }}
                         num_epochs: 1 shuffle: false num_readers: 1 include_source_id: true""")
    features, labels = next(iter(inputs.eval_input(eval_pb2.EvalConfig(), reader, _model())))
    assert features["original_image"].dtype == tf.uint8 and features["original_image"].shape == (1, 32, 32, 3)
    assert features["source_id"].numpy().tolist() == [b"a"]
    for key in ("groundtruth_area", "groundtruth_is_crowd", "groundtruth_difficult", "groundtruth_group_of"):
        assert labels[key].shape == (1, 100)
    # Area defaults to the box area in pixels of the original image.
    assert labels["groundtruth_area"][0, 0].numpy() == pytest.approx(0.5 * 0.25 * 40 * 60)


def test_sample_1_of_n(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/*.tfrecord" }}
                         num_epochs: 1 shuffle: false num_readers: 1 sample_1_of_n_examples: 2""")
    batches = list(inputs.eval_input(eval_pb2.EvalConfig(), reader, _model()))
    assert len(batches) == 3


def test_keep_aspect_ratio_pad_realigns_boxes(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-00000-of-00002.tfrecord" }}
                         num_epochs: 1 shuffle: false""")
    model = _model("keep_aspect_ratio_resizer { min_dimension: 20 max_dimension: 64 pad_to_max_dimension: true }")
    features, labels = next(iter(inputs.eval_input(eval_pb2.EvalConfig(), reader, model)))
    # 40x60 -> 20x30 (short side to 20), padded to 64x64; boxes follow into the padded frame.
    assert features["image"].shape == (1, 64, 64, 3)
    assert features["true_image_shape"].numpy().tolist() == [[20, 30, 3]]
    np.testing.assert_allclose(labels["groundtruth_boxes"][0, 0],
                               [0.25 * 20 / 64, 0.25 * 30 / 64, 0.75 * 20 / 64, 0.5 * 30 / 64], rtol=1e-5)
    image = features["image"][0].numpy()
    assert image[7:14, 8:14, 0].min() > 200 and image[40:, 40:].max() == 0.0


def test_label_map_maps_class_text(records, tmp_path):
    path = tmp_path / "text.tfrecord"
    _write(path, [_example("t", 20, 20, [[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0.2, 0.2, 0.3, 0.3]],
                           texts=["milk", "cola", "juice"])])
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{path}" }} label_map_path: "{records}/label_map.pbtxt"
                         num_epochs: 1 shuffle: false""")
    _, labels = next(iter(inputs.eval_input(eval_pb2.EvalConfig(), reader, _model())))
    # "juice" is not in the label map: dropped, as the OD API does.
    assert labels["num_groundtruth_boxes"].numpy().tolist() == [2]
    np.testing.assert_array_equal(labels["groundtruth_classes"][0, :2].numpy(), [[0, 1], [1, 0]])


def test_augmentation_flip_moves_red_region(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-00000-of-00002.tfrecord" }}
                         shuffle: false num_readers: 1""")
    train = _train("batch_size: 1 data_augmentation_options { random_horizontal_flip { probability: 1.0 } }")
    features, labels = next(iter(inputs.train_input(train, reader, _model())))
    np.testing.assert_allclose(labels["groundtruth_boxes"][0, 0], [0.25, 0.5, 0.75, 0.75], atol=1e-6)
    image = features["image"][0].numpy()
    assert image[12:20, 18:22, 0].min() > 200 and image[12:20, 4:12, 0].max() < 120


def test_ssd_augmentation_pipeline_keeps_boxes_valid(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/*.tfrecord" }} max_number_of_boxes: 5""")
    train = _train("""batch_size: 3 use_bfloat16: true
        data_augmentation_options { random_horizontal_flip { } }
        data_augmentation_options { ssd_random_crop { } }""")
    for features, labels in inputs.train_input(train, reader, _model()).take(4):
        assert features["image"].dtype == tf.bfloat16 and features["image"].shape == (3, 32, 32, 3)
        boxes = labels["groundtruth_boxes"].numpy()
        assert boxes.min() >= 0.0 and boxes.max() <= 1.0
        count = labels["num_groundtruth_boxes"].numpy()
        for row, n in enumerate(count):
            assert labels["groundtruth_classes"][row, :n].numpy().sum() == n
            assert labels["groundtruth_classes"][row, n:].numpy().sum() == 0


def test_unmatched_glob_names_field_and_pattern(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/*.tfrecord"
                                                   input_path: "{records}/nothing-*.tfrecord" }}""")
    with pytest.raises(ValueError, match=r"train_input_reader\.tf_record_input_reader\.input_path.*nothing-\*"):
        inputs.train_input(_train(), reader, _model())


def test_class_id_above_num_classes_is_an_error(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-00000-of-00002.tfrecord" }}
                         shuffle: false num_readers: 1""")
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        next(iter(inputs.train_input(_train("batch_size: 2"), reader, _model(num_classes=1))))


class _FakeModel:
    """Stands in for a DetectionModel: preprocess resizes to the config's 32x32 and maps values to [-1, 1]."""

    def preprocess(self, images):
        resized = tf.image.resize(images, [32, 32]) / 127.5 - 1.0
        return resized, tf.constant([[32, 32, 3]])


def test_model_preprocess_is_used(records):
    reader = _reader(f"""tf_record_input_reader {{ input_path: "{records}/train-00000-of-00002.tfrecord" }}
                         shuffle: false num_readers: 1""")
    features, _ = next(iter(inputs.train_input(_train("batch_size: 2"), reader, _model(), model=_FakeModel())))
    assert features["image"].shape[1:3] == (32, 32)
    assert features["image"].numpy().min() >= -1.0 and features["image"].numpy().max() <= 1.0


def test_label_and_box_count_mismatch_is_an_error(tmp_path):
    path = tmp_path / "bad.tfrecord"
    _write(path, [_example("x", 20, 20, [[0.1, 0.1, 0.5, 0.5]], labels=[1, 2])])
    reader = _reader(f'tf_record_input_reader {{ input_path: "{path}" }} num_epochs: 1')
    with pytest.raises(tf.errors.InvalidArgumentError, match="different lengths"):
        next(iter(inputs.eval_input(eval_pb2.EvalConfig(), reader, _model())))
