"""Training and evaluation from a TFDS dataset (input readers' tfds_input_reader): the tiny tfsynth_renders build
(conftest's tfds_tiny) decodes to what generate's OD API shards of the same renders decode to, model_main_tf2 trains
and evaluates on its splits, and a reader naming what is not there fails naming its field."""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tests import train_fixtures
from tests.commands import run_module
from tfsynth.builders import dataset_builder
from tfsynth.core.standard_fields import InputDataFields as fields
from tfsynth.protos import input_reader_pb2, pipeline_pb2
from tfsynth.training import input_checks
from tfsynth.utils import config_checks, label_map_util

DATASET = "tfsynth_renders/tiny"
# What the TFDS layout does not hold, so its decoder fills it otherwise: source_id and key are the image's file
# name (generate writes split/index and the JPEG's SHA-256), area the box's pixel area (generate: visible pixels).
FILLED_OTHERWISE = {fields.source_id, fields.key, fields.groundtruth_area}


def _tfds_reader(data_dir, label_map, split: str = "train") -> input_reader_pb2.InputReader:
    """An unshuffled single-pass reader of one split of the tiny build."""
    reader = input_reader_pb2.InputReader(label_map_path=str(label_map), shuffle=False, num_epochs=1)
    reader.tfds_input_reader.name = DATASET
    reader.tfds_input_reader.split = split
    reader.tfds_input_reader.data_dir = str(data_dir)
    return reader


def _decoded(reader: input_reader_pb2.InputReader) -> dict[bytes, dict[str, np.ndarray]]:
    """Every decoded example of the reader, by file name."""
    return {example[fields.filename].numpy(): {key: np.asarray(value.numpy()) for key, value in example.items()}
            for example in dataset_builder.build(reader, config_name="train_input_reader")}


@pytest.mark.parametrize("split, prefix", [("train", "train"), ("validation", "val")])
def test_a_tfds_split_decodes_as_generates_shards_of_the_same_renders(tfds_tiny, split, prefix):
    data_dir, out = tfds_tiny
    label_map = out / "label_map.pbtxt"
    shards = input_reader_pb2.InputReader(label_map_path=str(label_map), shuffle=False, num_epochs=1)
    shards.tf_record_input_reader.input_path.append(str(out / f"{prefix}-*.tfrecord"))
    ours, theirs = _decoded(_tfds_reader(data_dir, label_map, split)), _decoded(shards)
    assert sorted(ours) == sorted(theirs) and len(ours) == (8 if split == "train" else 4)
    assert sum(len(example[fields.groundtruth_classes]) for example in ours.values()) > 0
    for filename, example in ours.items():
        assert sorted(example) == sorted(theirs[filename])
        for key in set(example) - FILLED_OTHERWISE:
            assert example[key].dtype == theirs[filename][key].dtype, key
            if key == fields.groundtruth_boxes:
                np.testing.assert_allclose(example[key], theirs[filename][key], atol=1e-6, err_msg=key)
            else:
                np.testing.assert_array_equal(example[key], theirs[filename][key], err_msg=key)  # image: same pixels
        assert example[fields.source_id] == example[fields.key] == filename
        boxes, (height, width) = example[fields.groundtruth_boxes], example[fields.original_image_spatial_shape]
        np.testing.assert_allclose(example[fields.groundtruth_area],
                                   (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * height * width,
                                   rtol=1e-5)


def _missing_split(reader, tmp_path):
    reader.tfds_input_reader.split = "test"
    return ("train_input_reader.tfds_input_reader.split: 'test' is not a split",
            "expected one of ['train', 'validation']")


def _not_prepared(reader, tmp_path):
    reader.tfds_input_reader.data_dir = str(tmp_path / "empty")
    return ("train_input_reader.tfds_input_reader.name: no prepared dataset 'tfsynth_renders/tiny'",
            f"tfds build tfsynth_renders --config tiny --imports tfsynth.datasets --data_dir {tmp_path / 'empty'}")


def _class_not_in_the_label_map(reader, tmp_path):
    name_to_id = label_map_util.get_label_map_dict(reader.label_map_path)
    del name_to_id["product_003_bottle_milk"]
    reader.label_map_path = str(tmp_path / "label_map.pbtxt")
    label_map_util.write_label_map(reader.label_map_path, name_to_id)
    return ("train_input_reader.label_map_path: 1 of the 150 classes of dataset tfsynth_renders/tiny is not in the "
            f"label map {reader.label_map_path}: 'product_003_bottle_milk'", "expected every class")


def _no_label_map(reader, tmp_path):
    reader.label_map_path = ""
    return "train_input_reader.label_map_path: not set", "through the label map"


@pytest.mark.parametrize("change", [_missing_split, _not_prepared, _class_not_in_the_label_map, _no_label_map])
def test_a_tfds_reader_naming_what_is_not_there_fails_naming_the_field(tfds_tiny, tmp_path, change):
    data_dir, out = tfds_tiny
    reader = _tfds_reader(data_dir, out / "label_map.pbtxt")
    expected = change(reader, tmp_path)
    model = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(train_fixtures.TINY_PIPELINE, model)
    model.model.ssd.num_classes = 150
    # Where a run meets it first (the input check before any model is built) and where the reader is built.
    for build in (lambda: input_checks.check_input_reader(reader, model.model, "train_input_reader"),
                  lambda: dataset_builder.build(reader, config_name="train_input_reader")):
        with pytest.raises(ValueError) as error:
            build()
        assert all(part in str(error.value) for part in expected), str(error.value)


def test_dataset_classes_beyond_the_models_num_classes_stop_the_input_check(tfds_tiny):
    data_dir, out = tfds_tiny
    model = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(train_fixtures.TINY_PIPELINE, model)  # num_classes: 2
    expected = (r"train_input_reader\.label_map_path: class 'product_002_gable_top_carton' of tfsynth_renders/tiny "
                r"has id 3 .* expected ids 1\.\.2 \(the model's num_classes; 148 of the dataset's classes")
    with pytest.raises(input_checks.InputCheckError, match=expected):
        input_checks.check_input_reader(_tfds_reader(data_dir, out / "label_map.pbtxt"), model.model,
                                        "train_input_reader")


def test_a_tfds_reader_without_tensorflow_datasets_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # `import tensorflow_datasets` fails
    reader = input_reader_pb2.InputReader()
    reader.tfds_input_reader.name = DATASET
    with pytest.raises(ImportError, match=r"tfds_input_reader needs tensorflow-datasets .*pip install -e '\.\[tfds\]'"):
        dataset_builder.tfds_builder(reader)


def test_a_tfds_reader_without_a_name_is_a_config_problem():
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(train_fixtures.TINY_PIPELINE, config)
    config.train_input_reader.tfds_input_reader.split = "train"
    with pytest.raises(ValueError, match=r"train_input_reader\.tfds_input_reader\.name: not set"):
        config_checks.check_pipeline_config(config, "pipeline.config", check_eval_input=False)


def _tfds_pipeline(folder: pathlib.Path, data_dir, label_map) -> pathlib.Path:
    """The tiny SSD pipeline.config of train_fixtures, reading the tiny build: train on its train split, evaluate
    on its validation split (COCO metrics only, to keep the evaluation short)."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(train_fixtures.TINY_PIPELINE, config)
    config.model.ssd.num_classes = len(label_map_util.get_label_map_dict(str(label_map)))
    config.train_input_reader.CopyFrom(_tfds_reader(data_dir, label_map, "train"))
    config.train_input_reader.ClearField("num_epochs")  # repeat, shuffled: as a training reader is
    config.train_input_reader.ClearField("shuffle")
    config.eval_input_reader[0].CopyFrom(_tfds_reader(data_dir, label_map, "validation"))
    del config.eval_config.metrics_set[:]
    config.eval_config.metrics_set.append("coco_detection_metrics")
    config.eval_config.include_metrics_per_category = False
    path = folder / "pipeline.config"
    path.write_text(text_format.MessageToString(config))
    return path


@pytest.mark.slow
def test_model_main_tf2_trains_and_evaluates_from_tfds_splits(tfds_tiny, tmp_path):
    data_dir, out = tfds_tiny
    pipeline = _tfds_pipeline(tmp_path, data_dir, out / "label_map.pbtxt")
    assert 'tfds_input_reader {\n    name: "tfsynth_renders/tiny"\n    split: "train"' in pipeline.read_text()
    model_dir = tmp_path / "model"
    result = run_module("tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline}", f"--model_dir={model_dir}",
                        "--num_train_steps=2", "--eval_every_n_steps=2", timeout=840)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_input_reader: TFDS tfsynth_renders/tiny split train, 1 files, 8 usable records" in result.stderr
    assert "eval_input_reader: TFDS tfsynth_renders/tiny split validation, 1 files, 4 usable records" in result.stderr
    assert "Step 2 per-step time" in result.stderr
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["step"] == 2 and np.isfinite(metrics["metrics"]["Loss/total_loss"])
    assert "DetectionBoxes_Precision/mAP" in metrics["metrics"]
