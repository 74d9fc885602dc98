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

flags.DEFINE_string("input_type", "image_tensor", "Type of input node. Can be one of [`image_tensor`, "
                    "`encoded_image_string_tensor`, `tf_example`, `float_image_tensor`]")
flags.DEFINE_string("pipeline_config_path", None, "Path to a pipeline_pb2.TrainEvalPipelineConfig config file.")
flags.DEFINE_string("trained_checkpoint_dir", None, "Path to trained checkpoint directory")
flags.DEFINE_string("output_directory", None, "Path to write outputs.")
flags.DEFINE_string("config_override", "", "pipeline_pb2.TrainEvalPipelineConfig text proto to override "
                    "pipeline_config_path.")
flags.DEFINE_boolean("use_side_inputs", False, "If True, uses side inputs as well as image inputs (unsupported).")
flags.mark_flag_as_required("pipeline_config_path")
flags.mark_flag_as_required("trained_checkpoint_dir")
flags.mark_flag_as_required("output_directory")
FLAGS = flags.FLAGS


def main(unused_argv) -> None:
    logging.getLogger().setLevel(logging.INFO)
    from tfsynth.export import saved_model
    from tfsynth.training import model_lib
    configs = model_lib.load_configs(FLAGS.pipeline_config_path, FLAGS.config_override or None)
    saved_model.export_inference_graph(FLAGS.input_type, configs, FLAGS.trained_checkpoint_dir,
                                       FLAGS.output_directory, FLAGS.use_side_inputs)


def run() -> None:
    """Entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
