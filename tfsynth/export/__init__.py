"""Exporting a trained detection model: SavedModel in the TF2 Detection Zoo layout, and TFLite for SSD.

This module holds what the export commands share and needs no TensorFlow: their flags and the checks made before a
model is built.
"""
import os

# The OD API's input types of the serving signature (exporter_main_v2 --input_type).
INPUT_TYPES = ("image_tensor", "encoded_image_string_tensor", "tf_example", "float_image_tensor")


def define_common_flags() -> None:
    """The flags every export command shares (the OD API's names), the three paths required."""
    from absl import flags
    flags.DEFINE_string("pipeline_config_path", None, "Path to a pipeline_pb2.TrainEvalPipelineConfig config file.")
    flags.DEFINE_string("trained_checkpoint_dir", None, "Path to trained checkpoint directory")
    flags.DEFINE_string("output_directory", None, "Path to write outputs.")
    flags.DEFINE_string("config_override", "", "pipeline_pb2.TrainEvalPipelineConfig text proto to override "
                        "pipeline_config_path.")
    for name in ("pipeline_config_path", "trained_checkpoint_dir", "output_directory"):
        flags.mark_flag_as_required(name)


def check_common_flags() -> None:
    """The cheap checks of the common flags, before TensorFlow starts and the model is built: the config file and
    the checkpoint exist, the output folder can be written."""
    from absl import flags
    from tfsynth.utils.preflight import check_input_file, check_output_dir
    values = flags.FLAGS
    check_input_file(values.pipeline_config_path, "--pipeline_config_path")
    checkpoint = values.trained_checkpoint_dir
    if "://" not in checkpoint and not (os.path.isdir(checkpoint) or os.path.exists(checkpoint + ".index")):
        raise FileNotFoundError(f"--trained_checkpoint_dir {checkpoint}: no such folder (nor checkpoint prefix "
                                "with a .index file)")
    check_output_dir(values.output_directory, "--output_directory")


def load_export_configs() -> dict:
    """The configs named by the common flags (after flags are parsed)."""
    from absl import flags
    from tfsynth.training import model_lib  # here, not above: model_lib loads TensorFlow (see the docstring)
    return model_lib.load_configs(flags.FLAGS.pipeline_config_path, flags.FLAGS.config_override or None)
