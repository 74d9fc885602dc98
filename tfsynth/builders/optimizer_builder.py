"""Optimizer proto (train_config.optimizer) -> tf_keras optimizer and its learning-rate schedule.

Follows the OD API's TF2 optimizer_builder: momentum_optimizer -> SGD with momentum, rms_prop_optimizer ->
RMSprop, adam_optimizer -> Adam; learning rates constant / exponential_decay / manual_step / cosine_decay as in
its learning_schedules.

Where this differs from the OD API, on purpose:
- rms_prop_optimizer.decay is passed as RMSprop's `rho` (its meaning in TF1's RMSPropOptimizer, which the proto
  documents); the OD API's TF2 code passed it as Keras's learning-rate time decay, a silent change of meaning.
- use_moving_average uses tf_keras's built-in optimizer EMA (`use_ema=True, ema_momentum=moving_average_decay`)
  instead of the OD API's ExponentialMovingAverage wrapper. The averages live in the optimizer (and its
  checkpoint); call `optimizer.finalize_variable_values(model.trainable_variables)` to copy them into the model
  before export, or `swap_in_moving_averages` below for evaluation.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
import tf_keras

from tfsynth.utils import learning_schedules


def _field(message, name: str, default):
    """Value of an optional proto field, or `default` when the message type has no such field (older protos)."""
    if name in message.DESCRIPTOR.fields_by_name:
        return getattr(message, name)
    return default


def _check_schedule_values(config, where: str) -> None:
    """ValueError naming the field for a negative rate or step count, a decay or cosine schedule of no steps,
    or a warmup longer than the schedule: training would run with a meaningless (or sign-flipped) rate."""
    for field in config.DESCRIPTOR.fields:
        if field.is_repeated or field.type == field.TYPE_MESSAGE:
            continue
        value = getattr(config, field.name)
        if ("learning_rate" in field.name or field.name.endswith("_steps")) and value < 0:
            raise ValueError(f"{where}.{field.name}: {value:g} (expected >= 0)")
    for name in ("decay_steps", "total_steps"):
        if name in config.DESCRIPTOR.fields_by_name and getattr(config, name) <= 0:
            raise ValueError(f"{where}.{name}: {getattr(config, name)} (expected a positive number of steps)")
    if "total_steps" in config.DESCRIPTOR.fields_by_name and config.warmup_steps > config.total_steps:
        raise ValueError(f"{where}: warmup_steps {config.warmup_steps} > total_steps {config.total_steps} "
                         "(expected warmup_steps <= total_steps)")


def build_learning_rate(learning_rate_config, where: str = "optimizer.learning_rate"
                        ) -> tf_keras.optimizers.schedules.LearningRateSchedule:
    """LearningRate proto -> a LearningRateSchedule (step -> rate) with the OD API's formulas.

    Raises ValueError naming the field (under `where`) when the oneof is unset or a schedule is malformed.
    """
    kind = learning_rate_config.WhichOneof("learning_rate")
    if kind is not None:
        schedule_config = getattr(learning_rate_config, kind)
        _check_schedule_values(schedule_config, f"{where}.{kind}")
        for index, entry in enumerate(getattr(schedule_config, "schedule", [])):
            if entry.learning_rate < 0 or entry.step < 0:
                raise ValueError(f"{where}.{kind}.schedule[{index}]: step {entry.step}, learning_rate "
                                 f"{entry.learning_rate:g} (expected both >= 0)")
    if kind == "constant_learning_rate":
        return learning_schedules.ConstantSchedule(learning_rate_config.constant_learning_rate.learning_rate)
    if kind == "exponential_decay_learning_rate":
        config = learning_rate_config.exponential_decay_learning_rate
        return learning_schedules.ExponentialDecayWithBurnin(
            config.initial_learning_rate, config.decay_steps, config.decay_factor,
            burnin_learning_rate=_field(config, "burnin_learning_rate", 0.0),
            burnin_steps=_field(config, "burnin_steps", 0),
            min_learning_rate=_field(config, "min_learning_rate", 0.0),
            staircase=config.staircase)
    if kind == "manual_step_learning_rate":
        config = learning_rate_config.manual_step_learning_rate
        if not config.schedule:
            raise ValueError("optimizer.learning_rate.manual_step_learning_rate: empty `schedule`")
        boundaries = [entry.step for entry in config.schedule]
        rates = [config.initial_learning_rate] + [entry.learning_rate for entry in config.schedule]
        return learning_schedules.ManualStepping(boundaries, rates, warmup=config.warmup)
    if kind == "cosine_decay_learning_rate":
        config = learning_rate_config.cosine_decay_learning_rate
        return learning_schedules.CosineDecayWithWarmup(
            config.learning_rate_base, config.total_steps,
            warmup_learning_rate=config.warmup_learning_rate, warmup_steps=config.warmup_steps,
            hold_base_rate_steps=config.hold_base_rate_steps)
    raise ValueError(f"optimizer.learning_rate: learning rate type {kind!r} not supported; expected one of "
                     "constant_learning_rate, exponential_decay_learning_rate, manual_step_learning_rate, "
                     "cosine_decay_learning_rate")


def build(optimizer_config, global_step: tf.Variable | None = None
          ) -> tuple[tf_keras.optimizers.Optimizer, list[Callable[[], tf.Tensor]]]:
    """Optimizer proto -> (tf_keras optimizer, [learning-rate callable for summaries]).

    The optimizer's learning rate is a LearningRateSchedule evaluated at `global_step` when one is given (as the
    OD API does), else at the optimizer's own `iterations`. The returned list holds one zero-argument callable
    giving the current learning rate, the OD API's `summary_vars`.
    """
    kind = optimizer_config.WhichOneof("optimizer")
    if kind is None:
        raise ValueError("train_config.optimizer: no optimizer set; expected one of momentum_optimizer, "
                         "rms_prop_optimizer, adam_optimizer")
    config = getattr(optimizer_config, kind)
    schedule = build_learning_rate(config.learning_rate, f"train_config.optimizer.{kind}.learning_rate")
    if global_step is not None:
        schedule = learning_schedules.AtGlobalStep(schedule, global_step)

    ema = {}
    if optimizer_config.use_moving_average:
        ema = {"use_ema": True, "ema_momentum": optimizer_config.moving_average_decay}

    if kind == "momentum_optimizer":
        optimizer = tf_keras.optimizers.SGD(schedule, momentum=config.momentum_optimizer_value, **ema)
    elif kind == "rms_prop_optimizer":
        optimizer = tf_keras.optimizers.RMSprop(schedule, rho=config.decay,
                                                momentum=config.momentum_optimizer_value,
                                                epsilon=config.epsilon, **ema)
    elif kind == "adam_optimizer":
        optimizer = tf_keras.optimizers.Adam(schedule, epsilon=_field(config, "epsilon", 1e-8), **ema)
    else:
        raise ValueError(f"train_config.optimizer: optimizer {kind!r} not supported; expected one of "
                         "momentum_optimizer, rms_prop_optimizer, adam_optimizer")

    def current_learning_rate() -> tf.Tensor:
        step = global_step if global_step is not None else optimizer.iterations
        return schedule(step)

    return optimizer, [current_learning_rate]


def swap_in_moving_averages(optimizer: tf_keras.optimizers.Optimizer, variables) -> None:
    """Swaps each variable with its moving average kept by an EMA optimizer (call again to swap back)."""
    if not getattr(optimizer, "use_ema", False):
        raise ValueError("swap_in_moving_averages: the optimizer was not built with use_moving_average")
    for variable in variables:
        average = optimizer._model_variables_moving_average[optimizer._index_dict[optimizer._var_key(variable)]]
        saved = tf.identity(variable)
        variable.assign(average)
        average.assign(saved)
