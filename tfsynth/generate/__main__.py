"""python -m tfsynth.generate: render randomized fridge scenes into OD API TFRecords with exact labels.

Example:
  python -m tfsynth.generate --output_dir /tmp/gen --num_images 4000 --num_workers 2
  python -m tfsynth.generate --output_dir /tmp/gen_notex --num_images 4000 --cues=-texture
  python -m tfsynth.generate --output_dir /tmp/gen --num_images 4000 --runner DirectRunner --num_workers 2
"""
from __future__ import annotations

from absl import app, flags

from tfsynth.generate.pipeline import GenerateConfig, run
from tfsynth.generate.sampler import parse_cues, parse_range
from tfsynth.utils import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "Folder for shards, label_map.pbtxt, COCO JSON and manifest.json.")
# Bounds on the counts: absl refuses a bad value while parsing flags, before any rendering.
flags.DEFINE_integer("num_images", 4000, "Training images (split 'train').", lower_bound=1)
flags.DEFINE_integer("validation_images", 0, "Validation images (split 'val', their own seeds).", lower_bound=0)
flags.DEFINE_integer("num_workers", 2, "Render processes (one per core).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Base seed; image i of a split is seeded from (seed, split, i).")
flags.DEFINE_string("catalog", "default", "'default' (procedural, 150 products + 25 distractors) or a YAML file.")
flags.DEFINE_enum("preset", "default", ["fast", "default", "photoreal"],
                  "fast: no shadows, no AA; default: soft shadows + 4x MSAA; photoreal: needs Blender.")
flags.DEFINE_string("cues", "all", "Cues that vary: e.g. 'color,texture,viewpoint,lighting', '-texture' "
                    "(all but texture), 'none'. Off holds a cue at a fixed value.")
flags.DEFINE_string("products_per_image", "4,36", "Labelled products per image: N or MIN,MAX.")
flags.DEFINE_string("distractors", "0,4", "Unlabelled distractors per image: N or MIN,MAX.")
flags.DEFINE_integer("width", 640, "Image width of landscape shots (portrait shots swap width and height).")
flags.DEFINE_integer("height", 480, "Image height of landscape shots.")
flags.DEFINE_integer("num_shards", 10, "TFRecord shards of the train split (shards of another count that an earlier "
                     "run left in --output_dir are removed once the new ones are written).", lower_bound=1)
flags.DEFINE_string("label_map", None, "Existing label_map.pbtxt whose ids to use (default: catalog order).")
flags.DEFINE_float("min_visibility", 0.15, "Objects less visible than this fraction (hidden behind others or cut "
                   "off by the image border) are dropped (or marked difficult, see --low_visibility).")
flags.DEFINE_enum("low_visibility", "drop", ["drop", "difficult"], "What happens to barely visible objects.")
flags.DEFINE_boolean("include_masks", False, "Write instance masks.")
flags.DEFINE_boolean("write_images", False, "Also write the JPEG files under images/<split>/.")
flags.DEFINE_boolean("write_solo", False, "Also write a SOLO dataset per split (solo_<split>/).")
flags.DEFINE_boolean("keep_chunks", False, "Keep the rendered chunks (OUTPUT_DIR/.chunks) after a successful run.")
flags.DEFINE_string("runner", None, "Run generation as an Apache Beam pipeline on this runner (DirectRunner, "
                    "PrismRunner, FlinkRunner, DataflowRunner, ...; needs the beam extra). Default: the local "
                    "process pool. Same records either way.")
flags.DEFINE_string("beam_pipeline_options", None, "Beam options for --runner, 'NAME=VALUE,NAME=VALUE' (e.g. "
                    "'direct_num_workers=4' or 'flink_master=host:8081,environment_type=LOOPBACK'). For the "
                    "DirectRunner, --num_workers worker processes unless these say otherwise.")
flags.mark_flag_as_required("output_dir")


def _run_on_runner(config: GenerateConfig) -> dict:
    """Generation on --runner: the Beam pipeline, imported only here so the local pool never needs apache-beam."""
    import importlib.util
    if importlib.util.find_spec("apache_beam") is None:
        raise ValueError(f"--runner {FLAGS.runner}: needs apache-beam, which is not installed; install it with "
                         "pip install -e '.[beam]'")
    from tfsynth.generate import beam_pipeline
    return beam_pipeline.run(config, FLAGS.runner, FLAGS.beam_pipeline_options, FLAGS["num_workers"].present)


def main(argv: list[str]) -> None:
    """The command: the text flags parsed, then pipeline.run (check_config and the inputs before rendering)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        cues = parse_cues(FLAGS.cues)
        products = parse_range(FLAGS.products_per_image, "products_per_image")
        distractors = parse_range(FLAGS.distractors, "distractors")
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    config = GenerateConfig(
        output_dir=FLAGS.output_dir, num_images=FLAGS.num_images, validation_images=FLAGS.validation_images,
        num_workers=FLAGS.num_workers, seed=FLAGS.seed, catalog=FLAGS.catalog, preset=FLAGS.preset,
        cues=tuple(sorted(cues)), products_per_image=products, distractors=distractors, width=FLAGS.width,
        height=FLAGS.height, num_shards=FLAGS.num_shards, label_map=FLAGS.label_map,
        min_visibility=FLAGS.min_visibility, low_visibility=FLAGS.low_visibility,
        include_masks=FLAGS.include_masks, write_images=FLAGS.write_images, write_solo=FLAGS.write_solo,
        keep_chunks=FLAGS.keep_chunks)
    if FLAGS.beam_pipeline_options and not FLAGS.runner:
        raise app.UsageError("--beam_pipeline_options needs --runner (without it the local pool runs)")
    manifest = _run_on_runner(config) if FLAGS.runner else run(config)
    for split, info in manifest["outputs"].items():
        print(f"{split}: {info['images']} images, {info['objects']} objects -> {config.output_dir}")
    if manifest["removed_stale_outputs"]:
        print(f"removed {len(manifest['removed_stale_outputs'])} outputs of an earlier run that this run did not "
              "overwrite (listed in manifest.json)")


if __name__ == "__main__":
    cli.run(main, "generate")
