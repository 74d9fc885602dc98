"""The OD API's learning-rate schedules (utils/learning_schedules.py) as Keras LearningRateSchedule objects.

Each schedule maps a global step to a learning rate with the OD API's formula, so a pipeline.config trained
here follows the same curve as under the OD API. They are tf_keras LearningRateSchedule subclasses: an
optimizer given one evaluates it at its own `iterations` on every step (a plain zero-argument callable would be
read once and frozen by tf_keras's optimizers).
"""
from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf
import tf_keras


class ConstantSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
    """A fixed learning rate (ConstantLearningRate)."""

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)

    def __call__(self, step):
        return tf.constant(self.learning_rate, tf.float32)

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate}


class ExponentialDecayWithBurnin(tf_keras.optimizers.schedules.LearningRateSchedule):
    """OD API exponential_decay_with_burnin: `burnin_learning_rate` (0 means the base rate) for the first
    `burnin_steps`, then base * factor ** ((step - burnin_steps) / decay_steps) (floored when staircase),
    never below `min_learning_rate`."""

    def __init__(self, learning_rate_base: float, learning_rate_decay_steps: int,
                 learning_rate_decay_factor: float, burnin_learning_rate: float = 0.0,
                 burnin_steps: int = 0, min_learning_rate: float = 0.0, staircase: bool = True):
        if learning_rate_decay_steps <= 0:
            raise ValueError(f"exponential_decay_learning_rate.decay_steps must be > 0, got "
                             f"{learning_rate_decay_steps}")
        self.learning_rate_base = float(learning_rate_base)
        self.learning_rate_decay_steps = int(learning_rate_decay_steps)
        self.learning_rate_decay_factor = float(learning_rate_decay_factor)
        self.burnin_learning_rate = float(burnin_learning_rate)
        self.burnin_steps = int(burnin_steps)
        self.min_learning_rate = float(min_learning_rate)
        self.staircase = bool(staircase)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        burnin_rate = self.burnin_learning_rate or self.learning_rate_base
        exponent = (step - self.burnin_steps) / self.learning_rate_decay_steps
        if self.staircase:
            exponent = tf.floor(exponent)
        decayed = self.learning_rate_base * tf.pow(self.learning_rate_decay_factor, exponent)
        rate = tf.where(step < self.burnin_steps, burnin_rate, decayed)
        return tf.maximum(rate, self.min_learning_rate)

    def get_config(self) -> dict:
        return dict(vars(self))


class CosineDecayWithWarmup(tf_keras.optimizers.schedules.LearningRateSchedule):
    """OD API cosine_decay_with_warmup: linear warm-up from `warmup_learning_rate` to `learning_rate_base` over
    `warmup_steps`, hold the base rate for `hold_base_rate_steps`, cosine decay to 0 at `total_steps`, 0 after."""

    def __init__(self, learning_rate_base: float, total_steps: int, warmup_learning_rate: float = 0.0,
                 warmup_steps: int = 0, hold_base_rate_steps: int = 0):
        if total_steps < warmup_steps:
            raise ValueError(f"cosine_decay_learning_rate: total_steps ({total_steps}) must be larger or equal "
                             f"to warmup_steps ({warmup_steps})")
        if warmup_steps > 0 and learning_rate_base < warmup_learning_rate:
            raise ValueError(f"cosine_decay_learning_rate: learning_rate_base ({learning_rate_base}) must be "
                             f"larger or equal to warmup_learning_rate ({warmup_learning_rate})")
        self.learning_rate_base = float(learning_rate_base)
        self.total_steps = int(total_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.hold_base_rate_steps = int(hold_base_rate_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        decay_start = self.warmup_steps + self.hold_base_rate_steps
        # max(1, ...) only guards the degenerate total == warmup + hold config; the OD API divides by zero there.
        decay_length = float(max(1, self.total_steps - decay_start))
        rate = 0.5 * self.learning_rate_base * (1.0 + tf.cos(math.pi * (step - decay_start) / decay_length))
        if self.hold_base_rate_steps > 0:
            rate = tf.where(step > decay_start, rate, self.learning_rate_base)
        if self.warmup_steps > 0:
            slope = (self.learning_rate_base - self.warmup_learning_rate) / self.warmup_steps
            rate = tf.where(step < self.warmup_steps, slope * step + self.warmup_learning_rate, rate)
        return tf.where(step > self.total_steps, 0.0, rate)

    def get_config(self) -> dict:
        return dict(vars(self))


class ManualStepping(tf_keras.optimizers.schedules.LearningRateSchedule):
    """OD API manual_stepping: rates[i] from boundaries[i-1] on (rates[0] before boundaries[0]); with `warmup`,
    the rate rises linearly from rates[0] to rates[1] over steps [0, boundaries[0])."""

    def __init__(self, boundaries: Sequence[int], rates: Sequence[float], warmup: bool = False):
        boundaries = [int(b) for b in boundaries]
        rates = [float(r) for r in rates]
        if any(b < 0 for b in boundaries):
            raise ValueError(f"manual_step_learning_rate: schedule steps must be positive integers, got {boundaries}")
        if any(b_next <= b for b_next, b in zip(boundaries[1:], boundaries[:-1])):
            raise ValueError(f"manual_step_learning_rate: schedule steps must be strictly increasing, got "
                             f"{boundaries}")
        if len(rates) != len(boundaries) + 1:
            raise ValueError("manual_step_learning_rate: number of learning rates must exceed the number of "
                             "schedule steps by exactly 1")
        if boundaries and boundaries[0] == 0:
            raise ValueError("manual_step_learning_rate: first schedule step cannot be zero")
        self.boundaries = boundaries
        self.rates = rates
        self.warmup = bool(warmup)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        boundaries = tf.constant([0.0] + [float(b) for b in self.boundaries])
        rates = tf.constant(self.rates, tf.float32)
        index = tf.reduce_sum(tf.cast(step >= boundaries, tf.int32)) - 1
        index = tf.maximum(index, 0)  # negative steps read the initial rate
        rate = tf.gather(rates, index)
        if self.warmup and self.boundaries:
            slope = (self.rates[1] - self.rates[0]) / self.boundaries[0]
            # The OD API interpolates at integer steps; floor keeps fractional steps on the same staircase.
            warm = self.rates[0] + slope * tf.floor(step)
            rate = tf.where(step < self.boundaries[0], warm, rate)
        return rate

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "rates": self.rates, "warmup": self.warmup}


class AtGlobalStep(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Evaluates `schedule` at an external global-step variable instead of the optimizer's own iteration count
    (the OD API drives its schedules from the model's global_step)."""

    def __init__(self, schedule: tf_keras.optimizers.schedules.LearningRateSchedule, global_step: tf.Variable):
        self.schedule = schedule
        self.global_step = global_step

    def __call__(self, step):
        return self.schedule(self.global_step)

    def get_config(self) -> dict:
        return {"schedule": self.schedule.get_config()}
