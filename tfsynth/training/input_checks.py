"""Checks a run's inputs right after pipeline.config is read, before any model is built or step taken.

- the records of an input reader (tfsynth.data.record_checks against its label map and the model's num_classes):
  a glob that matches nothing, empty, unreadable, cut-short or corrupt shards, records without the OD API keys,
  classes the label map does not know, boxes outside [0, 1] or empty;
- train_config.fine_tune_checkpoint: it must exist (a checkpoint prefix with its .index file, or a folder holding
  a checkpoint) unless the run resumes from its own checkpoints, which take precedence.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import tensorflow as tf

from tfsynth.builders import dataset_builder
from tfsynth.data import record_checks
from tfsynth.training import checkpoints, inputs

logger = logging.getLogger(__name__)

# How a user skips bad records instead of stopping (model_main_tf2's flag; the train_loop / eval_continuously
# argument on_input_error).
SKIP_HINT = "--on_input_error=skip skips and counts such records instead"


class InputCheckError(ValueError):
    """An input named by pipeline.config that cannot work: the message names the config field and the path."""


def check_fine_tune_checkpoint(train_config: Any, model_dir: str) -> Optional[str]:
    """The checkpoint prefix of train_config.fine_tune_checkpoint, or None when unset or unused (model_dir
    already holds a checkpoint to resume from). Raises InputCheckError naming the field and path when missing."""
    path = getattr(train_config, "fine_tune_checkpoint", "")
    if not path or tf.train.latest_checkpoint(model_dir):
        return None
    try:
        return checkpoints.resolve_checkpoint_path(path, "train_config.fine_tune_checkpoint")
    except FileNotFoundError as error:
        raise InputCheckError(str(error)) from None


def check_input_reader(input_config: Any, model_config: Any, config_name: str, on_error: str = "stop",
                       max_records_per_file: Optional[int] = None) -> record_checks.CheckReport:
    """Scans the records of one input_reader (config_name: 'train_input_reader' or 'eval_input_reader').

    on_error 'stop' raises at the first problem (RecordCheckError, naming file and record; ValueError naming the
    field for a glob that matches nothing; InputCheckError for an unreadable label map); 'skip' counts and logs,
    and the report's record_filter() is what the input pipeline must leave out. max_records_per_file bounds the
    content check of each shard (for very large shards; the framing of every file is still walked in full).
    """
    paths = dataset_builder.expand_input_paths(input_config, config_name)
    label_map_path = getattr(input_config, "label_map_path", "")
    try:
        rules = record_checks.ClassRules.from_label_map(label_map_path, bool(input_config.use_display_name),
                                                        inputs.num_classes_of(model_config))
    except (OSError, ValueError) as error:
        raise InputCheckError(f"{config_name}.label_map_path: {error}") from None
    report = record_checks.check_records(paths, rules, on_error, max_records_per_file, skip_hint=SKIP_HINT)
    logger.info("%s checked: %s", config_name, report.summary())
    return report
