"""End-to-end generation speed: images/s of `python -m tfsynth.generate` at 640x480 with 2 workers, and where a
worker's milliseconds go.

Usage (from the repo root): python benchmarks/bench_generate.py [--preset fast|default] [--num_images 200]
    [--num_workers 2] [--profile_images 30]
Renders into a temporary folder (render + JPEG + labels + chunk files, then shards/COCO assembly) and prints the
machine load before and after (the render workers share the cores with whatever else runs), render-only and
end-to-end images/s, the main process's and the workers' peak memory, then the per-image breakdown of one worker
(`pipeline.profile_worker_stages`, run in this process after the timed run: scene sampling, each GL pass, label
extraction, JPEG encoding, chunk encoding; the main side's assembly, i.e. chunk decoding and record and COCO
writing, per image from the timed run), then last the end-to-end figure as a ratio to issue 17's target (fast 60
images/s, default 20 images/s, both at 640x480 with 2 workers on an idle 2-core machine).
The package is imported from the current directory, so running this file from another checkout (an older
commit, say) measures that checkout: the way to get a before/after pair under the same load.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())  # the checkout being measured, not necessarily this file's

from tfsynth.generate.pipeline import GenerateConfig, profile_worker_stages, run  # noqa: E402

TARGETS = {"fast": 60.0, "default": 20.0}  # images/s, issue 17 item 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--num_images", type=int, default=200)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--profile_images", type=int, default=30,
                        help="Images rendered in this process for the per-stage breakdown (0: none).")
    args = parser.parse_args()
    if args.profile_images < 0:
        parser.error(f"--profile_images {args.profile_images}: expected 0 (no breakdown) or more images")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        config = GenerateConfig(output_dir=out, num_images=args.num_images, num_workers=args.num_workers,
                                preset=args.preset, width=args.width, height=args.height, num_shards=2)
        started = time.time()
        manifest = run(config, progress=False)
        seconds = time.time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    main_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assembly_seconds = seconds - manifest["render_seconds"]
    images_per_s = args.num_images / seconds
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
          f"{os.cpu_count()} cores")
    print(f"render only: {args.num_images / manifest['render_seconds']:.1f} images/s; "
          f"outside rendering (checks, shards, COCO JSON) {assembly_seconds:.1f} s")
    print(f"peak RSS: main process {main_peak_mb:.0f} MB, workers {peak_mb:.0f} MB")
    if args.profile_images:
        with tempfile.TemporaryDirectory() as out:
            config = GenerateConfig(output_dir=out, num_images=args.profile_images, preset=args.preset,
                                    width=args.width, height=args.height)
            # In a spawned process, as a render worker: a GL context made in a process that holds TensorFlow's LLVM
            # crashes, and a checkout measured from before records were written without TensorFlow loads it here.
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                stages = pool.apply(profile_worker_stages, (config, args.profile_images))
        print(f"one worker, ms per image ({args.profile_images} images, {args.preset} preset):")
        for name, milliseconds in stages.items():
            print(f"  {name:24s} {milliseconds:7.2f}")
        worker_total = sum(v for k, v in stages.items() if not k.startswith("render/"))
        print(f"  {'worker total':24s} {worker_total:7.2f}  ({1000.0 / worker_total:.1f} images/s per worker)")
        print(f"  {'main: outside rendering':24s} {assembly_seconds / args.num_images * 1000:7.2f}  (checks, chunk "
              f"decoding, records, COCO JSON)")
    target = TARGETS.get(args.preset)
    ratio = f", {images_per_s / target:.2f}x the target {target:.0f}" if target else ""
    print(f"{args.preset} preset, {args.width}x{args.height}, {args.num_workers} workers, end to end: "
          f"{images_per_s:.1f} images/s{ratio}")


if __name__ == "__main__":
    main()
