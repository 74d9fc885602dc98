"""Checks a run's inputs right after pipeline.config is read, before any model is built or step taken.

- the records of an input reader (tfsynth.data.record_checks against its label map and the model's num_classes):
  a glob that matches nothing, empty, unreadable, cut-short or corrupt shards, records without the OD API keys,
  classes the label map does not know, boxes outside [0, 1] or empty; of a tfds_input_reader, only that its
  dataset is prepared, has the split and only classes of the label map (TFDS wrote the records);
- train_config.fine_tune_checkpoint: it must exist (a checkpoint prefix with its .index file, or a folder holding
  a checkpoint) unless the run resumes from its own checkpoints, which take precedence;
- the fields of train_config, eval_config and the input readers (check_config_fields, first of all): one that
  tfsynth ignores and that would change what is trained or scored is refused (builders/pipeline_fields.py), and
  eval_config.metrics_set must name metrics tfsynth computes.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import tensorflow as tf

from tfsynth.builders import dataset_builder, pipeline_fields
from tfsynth.data import record_checks
from tfsynth.eval import evaluator
from tfsynth.training import checkpoints, inputs

logger = logging.getLogger(__name__)

# How a user skips bad records instead of stopping (model_main_tf2's flag; the train_loop / eval_continuously
# argument on_input_error).
SKIP_HINT = "--on_input_error=skip skips and counts such records instead"


class InputCheckError(ValueError):
    """An input named by pipeline.config that cannot work: the message names the config field and the path."""


def _eval_reader_name(configs: dict, eval_index: int) -> str:
    """How an eval input reader is named in errors: eval_input_reader, or eval_input_reader[i] among several."""
    return "eval_input_reader" if len(configs.get("eval_input_configs") or []) <= 1 else \
        f"eval_input_reader[{eval_index}]"


def check_config_fields(configs: dict, source: str = "", train: bool = True, evaluate: bool = False,
                        eval_index: int = 0, eval_on_train_data: bool = False) -> None:
    """Refuses, before anything is read or built, a field of the messages a run reads that tfsynth would ignore
    although it changes what is trained or scored (UnsupportedConfigError `SOURCE: MESSAGE.FIELD = VALUE: ...`).

    train: train_config and train_input_reader (batches of a fixed size). evaluate: eval_config, its metrics_set,
    and the reader evaluated: eval_input_reader[eval_index], or train_input_reader with eval_on_train_data.
    source: the pipeline.config path the errors start with.
    """
    prefix = f"{source}: " if source else ""
    if train:
        pipeline_fields.check_train_config(configs["train_config"], f"{prefix}train_config")
        pipeline_fields.check_input_reader(configs["train_input_config"], f"{prefix}train_input_reader",
                                           drop_remainder=True)
    if evaluate:
        pipeline_fields.check_eval_config(configs["eval_config"], f"{prefix}eval_config")
        try:
            evaluator.metric_names(configs["eval_config"])
        except ValueError as error:
            raise ValueError(f"{prefix}{error}") from None
        if eval_on_train_data:
            reader, name = configs["train_input_config"], "train_input_reader"
        else:
            readers = list(configs.get("eval_input_configs") or [])
            if eval_index >= len(readers):
                return  # no such reader: model_lib says so where it picks the reader
            reader, name = readers[eval_index], _eval_reader_name(configs, eval_index)
        pipeline_fields.check_input_reader(reader, f"{prefix}{name}", drop_remainder=False)


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


def _tfds_report(input_config: Any, model_config: Any, config_name: str) -> record_checks.CheckReport:
    """The report of a tfds_input_reader: its dataset prepared, its split there, its classes in the label map
    with ids the model has (ValueError or InputCheckError naming the field otherwise); records not scanned.
    `tfds build` wrote them from tfsynth's own features and counted them per shard, and TFRecord's checksums are
    verified as they are read; record_checks knows the OD API's layout only."""
    reader = input_config.tfds_input_reader
    builder, paths = dataset_builder.tfds_split(input_config, config_name)
    features = builder.info.features
    class_ids = dataset_builder.tfds_class_ids(features, input_config, config_name)
    num_classes = inputs.num_classes_of(model_config)
    beyond = [(name, class_id) for name, class_id in zip(features["objects"]["label"].names, class_ids)
              if not 1 <= class_id <= num_classes]
    if beyond:
        name, class_id = beyond[0]
        raise InputCheckError(f"{config_name}.label_map_path: class {name!r} of {reader.name} has id {class_id} in "
                              f"{input_config.label_map_path}; expected ids 1..{num_classes} (the model's "
                              f"num_classes; {len(beyond)} of the dataset's classes are outside)")
    report = record_checks.CheckReport(files=paths, num_records=int(builder.info.splits[reader.split].num_examples))
    if not report.num_records:
        raise InputCheckError(f"{config_name}.tfds_input_reader.split: {reader.split!r} of {reader.name} has no "
                              "examples; expected at least one")
    logger.info("%s: TFDS %s split %s, %s; records not scanned (written and counted by tfds build, TFRecord "
                "checksums verified on read)", config_name, reader.name, reader.split, report.summary())
    return report


def check_input_reader(input_config: Any, model_config: Any, config_name: str, on_error: str = "stop",
                       max_records_per_file: Optional[int] = None) -> record_checks.CheckReport:
    """Scans the records of one input_reader (config_name: 'train_input_reader' or 'eval_input_reader'); a
    tfds_input_reader's are not scanned (see _tfds_report).

    on_error 'stop' raises at the first problem (RecordCheckError, naming file and record; ValueError naming the
    field for a glob that matches nothing; InputCheckError for an unreadable label map); 'skip' counts and logs,
    and the report's record_filter() is what the input pipeline must leave out. max_records_per_file bounds the
    content check of each shard (for very large shards; the framing of every file is still walked in full).
    """
    if input_config.WhichOneof("input_reader") == "tfds_input_reader":
        return _tfds_report(input_config, model_config, config_name)
    paths = dataset_builder.expand_input_paths(input_config, config_name)
    label_map_path = getattr(input_config, "label_map_path", "")
    num_classes = inputs.num_classes_of(model_config)
    try:
        rules = record_checks.ClassRules.from_label_map(label_map_path, bool(input_config.use_display_name),
                                                        num_classes)
    except (OSError, ValueError) as error:
        raise InputCheckError(f"{config_name}.label_map_path: {error}") from None
    largest_id = max(rules.name_to_id.values()) if rules.name_to_id else num_classes  # no label map: nothing to say
    if largest_id > num_classes:
        # A record of such a class fails below, but only if one is there: say it of the config itself.
        beyond = sorted((class_id, name) for name, class_id in rules.name_to_id.items() if class_id > num_classes)
        raise InputCheckError(
            f"{config_name}.label_map_path: {label_map_path} has ids up to {largest_id} "
            f"({', '.join(f'{name!r}={class_id}' for class_id, name in beyond[:5])}) but the model's num_classes is "
            f"{num_classes}; expected num_classes >= the label map's largest id (set num_classes to {largest_id}, or "
            "use the label map the records were written with)")
    if num_classes > largest_id:
        # Allowed, as in the OD API (room for classes to come), but usually a num_classes left from another run:
        # the extra class outputs never see a positive and only add false detections' competition.
        logger.warning("%s: the model's num_classes is %d but the label map %s has ids up to %d: classes %d..%d "
                       "have no examples", config_name, num_classes, label_map_path, largest_id, largest_id + 1,
                       num_classes)
    report = record_checks.check_records(paths, rules, on_error, max_records_per_file, skip_hint=SKIP_HINT)
    logger.info("%s checked: %s", config_name, report.summary())
    return report
