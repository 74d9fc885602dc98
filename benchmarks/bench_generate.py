"""End-to-end generation speed: images/s of `python -m tfsynth.generate` at 640x480 with 2 workers.

Usage (from the repo root): python benchmarks/bench_generate.py [--preset fast|default] [--num_images 200]
    [--num_workers 2]
Renders into a temporary folder (render + JPEG + labels + chunk files, then shards/COCO assembly) and prints the
machine load before and after (the render workers share the cores with whatever else runs), render-only and
end-to-end images/s, peak worker memory, then last the end-to-end figure as a ratio to the issue's target
(fast 40 images/s, default 15 images/s, both at 640x480 with 2 workers).
The package is imported from the current directory, so running this file from another checkout (an older
commit, say) measures that checkout: the way to get a before/after pair under the same load.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())  # the checkout being measured, not necessarily this file's

from tfsynth.generate.pipeline import GenerateConfig, run  # noqa: E402

TARGETS = {"fast": 40.0, "default": 15.0}  # images/s, issue 3 item 7


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--num_images", type=int, default=200)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        config = GenerateConfig(output_dir=out, num_images=args.num_images, num_workers=args.num_workers,
                                preset=args.preset, width=args.width, height=args.height, num_shards=2)
        started = time.time()
        manifest = run(config, progress=False)
        seconds = time.time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    images_per_s = args.num_images / seconds
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
          f"{os.cpu_count()} cores")
    print(f"render only: {args.num_images / manifest['render_seconds']:.1f} images/s; "
          f"assembly (shards, COCO JSON) {seconds - manifest['render_seconds']:.1f} s")
    print(f"peak worker RSS: {peak_mb:.0f} MB")
    target = TARGETS.get(args.preset)
    ratio = f", {images_per_s / target:.2f}x the target {target:.0f}" if target else ""
    print(f"{args.preset} preset, {args.width}x{args.height}, {args.num_workers} workers, end to end: "
          f"{images_per_s:.1f} images/s{ratio}")


if __name__ == "__main__":
    main()
