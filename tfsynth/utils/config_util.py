"""Read, check, override and write pipeline.config files (the OD API's config_util, same public names).

A pipeline.config is a text-format `TrainEvalPipelineConfig`. The OD API splits it into a dict of its parts:

    model, train_config, train_input_config, eval_config, eval_input_configs (list),
    eval_input_config (the first eval input, when there is one), graph_rewriter_config (when set)

and every tool works on that dict. Errors name the file, the line and column, and the field:
`ConfigError` for text that does not parse, for override keys that do not exist, and for configs that parse
but cannot be used (`check_pipeline_config`).
"""
from __future__ import annotations

import glob
import logging
import os
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf import text_format

from tfsynth.protos import eval_pb2
from tfsynth.protos import graph_rewriter_pb2
from tfsynth.protos import image_resizer_pb2
from tfsynth.protos import input_reader_pb2
from tfsynth.protos import model_pb2
from tfsynth.protos import pipeline_pb2
from tfsynth.protos import train_pb2
from tfsynth.utils.files import write_atomically

PIPELINE_CONFIG_NAME = "pipeline.config"

# Dict keys of the split config and the TrainEvalPipelineConfig field each one comes from.
_CONFIG_KEY_TO_PIPELINE_FIELD = {
    "model": "model",
    "train_config": "train_config",
    "train_input_config": "train_input_reader",
    "eval_config": "eval_config",
    "eval_input_configs": "eval_input_reader",
    "graph_rewriter_config": "graph_rewriter",
}
_PIPELINE_FIELD_TO_CONFIG_KEY = {v: k for k, v in _CONFIG_KEY_TO_PIPELINE_FIELD.items()}
# The OD API also accepts the singular form of the eval input key in overrides.
_OVERRIDE_ROOT_ALIASES = {"eval_input_config": "eval_input_configs"}

ConfigDict = dict


class ConfigError(ValueError):
    """A pipeline config that does not parse, names a field that does not exist, or cannot be used."""


# --------------------------------------------------------------------------------------------- parsing

def _field_at(text: str, line: int, column: int) -> Optional[str]:
    """The field name written on `line` (1-based) before `column`, or None."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    before = lines[line - 1][:max(column, 0)]
    names = re.findall(r"([A-Za-z_]\w*)\s*:", before)
    if names:
        return names[-1]
    match = re.search(r"([A-Za-z_]\w*)\s*$", before.rstrip(" :{"))
    return match.group(1) if match else None


def _parse_error(source: str, text: str, error: text_format.ParseError) -> ConfigError:
    """Turns protobuf's ParseError ("L:C : detail") into a ConfigError naming source, line, column, field."""
    line, column = error.GetLine(), error.GetColumn()
    detail = str(error)
    # protobuf prefixes "L:C : " and sometimes quotes the offending line; keep only the explanation.
    detail = re.sub(r"^\d+:\d+\s*:\s*", "", detail)
    detail = re.sub(r"^'.*?':\s*", "", detail) if detail.startswith("'") else detail
    field = _field_at(text, line, column) if line else None
    unknown = re.search(r'has no field named "([^"]+)"', detail)
    if unknown:
        field = unknown.group(1)
    where = f"{source}:{line}:{column}" if line else source
    field_part = f" field '{field}':" if field else ""
    return ConfigError(f"{where}:{field_part} {detail}")


def parse_pipeline_text(text: str, source: str = "<string>",
                        pipeline_config: Optional[pipeline_pb2.TrainEvalPipelineConfig] = None
                        ) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Merges text-format `text` into `pipeline_config` (a new message when None) and returns it.

    Like the OD API this uses text_format.Merge: a singular field given twice keeps the last value, repeated
    fields append. Raises ConfigError "SOURCE:LINE:COL: field 'NAME': detail" when the text does not parse.
    """
    if pipeline_config is None:
        pipeline_config = pipeline_pb2.TrainEvalPipelineConfig()
    try:
        text_format.Merge(text, pipeline_config)
    except text_format.ParseError as error:
        raise _parse_error(source, text, error) from None
    return pipeline_config


def _read_text(path: str) -> str:
    """File contents as text; ConfigError when the file is missing or unreadable."""
    path = os.fspath(path)
    try:
        if "://" in path:  # gs://, s3://... go through TensorFlow's file system layer
            import tensorflow as tf
            with tf.io.gfile.GFile(path, "r") as handle:
                return handle.read()
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None


def read_pipeline_proto(pipeline_config_path: str, config_override: Optional[str] = None
                        ) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Reads a pipeline.config into a TrainEvalPipelineConfig; merges the text-format `config_override` on top."""
    path = os.fspath(pipeline_config_path)
    pipeline_config = parse_pipeline_text(_read_text(path), source=path)
    if config_override:
        parse_pipeline_text(config_override, source="<config_override>", pipeline_config=pipeline_config)
    return pipeline_config


def get_configs_from_pipeline_file(pipeline_config_path: str, config_override: Optional[str] = None
                                   ) -> ConfigDict:
    """Reads a pipeline.config and returns its parts as the OD API's config dict.

    Args:
      pipeline_config_path: path of a text-format TrainEvalPipelineConfig.
      config_override: optional text-format (partial) TrainEvalPipelineConfig merged on top of the file, as
        the OD API's config_override argument (singular fields replace, repeated fields append).
    Returns:
      dict with keys model, train_config, train_input_config, eval_config, eval_input_configs,
      eval_input_config (when there is an eval input) and graph_rewriter_config (when set).
    Raises:
      ConfigError naming the file, line, column and field when the text does not parse.
    """
    return create_configs_from_pipeline_proto(read_pipeline_proto(pipeline_config_path, config_override))


def create_configs_from_pipeline_proto(pipeline_config: pipeline_pb2.TrainEvalPipelineConfig) -> ConfigDict:
    """Splits a TrainEvalPipelineConfig into the config dict (the messages are the proto's own sub-messages)."""
    configs: ConfigDict = {
        "model": pipeline_config.model,
        "train_config": pipeline_config.train_config,
        "train_input_config": pipeline_config.train_input_reader,
        "eval_config": pipeline_config.eval_config,
        "eval_input_configs": pipeline_config.eval_input_reader,
    }
    if configs["eval_input_configs"]:
        configs["eval_input_config"] = configs["eval_input_configs"][0]
    if pipeline_config.HasField("graph_rewriter"):
        configs["graph_rewriter_config"] = pipeline_config.graph_rewriter
    return configs


def create_pipeline_proto_from_configs(configs: Mapping[str, Any]) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Assembles a TrainEvalPipelineConfig from a config dict (copies; the dict is not changed)."""
    pipeline_config = pipeline_pb2.TrainEvalPipelineConfig()
    pipeline_config.model.CopyFrom(configs["model"])
    pipeline_config.train_config.CopyFrom(configs["train_config"])
    pipeline_config.train_input_reader.CopyFrom(configs["train_input_config"])
    pipeline_config.eval_config.CopyFrom(configs["eval_config"])
    pipeline_config.eval_input_reader.extend(configs.get("eval_input_configs", []))
    if "graph_rewriter_config" in configs:
        pipeline_config.graph_rewriter.CopyFrom(configs["graph_rewriter_config"])
    return pipeline_config


def _read_part(path: str, message: _message.Message) -> _message.Message:
    """Parses one text-format message file into `message`."""
    text = _read_text(path)
    try:
        text_format.Merge(text, message)
    except text_format.ParseError as error:
        raise _parse_error(path, text, error) from None
    return message


def get_configs_from_multiple_files(model_config_path: str = "", train_config_path: str = "",
                                    train_input_config_path: str = "", eval_config_path: str = "",
                                    eval_input_config_path: str = "",
                                    graph_rewriter_config_path: str = "") -> ConfigDict:
    """Reads the config parts from separate text-format files (each one message); empty paths are skipped.

    Returns a config dict like get_configs_from_pipeline_file, holding only the parts given.
    """
    configs: ConfigDict = {}
    if model_config_path:
        configs["model"] = _read_part(model_config_path, model_pb2.DetectionModel())
    if train_config_path:
        configs["train_config"] = _read_part(train_config_path, train_pb2.TrainConfig())
    if train_input_config_path:
        configs["train_input_config"] = _read_part(train_input_config_path, input_reader_pb2.InputReader())
    if eval_config_path:
        configs["eval_config"] = _read_part(eval_config_path, eval_pb2.EvalConfig())
    if eval_input_config_path:
        eval_input = _read_part(eval_input_config_path, input_reader_pb2.InputReader())
        configs["eval_input_configs"] = [eval_input]
        configs["eval_input_config"] = eval_input
    if graph_rewriter_config_path:
        configs["graph_rewriter_config"] = _read_part(graph_rewriter_config_path,
                                                      graph_rewriter_pb2.GraphRewriter())
    return configs


# --------------------------------------------------------------------------------------------- writing

def pipeline_config_to_text(pipeline_config: pipeline_pb2.TrainEvalPipelineConfig) -> str:
    """Text form of a TrainEvalPipelineConfig, as written to pipeline.config."""
    return text_format.MessageToString(pipeline_config)


def save_pipeline_config(pipeline_config: pipeline_pb2.TrainEvalPipelineConfig, directory: str) -> str:
    """Writes `directory`/pipeline.config (created under a temporary name, then renamed); returns its path."""
    directory = os.fspath(directory)
    text = pipeline_config_to_text(pipeline_config)
    path = os.path.join(directory, PIPELINE_CONFIG_NAME)
    logging.info("Writing pipeline config file to %s", path)
    if "://" in directory:
        import tensorflow as tf
        tf.io.gfile.makedirs(directory)
        temp_path = path + ".tmp"
        with tf.io.gfile.GFile(temp_path, "w") as handle:
            handle.write(text)
        tf.io.gfile.rename(temp_path, path, overwrite=True)
        return path
    write_atomically(path, text)
    return path


# --------------------------------------------------------------------------------------------- queries

_META_ARCHITECTURES = ("faster_rcnn", "ssd", "center_net")


def _meta_architecture(model_config: model_pb2.DetectionModel) -> str:
    """Name of the model oneof member that is set; ConfigError when it is not one with num_classes."""
    name = model_config.WhichOneof("model")
    if name not in _META_ARCHITECTURES:
        raise ConfigError(f"model: expected one of {', '.join(_META_ARCHITECTURES)} to be set, "
                          f"got {name or 'none'}")
    return name


def get_number_of_classes(model_config: model_pb2.DetectionModel) -> int:
    """num_classes of the model's meta-architecture (faster_rcnn, ssd or center_net)."""
    return getattr(model_config, _meta_architecture(model_config)).num_classes


def get_image_resizer_config(model_config: model_pb2.DetectionModel) -> image_resizer_pb2.ImageResizer:
    """The image_resizer of the model's meta-architecture."""
    return getattr(model_config, _meta_architecture(model_config)).image_resizer


def get_spatial_image_size(image_resizer_config: image_resizer_pb2.ImageResizer) -> list[int]:
    """[height, width] of the resized image; -1 for a dimension that depends on the input image."""
    kind = image_resizer_config.WhichOneof("image_resizer_oneof")
    if kind == "fixed_shape_resizer":
        resizer = image_resizer_config.fixed_shape_resizer
        return [resizer.height, resizer.width]
    if kind == "keep_aspect_ratio_resizer":
        resizer = image_resizer_config.keep_aspect_ratio_resizer
        if resizer.pad_to_max_dimension:
            return [resizer.max_dimension] * 2
        return [-1, -1]
    if kind in ("identity_resizer", "conditional_shape_resizer", "pad_to_multiple_resizer"):
        return [-1, -1]
    raise ConfigError(f"image_resizer: unknown or unset resizer ({kind or 'none'})")


def get_optimizer_type(train_config: train_pb2.TrainConfig) -> Optional[str]:
    """Name of the optimizer oneof member (e.g. "momentum_optimizer"), None when unset."""
    return train_config.optimizer.WhichOneof("optimizer")


def get_learning_rate_type(optimizer_config: _message.Message) -> Optional[str]:
    """Name of the learning_rate oneof member of an optimizer message (e.g. "cosine_decay_learning_rate")."""
    return optimizer_config.learning_rate.WhichOneof("learning_rate")


def update_fine_tune_checkpoint_type(train_config: train_pb2.TrainConfig) -> None:
    """Fills fine_tune_checkpoint_type from the deprecated from_detection_checkpoint when it is unset (OD API)."""
    if not train_config.fine_tune_checkpoint_type:
        train_config.fine_tune_checkpoint_type = (
            "detection" if train_config.from_detection_checkpoint else "classification")


# --------------------------------------------------------------------------------------------- checking

def _as_configs(configs_or_pipeline: Union[Mapping[str, Any], pipeline_pb2.TrainEvalPipelineConfig]
                ) -> Mapping[str, Any]:
    if isinstance(configs_or_pipeline, pipeline_pb2.TrainEvalPipelineConfig):
        return create_configs_from_pipeline_proto(configs_or_pipeline)
    return configs_or_pipeline


def _glob(pattern: str) -> list[str]:
    if "://" in pattern:
        import tensorflow as tf
        return tf.io.gfile.glob(pattern)
    return glob.glob(pattern)


def _exists(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf
        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _input_problems(name: str, input_config: input_reader_pb2.InputReader) -> list[str]:
    """Problems of one input reader: no input, globs matching nothing, a missing label map."""
    problems = []
    kind = input_config.WhichOneof("input_reader")
    if kind is None:
        problems.append(f"{name}: no input set (expected tf_record_input_reader {{ input_path: ... }})")
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


def check_pipeline_config(configs: Union[Mapping[str, Any], pipeline_pb2.TrainEvalPipelineConfig],
                          config_path: str = PIPELINE_CONFIG_NAME, check_train_input: bool = True,
                          check_eval_input: bool = True, check_fine_tune_checkpoint: bool = False) -> None:
    """Checks that a parsed config can be used; raises ConfigError listing every problem found.

    Checked: the file is not empty; a meta-architecture is set in the model oneof; its num_classes >= 1;
    train_config.batch_size and eval_config.batch_size >= 1; every input_path glob of the train input (check_train_input) and of every eval input (check_eval_input)
    matches a file; their label_map_path files exist; with check_fine_tune_checkpoint, a set fine_tune_checkpoint exists.
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
        elif arch in _META_ARCHITECTURES:
            num_classes = getattr(model_config, arch).num_classes
            if num_classes < 1:
                problems.append(f"model.{arch}.num_classes is {num_classes}; expected >= 1")
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


# --------------------------------------------------------------------------------------------- overrides

def parse_override_strings(overrides: Iterable[str]) -> dict[str, str]:
    """["key=value", ...] (e.g. from a command line) -> {key: value}; ConfigError on an entry without '='."""
    parsed: dict[str, str] = {}
    for entry in overrides:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{entry}': expected KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed


def merge_external_params_with_configs(configs: ConfigDict, hparams: Any = None,
                                       kwargs_dict: Optional[Mapping[str, Any]] = None) -> ConfigDict:
    """Applies key/value overrides to the config dict in place and returns it (the OD API's function).

    `hparams` is anything with a values() -> dict method (tf HParams) or a dict; `kwargs_dict` a dict.
    Keys (values may be strings from a command line; they are converted to the field's type):
      train_steps, eval_steps, batch_size, learning_rate, momentum_optimizer_value, use_moving_averages,
      num_classes (the model's meta-architecture), train_input_path / eval_input_path (string or list),
      label_map_path (train and every eval input), mask_type, sample_1_of_n_eval_examples, eval_num_epochs,
      eval_with_moving_averages, retain_original_images_in_eval, use_bfloat16, max_number_of_boxes,
      unpad_groundtruth_tensors, focal_loss_gamma, focal_loss_alpha,
      or a dotted field path such as "model.ssd.num_classes", "train_config.batch_size",
      "train_input_reader.tf_record_input_reader.input_path", "eval_input_configs[0].num_epochs",
      "train_config.data_augmentation_options[0].random_horizontal_flip.probability".
    Unknown keys raise ConfigError (the OD API only logged them).
    """
    updates: dict[str, Any] = {}
    if hparams is not None:
        updates.update(hparams.values() if hasattr(hparams, "values") and callable(hparams.values)
                       and not isinstance(hparams, Mapping) else dict(hparams))
    if kwargs_dict:
        updates.update(kwargs_dict)
    for key, value in updates.items():
        if value is None:
            continue  # absent command-line flags arrive as None
        logging.info("Maybe overwriting %s: %s", key, value)
        _update_config_with_key_value(configs, key, value)
    return configs


def _eval_inputs(configs: ConfigDict) -> list:
    return list(configs.get("eval_input_configs", []))


def _update_config_with_key_value(configs: ConfigDict, key: str, value: Any) -> None:
    """Dispatches one override to its named updater or to the dotted-path updater."""
    named = _NAMED_UPDATERS.get(key)
    if named is not None:
        named(configs, value)
        return
    if "." in key or "[" in key:
        _update_generic(configs, key, value)
        return
    raise ConfigError(f"override '{key}': unknown key (expected one of {', '.join(sorted(_NAMED_UPDATERS))} "
                      "or a dotted field path such as model.ssd.num_classes)")


def _to_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"override '{what}': expected true or false, got {value!r}")


def _to_int(value: Any, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"override '{what}': expected an integer, got {value!r}") from None
    if number != int(number):
        raise ConfigError(f"override '{what}': expected an integer, got {value!r}")
    return int(number)


def _to_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"override '{what}': expected a number, got {value!r}") from None


def _to_paths(value: Any) -> list[str]:
    """A path or list of paths; a comma-separated string is split (command lines)."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _set_input_path(input_config: input_reader_pb2.InputReader, paths: Sequence[str]) -> None:
    reader = input_config.tf_record_input_reader
    del reader.input_path[:]
    reader.input_path.extend(paths)


def _update_train_steps(configs: ConfigDict, value: Any) -> None:
    configs["train_config"].num_steps = _to_int(value, "train_steps")


def _update_eval_steps(configs: ConfigDict, value: Any) -> None:
    configs["eval_config"].num_examples = _to_int(value, "eval_steps")


def _update_batch_size(configs: ConfigDict, value: Any) -> None:
    # The OD API rounds and keeps at least 1 (hyperparameter tuners pass floats).
    configs["train_config"].batch_size = max(1, int(round(_to_float(value, "batch_size"))))


def _optimizer_config(configs: ConfigDict, what: str) -> _message.Message:
    train_config = configs["train_config"]
    kind = get_optimizer_type(train_config)
    if kind is None:
        raise ConfigError(f"override '{what}': train_config.optimizer has no optimizer set")
    return getattr(train_config.optimizer, kind)


def _update_initial_learning_rate(configs: ConfigDict, value: Any) -> None:
    """Sets the schedule's starting rate; other rates of the schedule keep their ratio to it (OD API)."""
    learning_rate = _to_float(value, "learning_rate")
    optimizer = _optimizer_config(configs, "learning_rate")
    kind = get_learning_rate_type(optimizer)
    schedule = optimizer.learning_rate
    if kind == "constant_learning_rate":
        schedule.constant_learning_rate.learning_rate = learning_rate
    elif kind == "exponential_decay_learning_rate":
        schedule.exponential_decay_learning_rate.initial_learning_rate = learning_rate
    elif kind == "manual_step_learning_rate":
        manual = schedule.manual_step_learning_rate
        original = manual.initial_learning_rate
        manual.initial_learning_rate = learning_rate
        for step in manual.schedule:
            step.learning_rate *= learning_rate / original if original else 1.0
    elif kind == "cosine_decay_learning_rate":
        cosine = schedule.cosine_decay_learning_rate
        original = cosine.learning_rate_base
        cosine.learning_rate_base = learning_rate
        if original:
            cosine.warmup_learning_rate *= learning_rate / original
    else:
        raise ConfigError(f"override 'learning_rate': the optimizer has no learning rate schedule set")


def _update_momentum_optimizer_value(configs: ConfigDict, value: Any) -> None:
    optimizer = _optimizer_config(configs, "momentum_optimizer_value")
    if not hasattr(optimizer, "momentum_optimizer_value"):
        raise ConfigError("override 'momentum_optimizer_value': the optimizer has no momentum")
    optimizer.momentum_optimizer_value = min(max(0.0, _to_float(value, "momentum_optimizer_value")), 1.0)


def _update_use_moving_averages(configs: ConfigDict, value: Any) -> None:
    configs["train_config"].optimizer.use_moving_average = _to_bool(value, "use_moving_averages")


def _update_num_classes(configs: ConfigDict, value: Any) -> None:
    model = configs["model"]
    getattr(model, _meta_architecture(model)).num_classes = _to_int(value, "num_classes")


def _update_train_input_path(configs: ConfigDict, value: Any) -> None:
    _set_input_path(configs["train_input_config"], _to_paths(value))


def _update_eval_input_path(configs: ConfigDict, value: Any) -> None:
    eval_inputs = _eval_inputs(configs)
    if not eval_inputs:
        raise ConfigError("override 'eval_input_path': the config has no eval_input_reader")
    for eval_input in eval_inputs:
        _set_input_path(eval_input, _to_paths(value))


def _update_label_map_path(configs: ConfigDict, value: Any) -> None:
    configs["train_input_config"].label_map_path = str(value)
    for eval_input in _eval_inputs(configs):
        eval_input.label_map_path = str(value)


def _update_mask_type(configs: ConfigDict, value: Any) -> None:
    mask_type = _enum_value(input_reader_pb2.InputReader.DESCRIPTOR.fields_by_name["mask_type"], value,
                            "mask_type")
    configs["train_input_config"].mask_type = mask_type
    for eval_input in _eval_inputs(configs):
        eval_input.mask_type = mask_type


def _update_all_eval_inputs(field: str, key: str, convert) -> Any:
    def update(configs: ConfigDict, value: Any) -> None:
        converted = convert(value, key)
        for eval_input in _eval_inputs(configs):
            setattr(eval_input, field, converted)
    return update


def _update_eval_config(field: str, key: str, convert) -> Any:
    def update(configs: ConfigDict, value: Any) -> None:
        setattr(configs["eval_config"], field, convert(value, key))
    return update


def _update_use_bfloat16(configs: ConfigDict, value: Any) -> None:
    configs["train_config"].use_bfloat16 = _to_bool(value, "use_bfloat16")


def _update_max_number_of_boxes(configs: ConfigDict, value: Any) -> None:
    count = _to_int(value, "max_number_of_boxes")
    configs["train_input_config"].max_number_of_boxes = count
    for eval_input in _eval_inputs(configs):
        eval_input.max_number_of_boxes = count


def _update_unpad_groundtruth_tensors(configs: ConfigDict, value: Any) -> None:
    configs["train_config"].unpad_groundtruth_tensors = _to_bool(value, "unpad_groundtruth_tensors")


def _focal_loss(configs: ConfigDict, what: str) -> _message.Message:
    model = configs["model"]
    if model.WhichOneof("model") != "ssd":
        raise ConfigError(f"override '{what}': only SSD models have a focal loss")
    loss = model.ssd.loss.classification_loss
    if loss.WhichOneof("classification_loss") != "weighted_sigmoid_focal":
        raise ConfigError(f"override '{what}': model.ssd.loss.classification_loss is not weighted_sigmoid_focal")
    return loss.weighted_sigmoid_focal


def _update_focal_loss_gamma(configs: ConfigDict, value: Any) -> None:
    _focal_loss(configs, "focal_loss_gamma").gamma = _to_float(value, "focal_loss_gamma")


def _update_focal_loss_alpha(configs: ConfigDict, value: Any) -> None:
    _focal_loss(configs, "focal_loss_alpha").alpha = _to_float(value, "focal_loss_alpha")


_NAMED_UPDATERS = {
    "train_steps": _update_train_steps,
    "eval_steps": _update_eval_steps,
    "batch_size": _update_batch_size,
    "learning_rate": _update_initial_learning_rate,
    "momentum_optimizer_value": _update_momentum_optimizer_value,
    "use_moving_averages": _update_use_moving_averages,
    "num_classes": _update_num_classes,
    "train_input_path": _update_train_input_path,
    "eval_input_path": _update_eval_input_path,
    "label_map_path": _update_label_map_path,
    "mask_type": _update_mask_type,
    "sample_1_of_n_eval_examples": _update_all_eval_inputs("sample_1_of_n_examples",
                                                           "sample_1_of_n_eval_examples", _to_int),
    "eval_num_epochs": _update_all_eval_inputs("num_epochs", "eval_num_epochs", _to_int),
    "eval_with_moving_averages": _update_eval_config("use_moving_averages", "eval_with_moving_averages",
                                                     _to_bool),
    "retain_original_images_in_eval": _update_eval_config("retain_original_images",
                                                          "retain_original_images_in_eval", _to_bool),
    "use_bfloat16": _update_use_bfloat16,
    "max_number_of_boxes": _update_max_number_of_boxes,
    "unpad_groundtruth_tensors": _update_unpad_groundtruth_tensors,
    "focal_loss_gamma": _update_focal_loss_gamma,
    "focal_loss_alpha": _update_focal_loss_alpha,
}


# A path segment: a field name, optionally followed by [INDEX] or [FIELD=VALUE].
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?:\[(?P<selector>[^\]]*)\])?$")


def _enum_value(field: _descriptor.FieldDescriptor, value: Any, what: str) -> int:
    enum_type = field.enum_type
    if isinstance(value, int) and not isinstance(value, bool):
        if value in enum_type.values_by_number:
            return value
    else:
        named = enum_type.values_by_name.get(str(value).strip())
        if named is not None:
            return named.number
    raise ConfigError(f"override '{what}': {value!r} is not a value of {enum_type.name} "
                      f"(expected one of {', '.join(enum_type.values_by_name)})")


def _convert_scalar(field: _descriptor.FieldDescriptor, value: Any, what: str) -> Any:
    """`value` (possibly a command-line string) converted to the type of `field`."""
    kind = field.cpp_type
    if kind == _descriptor.FieldDescriptor.CPPTYPE_BOOL:
        return _to_bool(value, what)
    if kind in (_descriptor.FieldDescriptor.CPPTYPE_INT32, _descriptor.FieldDescriptor.CPPTYPE_INT64,
                _descriptor.FieldDescriptor.CPPTYPE_UINT32, _descriptor.FieldDescriptor.CPPTYPE_UINT64):
        number = _to_int(value, what)
        if number < 0 and kind in (_descriptor.FieldDescriptor.CPPTYPE_UINT32,
                                   _descriptor.FieldDescriptor.CPPTYPE_UINT64):
            raise ConfigError(f"override '{what}': expected a non-negative integer, got {value!r}")
        return number
    if kind in (_descriptor.FieldDescriptor.CPPTYPE_FLOAT, _descriptor.FieldDescriptor.CPPTYPE_DOUBLE):
        return _to_float(value, what)
    if kind == _descriptor.FieldDescriptor.CPPTYPE_ENUM:
        return _enum_value(field, value, what)
    if kind == _descriptor.FieldDescriptor.CPPTYPE_STRING:
        return str(value)
    raise ConfigError(f"override '{what}': field {field.name} is a message; set its fields instead "
                      "(or use --config_override with text format)")


def _field(message: _message.Message, name: str, path: str) -> _descriptor.FieldDescriptor:
    field = message.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        raise ConfigError(f"override '{path}': {message.DESCRIPTOR.name} has no field named '{name}' "
                          f"(fields: {', '.join(message.DESCRIPTOR.fields_by_name)})")
    return field


def _select(items: Sequence[_message.Message], selector: str, path: str) -> list[_message.Message]:
    """Elements of a repeated message field picked by "INDEX" or "FIELD=VALUE"."""
    if re.fullmatch(r"-?\d+", selector.strip()):
        index = int(selector)
        if not -len(items) <= index < len(items):
            raise ConfigError(f"override '{path}': index {index} out of range ({len(items)} entries)")
        return [items[index]]
    name, sep, wanted = selector.partition("=")
    if not sep:
        raise ConfigError(f"override '{path}': selector [{selector}] must be [INDEX] or [FIELD=VALUE]")
    chosen = [item for item in items if str(getattr(item, name.strip(), None)) == wanted.strip()]
    if not chosen:
        raise ConfigError(f"override '{path}': no entry has {name.strip()} == {wanted.strip()!r}")
    return chosen


def _check_oneof(message: _message.Message, field: _descriptor.FieldDescriptor, path: str) -> None:
    """Refuses to switch a oneof by an override (model.ssd.* on a Faster R-CNN config, say)."""
    oneof = field.containing_oneof
    if oneof is None:
        return
    current = message.WhichOneof(oneof.name)
    if current is not None and current != field.name:
        raise ConfigError(f"override '{path}': {oneof.name} is set to {current}, not {field.name}")


def _update_generic(configs: ConfigDict, key: str, value: Any) -> None:
    """Sets the field named by a dotted path; a path without an index on a repeated field updates every entry."""
    segments = key.split(".")
    root = _SEGMENT.match(segments[0])
    if root is None:
        raise ConfigError(f"override '{key}': malformed key")
    root_name = _OVERRIDE_ROOT_ALIASES.get(root.group("name"), root.group("name"))
    root_name = _PIPELINE_FIELD_TO_CONFIG_KEY.get(root_name, root_name)
    if root_name not in _CONFIG_KEY_TO_PIPELINE_FIELD:
        raise ConfigError(f"override '{key}': unknown config '{root.group('name')}' (expected one of "
                          f"{', '.join(_CONFIG_KEY_TO_PIPELINE_FIELD)} or the pipeline.config names "
                          f"{', '.join(_PIPELINE_FIELD_TO_CONFIG_KEY)})")
    if root_name not in configs:
        raise ConfigError(f"override '{key}': the config has no {root_name}")
    if len(segments) < 2:
        raise ConfigError(f"override '{key}': name a field inside {root_name}")
    targets = configs[root_name]
    if root_name == "eval_input_configs":
        targets = list(targets)
        if root.group("selector") is not None:
            targets = _select(targets, root.group("selector"), key)
    else:
        if root.group("selector") is not None:
            raise ConfigError(f"override '{key}': {root_name} is not a list")
        targets = [targets]

    for segment in segments[1:-1]:
        match = _SEGMENT.match(segment)
        if match is None:
            raise ConfigError(f"override '{key}': malformed segment '{segment}'")
        next_targets = []
        for message in targets:
            field = _field(message, match.group("name"), key)
            if field.cpp_type != _descriptor.FieldDescriptor.CPPTYPE_MESSAGE:
                raise ConfigError(f"override '{key}': {field.name} is not a message")
            if field.is_repeated:
                items = list(getattr(message, field.name))
                if match.group("selector") is not None:
                    items = _select(items, match.group("selector"), key)
                next_targets += items
            else:
                if match.group("selector") is not None:
                    raise ConfigError(f"override '{key}': {field.name} is not a list")
                _check_oneof(message, field, key)
                next_targets.append(getattr(message, field.name))
        targets = next_targets

    last = _SEGMENT.match(segments[-1])
    if last is None:
        raise ConfigError(f"override '{key}': malformed segment '{segments[-1]}'")
    for message in targets:
        field = _field(message, last.group("name"), key)
        _check_oneof(message, field, key)
        if field.is_repeated:
            if field.cpp_type == _descriptor.FieldDescriptor.CPPTYPE_MESSAGE:
                raise ConfigError(f"override '{key}': {field.name} is a list of messages; name one of its "
                                  "fields")
            values = value if isinstance(value, (list, tuple)) else _to_paths(value)
            container = getattr(message, field.name)
            converted = [_convert_scalar(field, v, key) for v in values]
            if last.group("selector") is not None:
                index = _to_int(last.group("selector"), key)
                if not -len(container) <= index < len(container) or len(converted) != 1:
                    raise ConfigError(f"override '{key}': index {index} out of range or more than one value")
                container[index] = converted[0]
            else:
                del container[:]
                container.extend(converted)
        else:
            setattr(message, field.name, _convert_scalar(field, value, key))
