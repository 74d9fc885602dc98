"""Which variables train: train_config.freeze_variables / update_trainable_variables, and frozen batch norm.

Patterns are regular expressions matched from the start of the variable name (re.match, as the OD API's
variables_helper.filter_variables), against the name without its ':0' suffix. Unlike the OD API's TF2 loop,
which ignores both fields, they are honoured here, and a pattern that matches no variable is an error.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable, Optional, Sequence

import numpy as np

# Variables of batch-normalization layers that an optimizer would otherwise update (the moving statistics are
# not trainable in the first place).
# Layer names seen: bn_Conv1, Conv_1_bn, block_1_expand_BN, layer_19_1_..._batchnorm, BatchNorm, batch_normalization.
_BATCH_NORM_PATTERN = re.compile(r"(.*/)?[^/]*(bn|batchnorm|batch_norm)[^/]*/(gamma|beta)$", re.IGNORECASE)


def variable_name(variable: Any) -> str:
    """The variable's name without the ':0' output suffix (what the OD API matched, var.op.name)."""
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def _check_patterns(patterns: Sequence[str], variables: Sequence[Any], field: str) -> None:
    names = [variable_name(v) for v in variables]
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"train_config.{field}: {pattern!r} is not a valid regular expression ({error})")
        if not any(compiled.match(name) for name in names):
            examples = ", ".join(names[:: max(1, len(names) // 6)][:6])
            raise ValueError(f"train_config.{field}: pattern {pattern!r} matches no variable (matched with re.match "
                             f"from the start of the name); {len(names)} variables, e.g. {examples}")


def filter_variables(variables: Iterable[Any], patterns: Sequence[str], invert: bool = False) -> list:
    """The OD API's variables_helper.filter_variables: drops variables whose name re.matches any pattern;
    invert=True keeps only those instead."""
    compiled = [re.compile(p) for p in patterns if p]
    kept = []
    for variable in variables:
        matched = any(c.match(variable_name(variable)) for c in compiled)
        if matched == invert:
            kept.append(variable)
    return kept


def is_batch_norm_parameter(variable: Any) -> bool:
    """True for the gamma / beta of a batch-normalization layer."""
    return bool(_BATCH_NORM_PATTERN.match(variable_name(variable)))


def select_trainable_variables(variables: Sequence[Any], update_trainable_variables: Sequence[str] = (),
                               freeze_variables: Sequence[str] = (), freeze_batchnorm: bool = False) -> list:
    """The variables the optimizer updates.

    variables: the model's trainable variables. update_trainable_variables: when not empty, only matching
    variables train. freeze_variables: matching variables do not train (applied after the include list).
    freeze_batchnorm: batch-norm gamma/beta do not train either (with frozen statistics, frozen layers).
    Raises ValueError when a pattern matches no variable, or when nothing is left to train.
    """
    variables = list(variables)
    update_trainable_variables = [p for p in update_trainable_variables if p]
    freeze_variables = [p for p in freeze_variables if p]
    _check_patterns(update_trainable_variables, variables, "update_trainable_variables")
    _check_patterns(freeze_variables, variables, "freeze_variables")
    selected = variables
    if update_trainable_variables:
        selected = filter_variables(selected, update_trainable_variables, invert=True)
    if freeze_variables:
        selected = filter_variables(selected, freeze_variables)
    if freeze_batchnorm:
        selected = [v for v in selected if not is_batch_norm_parameter(v)]
    if not selected:
        raise ValueError(f"no variable left to train: update_trainable_variables={update_trainable_variables}, "
                         f"freeze_variables={freeze_variables}, freeze_batchnorm={freeze_batchnorm} "
                         f"exclude all {len(variables)} trainable variables")
    return selected


def count_parameters(variables: Iterable[Any]) -> int:
    """Total number of scalar parameters."""
    return int(sum(int(np.prod(v.shape)) for v in variables))


def log_selection(selected: Sequence[Any], all_variables: Sequence[Any],
                  logger: Optional[logging.Logger] = None) -> str:
    """Logs (and returns) 'Training N of M variables (P of Q parameters)'."""
    text = (f"Training {len(selected)} of {len(all_variables)} trainable variables "
            f"({count_parameters(selected):,} of {count_parameters(all_variables):,} parameters)")
    (logger or logging.getLogger(__name__)).info(text)
    return text


def train_config_selection(train_config: Any, model_config: Any = None) -> dict:
    """Keyword arguments of select_trainable_variables from a TrainConfig (and the model config's
    freeze_batchnorm, and train_config.batch_norm_trainable when explicitly set to false)."""
    freeze_batchnorm = False
    if model_config is not None and model_config.WhichOneof("model"):
        meta = getattr(model_config, model_config.WhichOneof("model"))
        freeze_batchnorm = bool(getattr(meta, "freeze_batchnorm", False))
    if train_config is not None and _has_field(train_config, "batch_norm_trainable") \
            and not train_config.batch_norm_trainable:
        freeze_batchnorm = True
    return {
        "update_trainable_variables": list(getattr(train_config, "update_trainable_variables", [])),
        "freeze_variables": list(getattr(train_config, "freeze_variables", [])),
        "freeze_batchnorm": freeze_batchnorm,
    }


def _has_field(message: Any, field: str) -> bool:
    try:
        return message.HasField(field)
    except ValueError:  # not an optional field in this proto version
        return False
