r"""Exports an SSD model to TFLite (the OD API's export_tflite_graph_tf2 plus the conversion).

  python -m tfsynth.export_tflite --pipeline_config_path path/pipeline.config \
      --trained_checkpoint_dir path/model_dir --output_directory path/tflite
writes output_directory/model.tflite and output_directory/saved_model.
"""
from __future__ import annotations

import logging
import os
import sys

if __package__ in (None, ""):  # run as a script (python tfsynth/NAME.py): import from the repository root, and
    # not from tfsynth/, whose inspect.py would shadow the standard library's
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

flags.DEFINE_string("pipeline_config_path", None, "Path to a pipeline_pb2.TrainEvalPipelineConfig config file.")
flags.DEFINE_string("trained_checkpoint_dir", None, "Path to trained checkpoint directory")
flags.DEFINE_string("output_directory", None, "Path to write outputs.")
flags.DEFINE_string("config_override", "", "pipeline_pb2.TrainEvalPipelineConfig text proto to override "
                    "pipeline_config_path.")
flags.mark_flag_as_required("pipeline_config_path")
flags.mark_flag_as_required("trained_checkpoint_dir")
flags.mark_flag_as_required("output_directory")
FLAGS = flags.FLAGS


def main(unused_argv) -> None:
    logging.getLogger().setLevel(logging.INFO)
    from tfsynth.export import tflite
    from tfsynth.training import model_lib
    configs = model_lib.load_configs(FLAGS.pipeline_config_path, FLAGS.config_override or None)
    print(tflite.export_tflite(configs, FLAGS.trained_checkpoint_dir, FLAGS.output_directory))


def run() -> None:
    """Entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
