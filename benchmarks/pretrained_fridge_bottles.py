"""Count the real fridge photos in which COCO SSDLite finds the water bottle as "bottle" (IoU >= 0.5, score
>= 0.3): the converted TF2 checkpoint of `python -m tfsynth.pretrained --fetch ssdlite_mobilenet_v2_coco` and,
for reference, the TF.js frozen graph it was converted from. Prints per-photo results, the figure last.

  python benchmarks/pretrained_fridge_bottles.py --model_dir pretrained/ssdlite_mobilenet_v2_coco \
      [--model_json path/to/model.json] [--photos ../shared/data/real/cntk_fridge_us]
"""
from __future__ import annotations

import argparse
import pathlib
import time

import tensorflow as tf

from tfsynth.pretrained import bottle_check, ssdlite_convert
from tfsynth.pretrained.tfjs_graph import TfjsGraph
from tfsynth.utils.shared_data import SHARED_DATA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="folder with pipeline.config and checkpoint/")
    parser.add_argument("--model_json", help="TF.js model.json: also run the reference graph")
    parser.add_argument("--photos", default=str(SHARED_DATA / "real/cntk_fridge_us"))
    args = parser.parse_args()
    model_dir = pathlib.Path(args.model_dir)
    model = ssdlite_convert.build_model(model_dir / "pipeline.config")
    tf.train.Checkpoint(model=model).restore(str(model_dir / "checkpoint" / "ckpt-0")).assert_existing_objects_matched()
    started = time.time()
    ours = bottle_check.check_photos(bottle_check.detection_model_detector(model), args.photos)
    seconds = time.time() - started
    reference = None
    if args.model_json:
        reference = bottle_check.check_photos(bottle_check.tfjs_graph_detector(TfjsGraph(args.model_json)),
                                              args.photos)
    for index, result in enumerate(ours):
        line = f"{result.filename}\thit={result.hit}\tiou={result.best_iou:.3f}\tscore={result.best_score:.3f}"
        if reference:
            line += f"\ttfjs_hit={reference[index].hit}\ttfjs_score={reference[index].best_score:.3f}"
        print(line)
    print(f"seconds per photo (ours): {seconds / max(1, len(ours)):.2f}")
    if reference:
        print(f"TF.js graph bottle hits: {sum(r.hit for r in reference)}/{len(reference)}")
    print(f"converted model bottle hits: {sum(r.hit for r in ours)}/{len(ours)}")


if __name__ == "__main__":
    main()
