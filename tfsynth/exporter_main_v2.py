r"""Exports a trained detection model as a SavedModel (the OD API's exporter_main_v2 command).

  python -m tfsynth.exporter_main_v2 --input_type image_tensor --pipeline_config_path path/pipeline.config \
      --trained_checkpoint_dir path/model_dir --output_directory path/exported

writes output_directory/saved_model, output_directory/checkpoint and output_directory/pipeline.config, the layout
of the TF2 Detection Zoo tarballs.
"""
from __future__ import annotations

import logging
import os
import sys

if __package__ in (None, ""):  # run as a script (python tfsynth/NAME.py): import from the repository root, and
    # not from tfsynth/, whose inspect.py would shadow the standard library's
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

import tfsynth.export
from tfsynth.export import INPUT_TYPES, check_common_flags, define_common_flags, load_export_configs
from tfsynth.utils import cli

# An enum, so that a misspelt type is refused while flags are parsed rather than after the model is built.
flags.DEFINE_enum("input_type", "image_tensor", list(INPUT_TYPES), "Type of input node.")
flags.DEFINE_boolean("use_side_inputs", False, "If True, uses side inputs as well as image inputs (unsupported).")
define_common_flags()
flags.adopt_module_key_flags(tfsynth.export)  # so that --help lists them
FLAGS = flags.FLAGS


def main(unused_argv) -> None:
    """Exports the checkpoint (flags checked before the model is built)."""
    check_common_flags()
    if FLAGS.use_side_inputs:
        raise app.UsageError("--use_side_inputs is not supported")
    logging.getLogger().setLevel(logging.INFO)
    from tfsynth.export import saved_model
    configs = load_export_configs()
    saved_model.export_inference_graph(FLAGS.input_type, configs, FLAGS.trained_checkpoint_dir,
                                       FLAGS.output_directory, FLAGS.use_side_inputs)


def run() -> None:
    """Entry point: errors end as one line (tfsynth.utils.cli)."""
    cli.run(main, "exporter_main_v2")


if __name__ == "__main__":
    run()
