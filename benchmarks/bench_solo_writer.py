"""SOLO writer throughput: 640x480 JPEG images with 15 masked objects each; prints images per second last.

    python benchmarks/bench_solo_writer.py
"""
from __future__ import annotations

import io
import pathlib
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
from tfsynth.generate.solo_writer import write_solo

WIDTH, HEIGHT, OBJECTS, IMAGES = 640, 480, 15, 40


def _images(rng: np.random.Generator):
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    encoded = buffer.getvalue()
    for index in range(IMAGES):
        objects = []
        for number in range(OBJECTS):  # a 5x3 grid of non-overlapping boxes
            x0, y0 = (number % 5) * 128 + 4, (number // 5) * 160 + 4
            mask = np.zeros((HEIGHT, WIDTH), np.uint8)
            mask[y0:y0 + 100, x0:x0 + 90] = 1
            objects.append(ObjectAnnotation(class_name=f"c{number % 8}", xmin=x0, ymin=y0, xmax=x0 + 90,
                                            ymax=y0 + 100, mask=mask))
        yield ImageAnnotation(filename=f"{index}.jpg", width=WIDTH, height=HEIGHT, objects=objects, encoded=encoded)


def main() -> None:
    name_to_id = {f"c{i}": i + 1 for i in range(8)}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        summary = write_solo(f"{folder}/solo", _images(np.random.default_rng(0)), name_to_id)
        seconds = time.perf_counter() - started
    print(f"{summary.frames} images, {summary.objects} masked objects, {WIDTH}x{HEIGHT}: {seconds:.2f} s")
    print(f"solo_writer images/s: {summary.frames / seconds:.1f}")


if __name__ == "__main__":
    main()
