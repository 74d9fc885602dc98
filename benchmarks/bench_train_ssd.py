"""Training speed of SSD MobileNetV2 300x300 (the OD API's ssd_mobilenet_v2_320x320_coco17 sample config, num_classes
3): seconds per step at batch 2 and 8 through tfsynth.training.model_lib.train_loop, beside the OD API's 0.14 s/step.

Data: synthetic 640x480 JPEGs with 1-6 boxes written as OD API TFRecords in a temporary folder; the sample config's
augmentations are kept. Steps after the first `--warmup` (tracing, first batches) are timed; each step's time
includes fetching the next batch and the loss (one synchronisation per step). Median reported.

    python benchmarks/bench_train_ssd.py [--config PATH] [--steps 30] [--warmup 5] [--precision float32]
The last line printed is the batch-2 figure.
"""
from __future__ import annotations

import argparse
import io
import os
import pathlib
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tfsynth.utils.shared_data import SHARED_DATA  # noqa: E402

SAMPLE_CONFIG = str(SHARED_DATA / "odapi_reference/configs_tf2/ssd_mobilenet_v2_320x320_coco17_tpu-8.config")
ODAPI_SECONDS_PER_STEP_BATCH_2 = 0.14
CLASSES = {"cola": 1, "milk": 2, "juice": 3}


def write_records(folder: pathlib.Path, count: int) -> str:
    """`count` synthetic 640x480 JPEG examples; returns the record file."""
    from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
    from tfsynth.data.tfrecord import ShardedTFRecordWriter, annotation_to_example

    rng = np.random.default_rng(0)
    with ShardedTFRecordWriter(str(folder), "train", num_shards=1) as writer:
        for index in range(count):
            pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            objects = []
            for _ in range(rng.integers(1, 7)):
                x0, y0 = rng.uniform(0, 500), rng.uniform(0, 360)
                objects.append(ObjectAnnotation(class_name=str(rng.choice(list(CLASSES))), xmin=x0, ymin=y0,
                                                xmax=x0 + rng.uniform(20, 640 - x0), ymax=y0 + rng.uniform(20, 480 - y0)))
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
            writer.write(annotation_to_example(ImageAnnotation(
                filename=f"{index}.jpg", width=640, height=480, objects=objects, encoded=buffer.getvalue(),
                image_format="jpeg", source_id=str(index)), CLASSES))
    return str(folder / "train-?????-of-00001.tfrecord")


def write_pipeline(config_path: str, folder: pathlib.Path, records: str, batch_size: int) -> str:
    from google.protobuf import text_format
    from tfsynth.protos import pipeline_pb2
    from tfsynth.utils import label_map_util

    config = text_format.Parse(pathlib.Path(config_path).read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    config.model.ssd.num_classes = len(CLASSES)
    config.train_config.batch_size = batch_size
    config.train_config.fine_tune_checkpoint = ""
    label_map = folder / "label_map.pbtxt"
    label_map_util.write_label_map(str(label_map), CLASSES)
    config.train_input_reader.label_map_path = str(label_map)
    del config.train_input_reader.tf_record_input_reader.input_path[:]
    config.train_input_reader.tf_record_input_reader.input_path.append(records)
    path = folder / f"pipeline_b{batch_size}.config"
    path.write_text(text_format.MessageToString(config))
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=SAMPLE_CONFIG)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch_sizes", default="8,2")
    parser.add_argument("--precision", default="float32", choices=["auto", "float32", "mixed_float16"])
    args = parser.parse_args()
    import tensorflow as tf
    from tfsynth.training import model_lib, strategy as strategy_lib

    device = tf.config.list_logical_devices("GPU")
    device_name = "GPU " + tf.config.experimental.get_device_details(
        tf.config.list_physical_devices("GPU")[0]).get("device_name", "") if device else "CPU"
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        records = write_records(folder, 64)
        lines = []
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            pipeline = write_pipeline(args.config, folder, records, batch_size)
            strategy = strategy_lib.build_strategy()
            with strategy.scope():
                result = model_lib.train_loop(pipeline, str(folder / f"model_b{batch_size}"),
                                              train_steps=args.warmup + args.steps, checkpoint_every_n=10 ** 9,
                                              record_summaries=False, strategy=strategy, precision=args.precision)
            timed = result["step_seconds"][args.warmup:]
            seconds = float(np.median(timed))
            lines.append(f"SSD MobileNetV2 300x300 batch {batch_size} ({device_name}, {result['precision']}): "
                         f"{seconds:.3f} s/step (median of {len(timed)}; {batch_size / seconds:.1f} images/s; "
                         f"loss {result['losses']['Loss/total_loss']:.3f}); OD API: "
                         f"{ODAPI_SECONDS_PER_STEP_BATCH_2} s/step at batch 2")
            print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
