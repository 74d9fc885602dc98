"""Private stand-ins for the parts other engineers deliver (config_util, model_builder, inputs), used by the
train / eval / export tests only while the real module is missing. No tests here.

install() puts a stand-in into sys.modules for each of tfsynth.utils.config_util, tfsynth.builders.model_builder
and tfsynth.training.inputs that does not import; `REAL` tells which are real.
"""
from __future__ import annotations

import importlib
import os
import sys
import types

import numpy as np
import tensorflow as tf
import tf_keras
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.protos import pipeline_pb2

REAL: dict[str, bool] = {}

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
  max_number_of_boxes: 10
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


# ---------------------------------------------------------------- config_util stand-in

def _configs_from_proto(config) -> dict:
    return {"model": config.model, "train_config": config.train_config,
            "train_input_config": config.train_input_reader, "eval_config": config.eval_config,
            "eval_input_configs": list(config.eval_input_reader),
            "eval_input_config": config.eval_input_reader[0] if config.eval_input_reader else None}


def _get_configs_from_pipeline_file(path, config_override=None):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    with open(path) as stream:
        text_format.Merge(stream.read(), config)
    if config_override:
        text_format.Merge(config_override, config)
    return _configs_from_proto(config)


def _merge_external_params_with_configs(configs, hparams=None, kwargs_dict=None):
    for key, value in (kwargs_dict or {}).items():
        if key == "train_steps" and value:
            configs["train_config"].num_steps = int(value)
    return configs


def _create_pipeline_proto_from_configs(configs):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    config.model.CopyFrom(configs["model"])
    config.train_config.CopyFrom(configs["train_config"])
    config.train_input_reader.CopyFrom(configs["train_input_config"])
    config.eval_config.CopyFrom(configs["eval_config"])
    config.eval_input_reader.extend(configs["eval_input_configs"])
    return config


def _save_pipeline_config(config, directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "pipeline.config"), "w") as stream:
        stream.write(text_format.MessageToString(config))


# ---------------------------------------------------------------- model stand-in

class TinyDetector(tf_keras.Model):
    """A small anchor-grid detector with the DetectionModel interface (for tests only)."""

    GRID = 4

    def __init__(self, num_classes: int, is_training: bool):
        super().__init__(name="tiny_detector")
        self.num_classes = num_classes
        self._is_training = is_training
        self.conv1 = tf_keras.layers.Conv2D(8, 3, strides=2, padding="same", name="FeatureExtractor_conv1")
        self.conv1_bn = tf_keras.layers.BatchNormalization(name="FeatureExtractor_conv1_bn")
        self.conv2 = tf_keras.layers.Conv2D(8, 3, strides=2, padding="same", name="FeatureExtractor_conv2")
        self.pool = tf_keras.layers.AveragePooling2D(IMAGE_SIZE // 4 // self.GRID)
        self.box_head = tf_keras.layers.Conv2D(4, 1, name="BoxEncodingPredictor")
        self.class_head = tf_keras.layers.Conv2D(num_classes + 1, 1, name="ClassPredictor")
        centers = (np.arange(self.GRID) + 0.5) / self.GRID
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        half = 0.5 / self.GRID * 1.5
        self.anchors = tf.constant(np.stack([cy - half, cx - half, cy + half, cx + half], -1).reshape(-1, 4),
                                   tf.float32)
        self._groundtruth = None

    def preprocess(self, inputs):
        images = tf.image.resize(tf.cast(inputs, tf.float32), [IMAGE_SIZE, IMAGE_SIZE])
        shapes = tf.tile(tf.constant([[IMAGE_SIZE, IMAGE_SIZE, 3]], tf.int32), [tf.shape(images)[0], 1])
        return images * (2.0 / 255.0) - 1.0, shapes

    def predict(self, preprocessed_inputs, true_image_shapes):
        features = tf.nn.relu(self.conv1_bn(self.conv1(preprocessed_inputs), training=self._is_training))
        features = self.pool(tf.nn.relu(self.conv2(features)))
        batch = tf.shape(preprocessed_inputs)[0]
        box = tf.reshape(self.box_head(features), [batch, -1, 4])
        cls = tf.reshape(self.class_head(features), [batch, -1, self.num_classes + 1])
        return {"box_encodings": box, "class_predictions_with_background": cls, "preprocessed_inputs":
                preprocessed_inputs}

    def provide_groundtruth(self, groundtruth_boxes_list, groundtruth_classes_list,
                            groundtruth_weights_list=None, **unused):
        self._groundtruth = (groundtruth_boxes_list, groundtruth_classes_list)

    def _decode(self, encodings):
        return self.anchors[None] + 0.1 * encodings

    def loss(self, prediction_dict, true_image_shapes):
        boxes_list, classes_list = self._groundtruth
        decoded = self._decode(prediction_dict["box_encodings"])
        logits = prediction_dict["class_predictions_with_background"]
        localization, classification = [], []
        for i, (boxes, classes) in enumerate(zip(boxes_list, classes_list)):
            ay = (self.anchors[:, 0] + self.anchors[:, 2]) / 2
            ax = (self.anchors[:, 1] + self.anchors[:, 3]) / 2
            by = (boxes[:, 0] + boxes[:, 2]) / 2
            bx = (boxes[:, 1] + boxes[:, 3]) / 2
            distance = tf.square(ay[:, None] - by[None]) + tf.square(ax[:, None] - bx[None])
            nearest = tf.argmin(distance, axis=0)  # anchor per box
            matched = tf.gather(decoded[i], nearest)
            localization.append(tf.reduce_mean(tf.abs(matched - boxes)))
            onehot = tf.concat([tf.zeros_like(classes[:, :1]), classes], axis=1)
            target = tf.tensor_scatter_nd_update(
                tf.concat([tf.ones([self.GRID * self.GRID, 1]), tf.zeros([self.GRID * self.GRID,
                                                                           self.num_classes])], 1),
                nearest[:, None], onehot)
            classification.append(tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits[i])))
        return {"Loss/localization_loss": tf.add_n(localization) / len(localization),
                "Loss/classification_loss": tf.add_n(classification) / len(classification)}

    def postprocess(self, prediction_dict, true_image_shapes):
        boxes = tf.clip_by_value(self._decode(prediction_dict["box_encodings"]), 0.0, 1.0)
        scores = tf.nn.softmax(prediction_dict["class_predictions_with_background"])[..., 1:]
        nms = tf.image.combined_non_max_suppression(boxes[:, :, None], scores, 20, 20, 0.6, 1e-8, clip_boxes=False)
        return {"detection_boxes": nms.nmsed_boxes, "detection_scores": nms.nmsed_scores,
                "detection_classes": nms.nmsed_classes, "num_detections": tf.cast(nms.valid_detections, tf.float32)}

    def regularization_losses(self):
        return [1e-5 * tf.reduce_sum(tf.square(self.box_head.kernel))] if self.box_head.built else []

    def updates(self):
        return []

    def restore_from_objects(self, fine_tune_checkpoint_type="detection"):
        if fine_tune_checkpoint_type in ("classification", "detection"):
            return {"model": tf.train.Checkpoint(conv1=self.conv1, conv1_bn=self.conv1_bn, conv2=self.conv2)}
        return {"model": self}


def _build_model(model_config, is_training):
    meta = getattr(model_config, model_config.WhichOneof("model"))
    return TinyDetector(meta.num_classes, is_training)


# ---------------------------------------------------------------- inputs stand-in

def _parse(record):
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/source_id": tf.io.FixedLenFeature([], tf.string),
            "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
            "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
            "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
            "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
            "image/object/class/label": tf.io.VarLenFeature(tf.int64)}
    parsed = tf.io.parse_single_example(record, spec)
    image = tf.io.decode_png(parsed["image/encoded"], channels=3)
    image.set_shape([IMAGE_SIZE, IMAGE_SIZE, 3])
    boxes = tf.stack([tf.sparse.to_dense(parsed[f"image/object/bbox/{k}"]) for k in ("ymin", "xmin", "ymax", "xmax")],
                     axis=1)
    classes = tf.sparse.to_dense(parsed["image/object/class/label"])
    return image, boxes, classes


def _make_input(input_config, model, num_classes, batch_size, max_boxes, repeat):
    path = input_config.tf_record_input_reader.input_path[0]
    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(path))
    if input_config.sample_1_of_n_examples > 1:
        dataset = dataset.shard(input_config.sample_1_of_n_examples, 0)
    if repeat:
        dataset = dataset.repeat()

    def transform(record):
        image, boxes, classes = _parse(record)
        preprocessed, shapes = model.preprocess(tf.cast(image, tf.float32)[None])
        count = tf.shape(boxes)[0]
        onehot = tf.one_hot(classes - 1, num_classes)
        pad = max_boxes - count
        features = {"image": preprocessed[0], "true_image_shape": shapes[0],
                    "original_image_spatial_shape": tf.constant([IMAGE_SIZE, IMAGE_SIZE], tf.int32),
                    "original_image": image}
        labels = {"groundtruth_boxes": tf.pad(boxes, [[0, pad], [0, 0]]),
                  "groundtruth_classes": tf.pad(onehot, [[0, pad], [0, 0]]),
                  "groundtruth_weights": tf.pad(tf.ones([count]), [[0, pad]]),
                  "num_groundtruth_boxes": count}
        return features, labels

    return dataset.map(transform).batch(batch_size, drop_remainder=repeat)


def _num_classes(model_config):
    return getattr(model_config, model_config.WhichOneof("model")).num_classes


def _train_input(train_config, train_input_config, model_config, model=None):
    model = model or _build_model(model_config, True)
    return _make_input(train_input_config, model, _num_classes(model_config), train_config.batch_size,
                       train_config.max_number_of_boxes or 10, repeat=True)


def _eval_input(eval_config, eval_input_config, model_config, model=None):
    model = model or _build_model(model_config, False)
    return _make_input(eval_input_config, model, _num_classes(model_config), eval_config.batch_size or 1, 10,
                       repeat=False)


# ---------------------------------------------------------------- install

def _stand_in(name: str, **functions) -> None:
    try:
        importlib.import_module(name)
        REAL[name] = True
    except ImportError:
        module = types.ModuleType(name)
        module.__dict__.update(functions)
        module.STAND_IN = True
        sys.modules[name] = module
        parent_name, _, child = name.rpartition(".")
        setattr(importlib.import_module(parent_name), child, module)
        REAL[name] = False


def install() -> dict:
    """Installs stand-ins for the missing modules; returns REAL (module name -> real?)."""
    _stand_in("tfsynth.utils.config_util",
              get_configs_from_pipeline_file=_get_configs_from_pipeline_file,
              merge_external_params_with_configs=_merge_external_params_with_configs,
              create_pipeline_proto_from_configs=_create_pipeline_proto_from_configs,
              save_pipeline_config=_save_pipeline_config)
    _stand_in("tfsynth.builders.model_builder", build=_build_model)
    _stand_in("tfsynth.training.inputs", train_input=_train_input, eval_input=_eval_input)
    return dict(REAL)
