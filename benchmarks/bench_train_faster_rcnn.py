"""Faster R-CNN ResNet50 (the OD API's faster_rcnn_resnet50_v1_640x640 sample config, 3 classes) training speed
on this machine: seconds per step at batch 2, 640x640, SGD with momentum, in a tf.function, after one warm-up step.
Prints the OD API's figure for comparison and the measured s/step last.

    python -m benchmarks.bench_train_faster_rcnn [--steps 3] [--batch 2]
"""
import argparse
import pathlib
import time

import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2

CONFIG = pathlib.Path("/work/shared/data/odapi_reference/golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8/"
                      "pipeline.config")
OD_API_SECONDS_PER_STEP = 7.35  # the OD API on the same kind of CPU, batch 2, 640x640


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(CONFIG.read_text(), config)
    model = model_builder.build(config.model, is_training=True)
    optimizer = keras.optimizers.SGD(0.001, momentum=0.9)
    images = tf.random.uniform([args.batch, 640, 640, 3], 0, 255, seed=0)
    boxes = [tf.constant([[0.1, 0.1, 0.5, 0.4], [0.3, 0.5, 0.9, 0.9]])] * args.batch
    classes = [tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])] * args.batch

    @tf.function
    def train_step(images):
        model.provide_groundtruth(groundtruth_boxes_list=boxes, groundtruth_classes_list=classes)
        preprocessed, shapes = model.preprocess(images)
        with tf.GradientTape() as tape:
            losses = model.loss(model.predict(preprocessed, shapes), shapes)
            total = tf.add_n(list(losses.values()) + model.regularization_losses())
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return total

    start = time.perf_counter()
    loss = train_step(images)
    print(f"warm-up step (trace + first step): {time.perf_counter() - start:.1f} s, loss {float(loss):.3f}")
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = train_step(images)
    float(loss)
    seconds_per_step = (time.perf_counter() - start) / args.steps
    print(f"OD API reference: {OD_API_SECONDS_PER_STEP} s/step (batch 2, 640x640)")
    print(f"tfsynth faster_rcnn_resnet50 training, batch {args.batch}, 640x640, {args.steps} steps: "
          f"{seconds_per_step:.2f} s/step")


if __name__ == "__main__":
    main()
