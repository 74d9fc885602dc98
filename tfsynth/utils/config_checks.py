"""Check that a parsed pipeline.config can be used: every problem found, each naming the file and the field.

Parsing (config_io) only proves the text is a TrainEvalPipelineConfig; this module asks whether training or
evaluation can run from it (a meta-architecture and classes set, batch sizes positive, inputs that match files,
label maps and a fine-tune checkpoint that exist) before anything expensive starts. It reads config_io and is
read by nothing there.
"""
from __future__ import annotations

import glob
import os
from typing import Any, Iterable, Mapping, Union

from google.protobuf import message as _message

from tfsynth.protos import input_reader_pb2
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.config_io import (META_ARCHITECTURES, PIPELINE_CONFIG_NAME, ConfigError,
                                     create_configs_from_pipeline_proto)


def _as_configs(configs_or_pipeline: Union[Mapping[str, Any], pipeline_pb2.TrainEvalPipelineConfig]
                ) -> Mapping[str, Any]:
    """The config dict of either form check_pipeline_config accepts (a whole message is split first)."""
    if isinstance(configs_or_pipeline, pipeline_pb2.TrainEvalPipelineConfig):
        return create_configs_from_pipeline_proto(configs_or_pipeline)
    return configs_or_pipeline


def _glob(pattern: str) -> list[str]:
    """Files matching `pattern`, on local disk or (gs://, s3://...) through TensorFlow's file systems."""
    if "://" in pattern:
        # TensorFlow loads in seconds; only remote paths need it, so a local check stays cheap.
        import tensorflow as tf
        return tf.io.gfile.glob(pattern)
    return glob.glob(pattern)


def _exists(path: str) -> bool:
    """Whether `path` exists, on local disk or through TensorFlow's file systems (as _glob)."""
    if "://" in path:
        import tensorflow as tf
        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _input_problems(name: str, input_config: input_reader_pb2.InputReader) -> list[str]:
    """Problems of one input reader: no input, globs matching nothing, a TFDS reader naming no dataset, a missing
    label map. A TFDS dataset that is not prepared is reported where it is read (dataset_builder): finding it
    loads TFDS, too heavy for this check."""
    problems = []
    kind = input_config.WhichOneof("input_reader")
    if kind is None:
        problems.append(f"{name}: no input set (expected tf_record_input_reader {{ input_path: ... }} or "
                        "tfds_input_reader { name: ... })")
    elif kind == "tfds_input_reader":
        if not input_config.tfds_input_reader.name:
            problems.append(f"{name}.tfds_input_reader.name: not set (expected a prepared TFDS dataset such as "
                            "\"tfsynth_renders/quick\")")
        if not input_config.label_map_path:
            problems.append(f"{name}.label_map_path: not set (a tfds_input_reader maps the dataset's class names "
                            "to ids through the label map)")
    elif kind == "tf_record_input_reader":
        paths = list(input_config.tf_record_input_reader.input_path)
        if not paths:
            problems.append(f"{name}.tf_record_input_reader.input_path: no path given")
        for pattern in paths:
            if not _glob(pattern):
                problems.append(f"{name}.tf_record_input_reader.input_path '{pattern}' matches no file")
    if input_config.label_map_path and not _exists(input_config.label_map_path):
        problems.append(f"{name}.label_map_path '{input_config.label_map_path}' does not exist")
    return problems


def _checkpoint_exists(prefix: str) -> bool:
    """True when `prefix` names a TF checkpoint (prefix.index) or a folder holding one."""
    if _exists(prefix + ".index"):
        return True
    if _exists(os.path.join(prefix, "checkpoint")) or _glob(os.path.join(prefix, "*.index")):
        return True
    return False


def _is_set(value: Any) -> bool:
    """True when a config entry holds anything: a message with a field set, or a non-empty list of them."""
    if isinstance(value, _message.Message):
        return bool(value.ListFields())
    return bool(value)


def _positive(values: Iterable[float], where: str) -> list[str]:
    return [f"{where} holds {value:g}; expected values > 0" for value in values if not value > 0][:1]


def _geometry_problems(meta: Any, where: str) -> list[str]:
    """Image sizes and anchor shapes that no model can be built from (TensorFlow would stop with a traceback at
    the first step) or that build a model of empty anchors: sizes >= 1, scales and aspect ratios > 0,
    min_scale <= max_scale."""
    problems = []
    resizer = meta.image_resizer if meta.HasField("image_resizer") else None
    kind = resizer.WhichOneof("image_resizer_oneof") if resizer is not None else None
    if kind == "fixed_shape_resizer":
        fixed = resizer.fixed_shape_resizer
        problems += [f"{where}.image_resizer.fixed_shape_resizer.{name} is {value}; expected >= 1"
                     for name, value in (("height", fixed.height), ("width", fixed.width)) if value < 1]
    elif kind == "keep_aspect_ratio_resizer":
        keep = resizer.keep_aspect_ratio_resizer
        if keep.min_dimension < 1 or keep.max_dimension < keep.min_dimension:
            problems.append(f"{where}.image_resizer.keep_aspect_ratio_resizer: min_dimension {keep.min_dimension}, "
                            f"max_dimension {keep.max_dimension}; expected 1 <= min_dimension <= max_dimension")
    for field in ("anchor_generator", "first_stage_anchor_generator"):
        if field not in meta.DESCRIPTOR.fields_by_name or not meta.HasField(field):
            continue
        generator = getattr(meta, field)
        kind = generator.WhichOneof("anchor_generator_oneof")
        if kind is None:
            continue
        config, name = getattr(generator, kind), f"{where}.{field}.{kind}"
        for list_field in ("aspect_ratios", "scales"):
            if list_field in config.DESCRIPTOR.fields_by_name:
                problems += _positive(getattr(config, list_field), f"{name}.{list_field}")
        if kind == "ssd_anchor_generator":
            if config.num_layers < 1:
                problems.append(f"{name}.num_layers is {config.num_layers}; expected >= 1")
            if not config.scales and not 0 < config.min_scale <= config.max_scale:  # scales replace them
                problems.append(f"{name}: min_scale {config.min_scale:g}, max_scale {config.max_scale:g}; "
                                "expected 0 < min_scale <= max_scale")
        if kind == "multiscale_anchor_generator":
            if config.min_level > config.max_level or config.anchor_scale <= 0:
                problems.append(f"{name}: min_level {config.min_level}, max_level {config.max_level}, anchor_scale "
                                f"{config.anchor_scale:g}; expected min_level <= max_level and anchor_scale > 0")
    return problems


def check_pipeline_config(configs: Union[Mapping[str, Any], pipeline_pb2.TrainEvalPipelineConfig],
                          config_path: str = PIPELINE_CONFIG_NAME, check_train_input: bool = True,
                          check_eval_input: bool = True, check_fine_tune_checkpoint: bool = False) -> None:
    """Checks that a parsed config can be used; raises ConfigError listing every problem found.

    Checked: the file is not empty; a meta-architecture is set in the model oneof; its num_classes >= 1;
    train_config.batch_size and eval_config.batch_size >= 1; every input_path glob of the train input
    (check_train_input) and of every eval input (check_eval_input) matches a file (a tfds_input_reader names a
    dataset and a label map); their label_map_path files exist; with check_fine_tune_checkpoint, a set
    fine_tune_checkpoint exists.
    Each message starts with `config_path`, e.g.
    "pipeline.config: train_input_reader.tf_record_input_reader.input_path 'x-*.tfrecord' matches no file".
    """
    configs = _as_configs(configs)
    if not any(_is_set(value) for value in configs.values()):
        raise ConfigError(f"{config_path}: is empty; expected a pipeline.config text proto with model {{ ssd {{ ... }} "
                          "}} (or faster_rcnn), train_config, train_input_reader and eval_input_reader")
    problems: list[str] = []
    model_config = configs.get("model")
    if model_config is None:
        problems.append("model: missing")
    else:
        arch = model_config.WhichOneof("model")
        if arch is None:
            problems.append("model: no meta-architecture set (expected one of ssd, faster_rcnn, center_net, "
                            "experimental_model)")
        elif arch in META_ARCHITECTURES:
            num_classes = getattr(model_config, arch).num_classes
            if num_classes < 1:
                problems.append(f"model.{arch}.num_classes is {num_classes}; expected >= 1")
            problems += _geometry_problems(getattr(model_config, arch), f"model.{arch}")
    if check_train_input:
        train_input = configs.get("train_input_config")
        if train_input is None:
            problems.append("train_input_reader: missing")
        else:
            problems += _input_problems("train_input_reader", train_input)
    if check_eval_input:
        eval_inputs = list(configs.get("eval_input_configs", []))
        for index, eval_input in enumerate(eval_inputs):
            name = "eval_input_reader" if len(eval_inputs) == 1 else f"eval_input_reader[{index}]"
            problems += _input_problems(name, eval_input)
    train_config = configs.get("train_config")
    if train_config is not None and train_config.batch_size < 1:
        problems.append(f"train_config.batch_size is {train_config.batch_size}; expected >= 1")
    eval_config = configs.get("eval_config")
    if eval_config is not None and eval_config.batch_size < 1:
        problems.append(f"eval_config.batch_size is {eval_config.batch_size}; expected >= 1")
    if check_fine_tune_checkpoint and train_config is not None and train_config.fine_tune_checkpoint:
        if not _checkpoint_exists(train_config.fine_tune_checkpoint):
            problems.append(f"train_config.fine_tune_checkpoint '{train_config.fine_tune_checkpoint}' "
                            "is not a checkpoint (no .index file)")
    if problems:
        raise ConfigError("\n".join(f"{config_path}: {problem}" for problem in problems))

