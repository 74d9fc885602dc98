"""SSD MobileNetV1 FPN and ResNet50/101/152 V1 FPN sample configs at their own image size: one training step
(loss + gradients, batch norm in training mode) and inference throughput of predict() at batch 1.

    python benchmarks/bench_ssd_extractors.py [--size N] [--iterations K] [--configs NAME ...]

--size overrides the configs' fixed_shape_resizer (e.g. 160 for a quick CPU run). Prints one line per config
and, last, the images/s of the first config.
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import tfsynth.protos  # noqa: E402,F401
from tfsynth.builders import model_builder  # noqa: E402
from tfsynth.protos import pipeline_pb2  # noqa: E402
from tfsynth.utils.shared_data import SHARED_DATA

REF = SHARED_DATA / "odapi_reference"

CONFIGS = ["ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8.config", "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config",
           "ssd_resnet101_v1_fpn_640x640_coco17_tpu-8.config", "ssd_resnet152_v1_fpn_1024x1024_coco17_tpu-8.config"]


def load_model_config(path: pathlib.Path, size=None, num_classes: int = 3):
    """The sample config's model with num_classes and, when size is given, a size x size fixed_shape_resizer."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(path.read_text(), config)
    config.model.ssd.num_classes = num_classes
    if size:
        config.model.ssd.image_resizer.fixed_shape_resizer.height = size
        config.model.ssd.image_resizer.fixed_shape_resizer.width = size
    return config.model


def train_step(config_path: pathlib.Path, size) -> float:
    model = model_builder.build(load_model_config(config_path, size=size), is_training=True)
    images = tf.random.uniform([2, 300, 400, 3], 0, 255, seed=3)
    preprocessed, shapes = model.preprocess(images)
    model.provide_groundtruth([tf.constant([[0.1, 0.1, 0.5, 0.6]]), tf.constant([[0.3, 0.4, 0.9, 0.8]])],
                              [tf.constant([[1.0, 0.0, 0.0]]), tf.constant([[0.0, 0.0, 1.0]])])
    with tf.GradientTape() as tape:
        losses = model.loss(model.predict(preprocessed, shapes), shapes)
        total = tf.add_n(list(losses.values()))
    gradients = tape.gradient(total, model.trainable_variables)
    missing = [v.name for v, g in zip(model.trainable_variables, gradients) if g is None]
    if missing or not np.isfinite(total.numpy()):
        raise RuntimeError(f"{config_path.name}: loss {total.numpy()}, variables without gradient: {missing[:5]}")
    return float(total.numpy())


def inference_rate(config_path: pathlib.Path, size, iterations: int) -> float:
    model = model_builder.build(load_model_config(config_path, size=size), is_training=False)

    @tf.function
    def detect(images):
        preprocessed, shapes = model.preprocess(images)
        return model.postprocess(model.predict(preprocessed, shapes), shapes)

    images = tf.random.uniform([1, 480, 640, 3], 0, 255, seed=4)
    detections = detect(images)  # trace and warm up
    detections["detection_boxes"].numpy()
    start = time.perf_counter()
    for _ in range(iterations):
        detections = detect(images)
    detections["detection_boxes"].numpy()
    return iterations / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=0, help="override fixed_shape_resizer (0: the config's)")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    parser.add_argument("--config_dir", default=str(REF / "configs_tf2"), help="folder of the sample configs")
    args = parser.parse_args()
    print(f"devices: {[d.name for d in tf.config.list_logical_devices()]}")
    rates = []
    for config_name in args.configs:
        keras.backend.clear_session()
        config_path = pathlib.Path(args.config_dir) / config_name
        loss = train_step(config_path, args.size or None)
        keras.backend.clear_session()
        rate = inference_rate(config_path, args.size or None, args.iterations)
        rates.append(rate)
        print(f"{config_name}: train-step loss {loss:.3f}; inference {rate:.1f} images/s (batch 1)")
    print(f"{rates[0]:.1f} images/s ({args.configs[0]})")


if __name__ == "__main__":
    main()
