r"""Exports an SSD or CenterNet model to TFLite (the OD API's export_tflite_graph_tf2 plus the conversion).

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

from absl import flags

import tfsynth.export
from tfsynth.export import check_common_flags, define_common_flags, load_export_configs
from tfsynth.utils import cli

define_common_flags()
flags.adopt_module_key_flags(tfsynth.export)  # so that --help lists them
FLAGS = flags.FLAGS


def main(unused_argv) -> None:
    """Exports the checkpoint to TFLite (flags checked before the model is built)."""
    check_common_flags()
    logging.getLogger().setLevel(logging.INFO)
    from tfsynth.export import tflite
    configs = load_export_configs()
    print(tflite.export_tflite(configs, FLAGS.trained_checkpoint_dir, FLAGS.output_directory))


def run() -> None:
    """Entry point: errors end as one line (tfsynth.utils.cli)."""
    cli.run(main, "export_tflite")


if __name__ == "__main__":
    run()
