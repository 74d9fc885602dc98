"""Tiny training data and pipeline.config shared by the train / eval / export tests (no tests here).

A 64x64 SSD MobileNetV2 (depth multiplier 0.35) on six synthetic images of two classes: small enough to train a
few steps in seconds, real enough to go through the real config_util, model_builder, inputs and trainer.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.protos import pipeline_pb2

TINY_PIPELINE = """
model {
  ssd {
    num_classes: 2
    image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
    feature_extractor { type: "ssd_mobilenet_v2_keras" depth_multiplier: 0.35 min_depth: 8
      conv_hyperparams { regularizer { l2_regularizer { weight: 4e-05 } }
        initializer { truncated_normal_initializer { stddev: 0.03 } } activation: RELU_6
        batch_norm { decay: 0.97 center: true scale: true epsilon: 0.001 train: true } } }
    box_coder { faster_rcnn_box_coder { y_scale: 10.0 x_scale: 10.0 height_scale: 5.0 width_scale: 5.0 } }
    matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 ignore_thresholds: false
      negatives_lower_than_unmatched: true force_match_for_each_row: true use_matmul_gather: true } }
    similarity_calculator { iou_similarity { } }
    box_predictor { convolutional_box_predictor { conv_hyperparams { regularizer { l2_regularizer { weight: 4e-05 } }
        initializer { truncated_normal_initializer { stddev: 0.03 } } activation: RELU_6
        batch_norm { decay: 0.97 center: true scale: true epsilon: 0.001 train: true } }
      min_depth: 0 max_depth: 0 num_layers_before_predictor: 0 use_dropout: false kernel_size: 1 box_code_size: 4
      apply_sigmoid_to_scores: false class_prediction_bias_init: -4.6 } }
    anchor_generator { ssd_anchor_generator { num_layers: 6 min_scale: 0.2 max_scale: 0.95
      aspect_ratios: 1.0 aspect_ratios: 2.0 aspect_ratios: 0.5 } }
    post_processing { batch_non_max_suppression { score_threshold: 1e-8 iou_threshold: 0.6
      max_detections_per_class: 20 max_total_detections: 20 } score_converter: SIGMOID }
    normalize_loss_by_num_matches: true
    loss { localization_loss { weighted_smooth_l1 { } } classification_loss { weighted_sigmoid_focal { alpha: 0.75 gamma: 2.0 } }
      classification_weight: 1.0 localization_weight: 1.0 }
    encode_background_as_zeros: true
  }
}
train_config {
  batch_size: 2
  num_steps: 3
  optimizer { momentum_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.01 } }
    momentum_optimizer_value: 0.9 } use_moving_average: false }
  unpad_groundtruth_tensors: false
}
train_input_reader { label_map_path: "LABEL_MAP" tf_record_input_reader { input_path: "TRAIN_RECORDS" } }
eval_config { metrics_set: "coco_detection_metrics" metrics_set: "pascal_voc_detection_metrics"
  include_metrics_per_category: true batch_size: 1 num_visualizations: 2 }
eval_input_reader { label_map_path: "LABEL_MAP" shuffle: false num_epochs: 1
  tf_record_input_reader { input_path: "EVAL_RECORDS" } }
"""

LABEL_MAP = 'item { id: 1 name: "ketchup" }\nitem { id: 2 name: "water" }\n'
IMAGE_SIZE = 64
NUM_IMAGES = 6


# ---------------------------------------------------------------- data

def scene(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A deterministic image (uint8 [64, 64, 3]) with 1-2 bright boxes; normalized boxes and 1-based classes."""
    rng = np.random.default_rng(index)
    image = rng.integers(0, 40, (IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    boxes, classes = [], []
    for k in range(1 + index % 2):
        y, x = rng.integers(2, 30, 2)
        h, w = rng.integers(16, 30, 2)
        cls = 1 + (index + k) % 2
        image[y:y + h, x:x + w] = (220, 40, 40) if cls == 1 else (40, 40, 220)
        boxes.append([y / IMAGE_SIZE, x / IMAGE_SIZE, (y + h) / IMAGE_SIZE, (x + w) / IMAGE_SIZE])
        classes.append(cls)
    return image, np.array(boxes, np.float32), np.array(classes, np.int64)


def write_tiny_data(folder: str) -> tuple[str, str, str]:
    """Writes label_map.pbtxt and train/eval TFRecords (OD API layout) in folder; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    label_map = os.path.join(folder, "label_map.pbtxt")
    with open(label_map, "w") as stream:
        stream.write(LABEL_MAP)
    paths = []
    for split in ("train", "eval"):
        path = os.path.join(folder, f"{split}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for index in range(NUM_IMAGES):
                image, boxes, classes = scene(index)
                encoded = tf.io.encode_png(image).numpy()
                feature = {
                    "image/encoded": _bytes([encoded]), "image/format": _bytes([b"png"]),
                    "image/height": _ints([IMAGE_SIZE]), "image/width": _ints([IMAGE_SIZE]),
                    "image/source_id": _bytes([f"{split}{index}".encode()]),
                    "image/filename": _bytes([f"{split}{index}.png".encode()]),
                    "image/object/bbox/ymin": _floats(boxes[:, 0]), "image/object/bbox/xmin": _floats(boxes[:, 1]),
                    "image/object/bbox/ymax": _floats(boxes[:, 2]), "image/object/bbox/xmax": _floats(boxes[:, 3]),
                    "image/object/class/label": _ints(classes),
                    "image/object/class/text": _bytes([b"ketchup" if c == 1 else b"water" for c in classes]),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        paths.append(path)
    return label_map, paths[0], paths[1]


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def write_pipeline(folder: str, extra: str = "") -> str:
    """Writes the tiny pipeline.config (pointing at tiny data written alongside) and returns its path."""
    label_map, train, evaluation = write_tiny_data(os.path.join(folder, "data"))
    text = TINY_PIPELINE.replace("LABEL_MAP", label_map).replace("TRAIN_RECORDS", train) \
        .replace("EVAL_RECORDS", evaluation)
    path = os.path.join(folder, "pipeline.config")
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(text, config)
    if extra:
        text_format.Merge(extra, config)
    with open(path, "w") as stream:
        stream.write(text_format.MessageToString(config))
    return path


def shrink_faster_rcnn(faster_rcnn, size: int = 128) -> None:
    """Makes a Faster R-CNN model config (its faster_rcnn message) small enough to train on a CPU in a test:
    size x size inputs, 16 proposals, a second-stage batch of 8 and 10 detections."""
    faster_rcnn.image_resizer.keep_aspect_ratio_resizer.min_dimension = size
    faster_rcnn.image_resizer.keep_aspect_ratio_resizer.max_dimension = size
    faster_rcnn.first_stage_max_proposals = 16
    faster_rcnn.second_stage_batch_size = 8
    nms = faster_rcnn.second_stage_post_processing.batch_non_max_suppression
    nms.max_detections_per_class = 10
    nms.max_total_detections = 10
