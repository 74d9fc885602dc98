"""End-to-end generation speed: images/s of `python -m tfsynth.generate` at 640x480 with 2 workers.

Usage: python benchmarks/bench_generate.py [--preset fast|default] [--num_images 200] [--num_workers 2]
Renders into a temporary folder (render + JPEG + labels + chunk files, then shards/COCO assembly) and prints
peak worker memory, then the images/s figure last.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

from tfsynth.generate.pipeline import GenerateConfig, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--num_images", type=int, default=200)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        config = GenerateConfig(output_dir=out, num_images=args.num_images, num_workers=args.num_workers,
                                preset=args.preset, width=args.width, height=args.height, num_shards=2)
        started = time.time()
        manifest = run(config, progress=False)
        seconds = time.time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"render only: {args.num_images / manifest['render_seconds']:.1f} images/s")
    print(f"peak worker RSS: {peak_mb:.0f} MB")
    print(f"{args.preset} preset, {args.width}x{args.height}, {args.num_workers} workers, end to end: "
          f"{args.num_images / seconds:.1f} images/s")


if __name__ == "__main__":
    main()
