"""Faster R-CNN through the real commands: model_main_tf2 fine-tunes the tiny ResNet50 Faster R-CNN from the OD
API's own checkpoint (fine_tune_checkpoint_type "detection", different num_classes) with freeze_variables, then
evaluates its checkpoint (COCO and PASCAL metrics), exactly as for SSD."""
import json
import pathlib

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from tests import train_fixtures as fixtures
from tests.commands import run_module
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA

GOLDEN = SHARED_DATA / "odapi_reference/golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8"


def _pipeline(folder: pathlib.Path) -> str:
    """The golden ResNet50 pipeline.config, shrunk to 128x128 and 2 classes, on the tiny TFRecords."""
    label_map, train, evaluation = fixtures.write_tiny_data(str(folder / "data"))
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge((GOLDEN / "pipeline.config").read_text(), config)
    model = config.model.faster_rcnn
    model.num_classes = 2
    fixtures.shrink_faster_rcnn(model)
    train_config = config.train_config
    train_config.batch_size = 2
    train_config.num_steps = 2
    train_config.fine_tune_checkpoint = str(GOLDEN / "checkpoint" / "ckpt-0")
    train_config.fine_tune_checkpoint_type = "detection"
    del train_config.freeze_variables[:]
    train_config.freeze_variables.append("conv1_")
    text_format.Merge("momentum_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.0001 } } "
                      "momentum_optimizer_value: 0.9 }", train_config.optimizer)
    for reader, records in ((config.train_input_reader, train), (config.eval_input_reader[0], evaluation)):
        reader.label_map_path = label_map
        del reader.tf_record_input_reader.input_path[:]
        reader.tf_record_input_reader.input_path.append(records)
    config.eval_config.batch_size = 1
    config.eval_config.metrics_set.append("pascal_voc_detection_metrics")
    path = folder / "pipeline.config"
    path.write_text(text_format.MessageToString(config))
    return str(path)


def _run(*args: str) -> None:
    result = run_module("tfsynth.model_main_tf2", *args, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]


def _feature_extractor_values(prefix: str) -> dict[str, np.ndarray]:
    """{checkpoint key: value} of the ResNet feature extractors' variables (both stages)."""
    reader = tf.train.load_checkpoint(prefix)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key.startswith("model/_feature_extractor_for_") and key.endswith("/.ATTRIBUTES/VARIABLE_VALUE")}


def test_fine_tune_freeze_train_and_evaluate_with_model_main_tf2(tmp_path):
    pipeline = _pipeline(tmp_path)
    model_dir = tmp_path / "model"
    _run(f"--pipeline_config_path={pipeline}", f"--model_dir={model_dir}", "--checkpoint_every_n=1")
    latest = tf.train.latest_checkpoint(str(model_dir))
    assert latest and latest.endswith("ckpt-2")
    golden = _feature_extractor_values(str(GOLDEN / "checkpoint" / "ckpt-0"))
    trained = _feature_extractor_values(latest)
    assert set(trained) == set(golden)
    # conv1 (7x7x3x64, the only kernel of that shape) matched freeze_variables "conv1_": the OD API's value exactly.
    conv1 = [key for key, value in golden.items() if value.shape == (7, 7, 3, 64)]
    assert len(conv1) == 1
    np.testing.assert_array_equal(trained[conv1[0]], golden[conv1[0]])
    # Every other kernel was restored from the checkpoint and then trained: close to it, but moved.
    kernels = [key for key in golden if "/kernel/" in key and key not in conv1]
    moved = [key for key in kernels if not np.array_equal(trained[key], golden[key])]
    assert len(moved) == len(kernels), f"{len(kernels) - len(moved)} trained kernels did not move"
    far = {key: float(np.abs(trained[key] - golden[key]).max() / np.abs(golden[key]).max()) for key in kernels}
    assert max(far.values()) < 0.5, sorted(far.items(), key=lambda item: -item[1])[:3]

    # Evaluation mode of the same command on that checkpoint: COCO and PASCAL metrics in metrics.json.
    eval_dir = tmp_path / "eval"
    _run(f"--pipeline_config_path={pipeline}", f"--model_dir={eval_dir}", f"--checkpoint_dir={model_dir}",
         "--eval_timeout=5", "--eval_wait_interval=0")
    record = json.loads((eval_dir / "metrics.json").read_text())
    assert record["step"] == 2
    for name in ("DetectionBoxes_Precision/mAP", "PascalBoxes_Precision/mAP@0.5IOU",
                 "Loss/RPNLoss/localization_loss", "Loss/BoxClassifierLoss/classification_loss"):
        assert name in record["metrics"], sorted(record["metrics"])
