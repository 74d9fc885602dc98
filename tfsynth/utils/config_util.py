"""The OD API's config_util, by name: what scripts written for the OD API call (`config_util.get_configs_...`).

The work is done in three modules of one job each, which tfsynth's own code imports directly:

  * config_io: read, split, assemble and write pipeline.config; ConfigError; what a config's parts hold
    (num_classes, image size, optimizer);
  * config_overrides: key=value overrides (merge_external_params_with_configs, parse_override_strings);
  * config_checks: whether a parsed config can be used (check_pipeline_config).

This module holds no code. It imports the other three's names rather than being the reading module itself
because the reading module cannot re-export merge_external_params_with_configs: config_overrides imports
config_io, so the reverse import would close a cycle. From config_overrides and config_checks it takes only what
the OD API's own config_util offers; from config_io, every public name this module held before the split (its
error class, file name and text helpers included), so that code importing them from here keeps working.
"""
from __future__ import annotations

from tfsynth.utils.config_io import (
    PIPELINE_CONFIG_NAME,
    ConfigDict,
    ConfigError,
    create_configs_from_pipeline_proto,
    create_pipeline_proto_from_configs,
    get_configs_from_multiple_files,
    get_configs_from_pipeline_file,
    get_image_resizer_config,
    get_learning_rate_type,
    get_number_of_classes,
    get_optimizer_type,
    get_spatial_image_size,
    parse_pipeline_text,
    pipeline_config_to_text,
    read_pipeline_proto,
    save_pipeline_config,
    update_fine_tune_checkpoint_type,
)
from tfsynth.utils.config_overrides import merge_external_params_with_configs

__all__ = [
    # The OD API's public functions that tfsynth implements.
    "create_configs_from_pipeline_proto",
    "create_pipeline_proto_from_configs",
    "get_configs_from_multiple_files",
    "get_configs_from_pipeline_file",
    "get_image_resizer_config",
    "get_learning_rate_type",
    "get_number_of_classes",
    "get_optimizer_type",
    "get_spatial_image_size",
    "merge_external_params_with_configs",
    "save_pipeline_config",
    "update_fine_tune_checkpoint_type",
    # tfsynth's reading and writing names, importable from here as before the split.
    "PIPELINE_CONFIG_NAME",
    "ConfigDict",
    "ConfigError",
    "parse_pipeline_text",
    "pipeline_config_to_text",
    "read_pipeline_proto",
]
