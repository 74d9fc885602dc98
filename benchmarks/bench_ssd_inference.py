"""Inference throughput of SSD MobileNetV2 (300x300) and SSDLite MobileNetV2 on this machine's CPU.

Batch 1, one tf.function of preprocess + predict + postprocess (NMS included), random weights (speed does not
depend on them), 480x640 input images. Prints one line per model; the last line is the figure:
"ssd_mobilenet_v2 <x> images/s, ssdlite_mobilenet_v2 <y> images/s".

    python benchmarks/bench_ssd_inference.py [--iterations 30]
"""
import argparse
import pathlib
import sys
import time

import tensorflow as tf
from google.protobuf import text_format

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import tfsynth.protos  # noqa: E402,F401
from tfsynth.builders import model_builder  # noqa: E402
from tfsynth.protos import pipeline_pb2  # noqa: E402
from tfsynth.utils.shared_data import SHARED_DATA

REF = SHARED_DATA / "odapi_reference"
CONFIGS = {
    "ssd_mobilenet_v2": REF / "configs_tf2/ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
    "ssdlite_mobilenet_v2": REF / "configs_tf1/ssdlite_mobilenet_v2_coco.config",
}


def images_per_second(config_path: pathlib.Path, iterations: int) -> float:
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(config_path.read_text(), config)
    model = model_builder.build(config.model, is_training=False)

    @tf.function
    def detect(images):
        preprocessed, shapes = model.preprocess(images)
        return model.postprocess(model.predict(preprocessed, shapes), shapes)

    images = tf.random.uniform([1, 480, 640, 3], 0, 255, seed=0)
    for _ in range(3):  # trace and warm up
        detect(images)["num_detections"].numpy()
    start = time.perf_counter()
    for _ in range(iterations):
        detect(images)["num_detections"].numpy()
    return iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    figures = {}
    for name, path in CONFIGS.items():
        figures[name] = images_per_second(path, args.iterations)
        print(f"{name}: {figures[name]:.1f} images/s ({args.iterations} runs, batch 1, CPU)")
    print(", ".join(f"{name} {value:.1f} images/s" for name, value in figures.items()))


if __name__ == "__main__":
    main()
