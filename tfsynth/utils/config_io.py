"""Read and write pipeline.config files and say what their parts hold: the reading half of the OD API's config_util.

A pipeline.config is a text-format `TrainEvalPipelineConfig`. The OD API splits it into a dict of its parts:

    model, train_config, train_input_config, eval_config, eval_input_configs (list),
    eval_input_config (the first eval input, when there is one), graph_rewriter_config (when set)

and every tool works on that dict. `ConfigError` is the error of all three config modules: here for text that
does not parse (naming the file, the line and column, and the field), in `config_overrides` for override keys
that do not exist, in `config_checks` for configs that parse but cannot be used. Both of those import this
module and never the other way round; `config_util` gathers the OD API's public names of all of them.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Mapping, Optional

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

# Dict keys of the split config and the TrainEvalPipelineConfig field each one comes from. Public because
# config_overrides resolves an override's first segment by either name (train_input_config or train_input_reader).
CONFIG_KEY_TO_PIPELINE_FIELD = {
    "model": "model",
    "train_config": "train_config",
    "train_input_config": "train_input_reader",
    "eval_config": "eval_config",
    "eval_input_configs": "eval_input_reader",
    "graph_rewriter_config": "graph_rewriter",
}
PIPELINE_FIELD_TO_CONFIG_KEY = {v: k for k, v in CONFIG_KEY_TO_PIPELINE_FIELD.items()}

# The split config is a plain dict, as in the OD API (callers index it and add keys); the alias names it in hints.
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
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the text format.
        with open(path, "r", encoding="utf-8-sig") as handle:
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

# The model oneof members that carry num_classes and an image_resizer. Public for config_overrides (num_classes)
# and config_checks (num_classes >= 1), which read the same members.
META_ARCHITECTURES = ("faster_rcnn", "ssd", "center_net")


def meta_architecture(model_config: model_pb2.DetectionModel) -> str:
    """Name of the model oneof member that is set; ConfigError when it is not one with num_classes."""
    name = model_config.WhichOneof("model")
    if name not in META_ARCHITECTURES:
        raise ConfigError(f"model: expected one of {', '.join(META_ARCHITECTURES)} to be set, "
                          f"got {name or 'none'}")
    return name


def get_number_of_classes(model_config: model_pb2.DetectionModel) -> int:
    """num_classes of the model's meta-architecture (faster_rcnn, ssd or center_net)."""
    return getattr(model_config, meta_architecture(model_config)).num_classes


def get_image_resizer_config(model_config: model_pb2.DetectionModel) -> image_resizer_pb2.ImageResizer:
    """The image_resizer of the model's meta-architecture."""
    return getattr(model_config, meta_architecture(model_config)).image_resizer


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



# --------------------------------------------------------------------------------------------- edits

def remove_keypoint_settings(pipeline_config: pipeline_pb2.TrainEvalPipelineConfig) -> None:
    """Turns a CenterNet keypoint config (the OD API's *_kpts_* samples) into the box detector tfsynth trains, in
    place: removes the keypoint task and its label map path, the input readers' num_keypoints, eval_config's
    keypoint metrics and edges, and every augmentation's keypoint permutations (the augmentation stays)."""
    if pipeline_config.model.WhichOneof("model") == "center_net":
        pipeline_config.model.center_net.ClearField("keypoint_estimation_task")
        pipeline_config.model.center_net.ClearField("keypoint_label_map_path")
    for reader in [pipeline_config.train_input_reader, *pipeline_config.eval_input_reader]:
        reader.ClearField("num_keypoints")
    eval_config = pipeline_config.eval_config
    kept = [metric for metric in eval_config.parameterized_metric
            if metric.WhichOneof("parameterized_metric") != "coco_keypoint_metrics"]
    del eval_config.parameterized_metric[:]
    eval_config.parameterized_metric.extend(kept)
    eval_config.ClearField("keypoint_edge")
    for option in pipeline_config.train_config.data_augmentation_options:
        step = option.WhichOneof("preprocessing_step")
        if step:
            for field in getattr(option, step).DESCRIPTOR.fields:
                if field.name.startswith("keypoint_"):
                    getattr(option, step).ClearField(field.name)
