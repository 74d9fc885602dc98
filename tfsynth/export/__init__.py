"""Exporting a trained detection model: SavedModel in the TF2 Detection Zoo layout, and TFLite for SSD."""


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


def load_export_configs() -> dict:
    """The configs named by the common flags (after flags are parsed)."""
    from absl import flags
    from tfsynth.training import model_lib
    return model_lib.load_configs(flags.FLAGS.pipeline_config_path, flags.FLAGS.config_override or None)
