"""Images/s of generation on Beam's DirectRunner (2 worker processes) beside the local pool (2 render processes), in
one run, for the fast and default presets; the ratio Beam / pool (issue 13's goal: 0.8 or more on one machine).

Usage (from the repo root, with the beam extra installed):
    python benchmarks/beam_vs_pool.py [--num_images 120] [--presets fast,default] [--width 640 --height 480]
Both runs render the same images (same seed and flags) into temporary folders and are timed end to end: rendering,
records, COCO JSON, manifest, and for Beam its workers' start (a fixed cost of some seconds: on few images it
weighs more). The pool and Beam alternate per preset so that a change in the machine's load hits both. Prints the
load average before and after each pair, then per preset both figures and the ratio, the last line the lowest ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())  # the checkout being measured, not necessarily this file's

from tfsynth.generate import beam_pipeline, pipeline  # noqa: E402

BEAM_OPTIONS = "direct_running_mode=multi_processing,direct_num_workers=2"


def _images_per_s(config: pipeline.GenerateConfig, beam: bool) -> float:
    started = time.time()
    if beam:
        beam_pipeline.run(config, "DirectRunner", BEAM_OPTIONS)
    else:
        pipeline.run(config, progress=False)
    return (config.num_images + config.validation_images) / (time.time() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_images", type=int, default=120)
    parser.add_argument("--presets", default="fast,default")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    ratios = []
    for preset in args.presets.split(","):
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as out:
            # 4 train shards: 2 per Beam worker, as the pool's 2 processes share its chunks.
            config = dict(num_images=args.num_images, num_workers=2, preset=preset, width=args.width,
                          height=args.height, num_shards=4)
            pool = _images_per_s(pipeline.GenerateConfig(output_dir=os.path.join(out, "pool"), **config), False)
            beam = _images_per_s(pipeline.GenerateConfig(output_dir=os.path.join(out, "beam"), **config), True)
        ratios.append(beam / pool)
        print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
              f"{os.cpu_count()} cores", flush=True)
        print(f"{preset} preset, {args.width}x{args.height}, {args.num_images} images: pool (2 processes) "
              f"{pool:.2f} images/s, Beam DirectRunner (2 workers) {beam:.2f} images/s, ratio {beam / pool:.2f}",
              flush=True)
    print(f"Beam / pool, lowest over presets {args.presets}: {min(ratios):.2f} (goal 0.8 or more)")


if __name__ == "__main__":
    main()
