"""Key=value overrides of a split pipeline.config (the OD API's merge_external_params_with_configs).

Overrides come from command lines (`--override train_steps=2000`), study files and hyperparameter tuners. A key
is one of the OD API's named hyperparameters (train_steps, batch_size, learning_rate, num_classes, ...), whose
semantics follow the OD API (a learning rate rescales the whole schedule, an input path replaces every path), or
a dotted field path into the config dict ("model.ssd.num_classes", "eval_input_configs[0].num_epochs"). Values
are converted to the field's type; a key, field or value that does not fit raises config_io.ConfigError naming
the key. This module reads config_io (the dict layout, the queries) and is read by nothing there.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

from tfsynth.protos import input_reader_pb2
from tfsynth.utils.config_io import (CONFIG_KEY_TO_PIPELINE_FIELD, PIPELINE_FIELD_TO_CONFIG_KEY, ConfigDict,
                                     ConfigError, get_learning_rate_type, get_optimizer_type, meta_architecture)

# A converter turns an override value into a field's type (its second argument, the key, is named in errors);
# an updater applies one named override to the config dict in place.
_Converter = Callable[[Any, str], Any]
_Updater = Callable[[ConfigDict, Any], None]

# The OD API also accepts the singular form of the eval input key in overrides.
_OVERRIDE_ROOT_ALIASES = {"eval_input_config": "eval_input_configs"}


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
    """The eval input readers, none when the config has none (overrides of eval inputs then change nothing)."""
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


# Converters of override values, which arrive as strings from a command line or as numbers from a tuner;
# `what` is the override key, so that an error names it.

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
    # Through float so that "8", 8.0 and "8.0" are accepted alike; 8.5 is refused rather than truncated.
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
    """Replaces (not extends) the reader's input paths; a tfds_input_reader gives way to them (one oneof)."""
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
    """The optimizer message that is set (momentum_optimizer, adam_optimizer...); ConfigError naming `what`."""
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
        raise ConfigError("override 'learning_rate': the optimizer has no learning rate schedule set")


def _update_momentum_optimizer_value(configs: ConfigDict, value: Any) -> None:
    optimizer = _optimizer_config(configs, "momentum_optimizer_value")
    if not hasattr(optimizer, "momentum_optimizer_value"):
        raise ConfigError("override 'momentum_optimizer_value': the optimizer has no momentum")
    optimizer.momentum_optimizer_value = min(max(0.0, _to_float(value, "momentum_optimizer_value")), 1.0)


def _update_use_moving_averages(configs: ConfigDict, value: Any) -> None:
    configs["train_config"].optimizer.use_moving_average = _to_bool(value, "use_moving_averages")


def _update_num_classes(configs: ConfigDict, value: Any) -> None:
    model = configs["model"]
    getattr(model, meta_architecture(model)).num_classes = _to_int(value, "num_classes")


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


def _update_all_eval_inputs(field: str, key: str, convert: _Converter) -> _Updater:
    """An updater setting `field` of every eval input to the override value converted by `convert`."""
    def update(configs: ConfigDict, value: Any) -> None:
        converted = convert(value, key)
        for eval_input in _eval_inputs(configs):
            setattr(eval_input, field, converted)
    return update


def _update_eval_config(field: str, key: str, convert: _Converter) -> _Updater:
    """An updater setting `field` of eval_config to the override value converted by `convert`."""
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
    """The SSD's sigmoid focal loss message; ConfigError naming `what` when the model has none to tune."""
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


# The OD API's named override keys (its hyperparameter names), each with the updater that applies it.
_NAMED_UPDATERS: dict[str, _Updater] = {
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
    """The number of an enum value given by name (command lines) or by number."""
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
    """The descriptor of field `name` of `message`; ConfigError listing the fields there are."""
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
    root_name = PIPELINE_FIELD_TO_CONFIG_KEY.get(root_name, root_name)
    if root_name not in CONFIG_KEY_TO_PIPELINE_FIELD:
        raise ConfigError(f"override '{key}': unknown config '{root.group('name')}' (expected one of "
                          f"{', '.join(CONFIG_KEY_TO_PIPELINE_FIELD)} or the pipeline.config names "
                          f"{', '.join(PIPELINE_FIELD_TO_CONFIG_KEY)})")
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
