"""Time `tfsynth.convert` on the 30 real CNTK fridge photos (1000x1333 JPEG) and print images per second last.

    python benchmarks/convert_throughput.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfsynth.utils import label_map_util  # noqa: F401,E402 - compiles protos before TF loads
from tfsynth import convert as convert_module  # noqa: E402
from tfsynth.utils.shared_data import SHARED_DATA

CNTK_FRIDGE = str(SHARED_DATA / "real/cntk_fridge_us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input_path", default=CNTK_FRIDGE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as warm_up_dir:  # warm-up: TF import, file cache
        convert_module.convert("cntk", args.input_path, warm_up_dir)
    best = float("inf")
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as output_dir:
            start = time.perf_counter()
            summary = convert_module.convert("cntk", args.input_path, output_dir, num_shards=2)
            best = min(best, time.perf_counter() - start)
    print(f"converted {summary.num_images} images, {summary.num_boxes} boxes; best of {args.repeats}: "
          f"{best:.3f} s")
    print(f"convert throughput: {summary.num_images / best:.1f} images/s")


if __name__ == "__main__":
    main()
