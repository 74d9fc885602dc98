"""Input pipeline throughput: images/s of tfsynth.training.inputs.train_input at batch 2 and 8.

Config: the OD API's ssd_mobilenet_v2_320x320 sample pipeline.config with a 300x300 fixed_shape_resizer and
num_classes 3, keeping its augmentations (random_horizontal_flip, ssd_random_crop). Data: a small synthetic
set of 640x480 JPEGs with 1-6 boxes, written with tfsynth.data.tfrecord into a temporary folder. No model:
images are only resized, so this measures read + decode + augment + resize + pad + batch.

    python benchmarks/bench_input_pipeline.py [--images 64] [--batches 40]
Prints one line per batch size; the last line is the batch-8 figure.
"""
from __future__ import annotations

import argparse
import io
import pathlib
import tempfile
import time

import sys

import numpy as np
from PIL import Image

# Run from the repository root without installing: make the checkout importable.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tfsynth.utils.shared_data import SHARED_DATA  # noqa: E402

SAMPLE_CONFIG = str(SHARED_DATA / "odapi_reference/configs_tf2/ssd_mobilenet_v2_320x320_coco17_tpu-8.config")
CLASSES = {"cola": 1, "milk": 2, "juice": 3}


def write_dataset(folder: pathlib.Path, count: int, seed: int = 0) -> str:
    """`count` annotated 640x480 JPEGs in 2 shards; returns the glob matching them."""
    from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
    from tfsynth.data.tfrecord import ShardedTFRecordWriter, annotation_to_example

    rng = np.random.default_rng(seed)
    with ShardedTFRecordWriter(str(folder), "bench", num_shards=2) as writer:
        for index in range(count):
            pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            objects = []
            for _ in range(rng.integers(1, 7)):
                x0, y0 = rng.uniform(0, 500), rng.uniform(0, 360)
                w, h = rng.uniform(20, 640 - x0), rng.uniform(20, 480 - y0)
                objects.append(ObjectAnnotation(class_name=str(rng.choice(list(CLASSES))),
                                                xmin=x0, ymin=y0, xmax=x0 + w, ymax=y0 + h))
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
            annotation = ImageAnnotation(filename=f"bench_{index}.jpg", width=640, height=480, objects=objects,
                                         encoded=buffer.getvalue(), image_format="jpeg",
                                         source_id=str(index))
            writer.write(annotation_to_example(annotation, CLASSES))
    return str(folder / "bench-?????-of-00002.tfrecord")


def load_config(input_glob: str):
    from google.protobuf import text_format
    from tfsynth.protos import pipeline_pb2

    config = text_format.Parse(pathlib.Path(SAMPLE_CONFIG).read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    config.model.ssd.num_classes = len(CLASSES)
    config.model.ssd.image_resizer.fixed_shape_resizer.height = 300
    config.model.ssd.image_resizer.fixed_shape_resizer.width = 300
    del config.train_input_reader.tf_record_input_reader.input_path[:]
    config.train_input_reader.tf_record_input_reader.input_path.append(input_glob)
    config.train_input_reader.label_map_path = ""
    config.train_input_reader.shuffle_buffer_size = 64
    return config


def images_per_second(config, batch_size: int, batches: int, warmup: int = 5) -> float:
    from tfsynth.training import inputs

    dataset = inputs.train_input(config.train_config, config.train_input_reader, config.model,
                                 batch_size=batch_size)
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        features, _ = next(iterator)
    features["image"].numpy()
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_dataset(pathlib.Path(folder), args.images))
        augmentations = [s.WhichOneof("preprocessing_step") for s in config.train_config.data_augmentation_options]
        print(f"augmentations: {augmentations}; {args.images} images 640x480 -> 300x300")
        for batch_size in (2, 8):
            rate = images_per_second(config, batch_size, args.batches)
            print(f"train_input batch {batch_size}: {rate:.1f} images/s")


if __name__ == "__main__":
    main()
