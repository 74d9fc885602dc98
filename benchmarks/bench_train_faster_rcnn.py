"""Faster R-CNN ResNet50 (the OD API's faster_rcnn_resnet50_v1_640x640 sample config, 3 classes) training speed
on this machine: seconds per step at batch 2, 640x640. Prints the OD API's figure for comparison and the measured
s/step last.

Two modes:
- default: the model's train step alone (SGD with momentum, in a tf.function, synthetic tensors), after a warm-up;
- --loop: tfsynth's model_main_tf2 training loop (model_lib.train_loop: input pipeline with the config's
  augmentation, step, summaries) on 16 freshly rendered 640x480 fridge scenes, the way the OD API's 7.35 s/step was
  taken; the median step time after the first.

    python -m benchmarks.bench_train_faster_rcnn [--steps 3] [--batch 2] [--loop]
"""
import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA

REPO = pathlib.Path(__file__).resolve().parent.parent
CONFIG = SHARED_DATA / "odapi_reference/golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8/pipeline.config"
OD_API_SECONDS_PER_STEP = 7.35  # the OD API on the same kind of CPU, batch 2, 640x640


def loop_seconds_per_step(steps: int, batch: int) -> float:
    """Median s/step of model_lib.train_loop with the sample config on 16 rendered scenes (8 classes)."""
    from tfsynth.training import model_lib
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench_frcnn_"))
    # Rendering runs in its own process: llvmpipe and TensorFlow must not share one.
    subprocess.run([sys.executable, "-m", "tfsynth.generate", f"--output_dir={folder / 'data'}", "--num_images=16",
                    "--num_workers=2", "--catalog=" + str(REPO / "configs" / "fridge_us_catalog.yaml")],
                   check=True, capture_output=True)
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(CONFIG.read_text(), config)
    config.model.faster_rcnn.num_classes = 8
    config.train_config.batch_size = batch
    config.train_config.ClearField("fine_tune_checkpoint")
    config.train_input_reader.label_map_path = str(folder / "data" / "label_map.pbtxt")
    del config.train_input_reader.tf_record_input_reader.input_path[:]
    config.train_input_reader.tf_record_input_reader.input_path.append(str(folder / "data" / "train-*.tfrecord"))
    pipeline = folder / "pipeline.config"
    pipeline.write_text(text_format.MessageToString(config))
    result = model_lib.train_loop(str(pipeline), str(folder / "model"), train_steps=steps + 1,
                                  checkpoint_every_n=10 ** 6, log_every_n=1)
    return statistics.median(result["step_seconds"][1:])


def print_result(what: str, batch: int, steps: int, seconds_per_step: float) -> None:
    """The OD API's figure, then ours and the ratio (last line)."""
    print(f"OD API reference: {OD_API_SECONDS_PER_STEP} s/step (batch 2, 640x640)")
    print(f"tfsynth faster_rcnn_resnet50 {what}, batch {batch}, 640x640, {steps} steps: {seconds_per_step:.2f} s/step "
          f"= {seconds_per_step / OD_API_SECONDS_PER_STEP:.2f} x the OD API's {OD_API_SECONDS_PER_STEP} s/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--loop", action="store_true", help="time model_main_tf2's training loop on rendered data")
    args = parser.parse_args()
    if args.loop:
        print_result("model_main_tf2 loop", args.batch, args.steps, loop_seconds_per_step(args.steps, args.batch))
        return
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
    print_result("train step", args.batch, args.steps, (time.perf_counter() - start) / args.steps)


if __name__ == "__main__":
    main()
