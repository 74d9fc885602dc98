"""optimizer_builder and learning_schedules: optimizers from Optimizer protos, schedules at chosen steps
against values computed by hand from the OD API's formulas."""
import math

import pytest
import tensorflow as tf
import tf_keras
from google.protobuf import text_format

from tfsynth.builders import optimizer_builder
from tfsynth.protos import optimizer_pb2


def _optimizer(text: str):
    return text_format.Parse(text, optimizer_pb2.Optimizer())


def _rate(schedule, step):
    return float(schedule(tf.constant(step)))


def test_momentum_cosine_from_sample_config():
    # The ssd_mobilenet_v2_320x320 sample config's optimizer.
    config = _optimizer("""
      momentum_optimizer: {
        learning_rate: { cosine_decay_learning_rate {
          learning_rate_base: .8 total_steps: 50000 warmup_learning_rate: 0.13333 warmup_steps: 2000 } }
        momentum_optimizer_value: 0.9 }
      use_moving_average: false""")
    optimizer, summary_vars = optimizer_builder.build(config)
    assert isinstance(optimizer, tf_keras.optimizers.SGD)
    assert optimizer.momentum == pytest.approx(0.9)
    schedule = optimizer._learning_rate
    slope = (0.8 - 0.13333) / 2000
    assert _rate(schedule, 0) == pytest.approx(0.13333, rel=1e-5)
    assert _rate(schedule, 1000) == pytest.approx(0.13333 + slope * 1000, rel=1e-5)
    assert _rate(schedule, 2000) == pytest.approx(0.8, rel=1e-5)
    mid = 2000 + (50000 - 2000) / 2
    assert _rate(schedule, mid) == pytest.approx(0.4, rel=1e-4)
    assert _rate(schedule, 10000) == pytest.approx(0.4 * (1 + math.cos(math.pi * 8000 / 48000)), rel=1e-5)
    assert _rate(schedule, 50001) == 0.0
    # The summary callable follows the optimizer's iterations.
    assert float(summary_vars[0]()) == pytest.approx(0.13333, rel=1e-5)
    variable = tf.Variable([1.0, 2.0])
    optimizer.apply_gradients([(tf.constant([1.0, 1.0]), variable)])
    assert float(summary_vars[0]()) == pytest.approx(0.13333 + slope, rel=1e-5)
    # First SGD step uses the step-0 rate.
    assert variable.numpy() == pytest.approx([1.0 - 0.13333, 2.0 - 0.13333], rel=1e-5)


def test_cosine_hold_base_rate():
    config = _optimizer("""momentum_optimizer { learning_rate { cosine_decay_learning_rate {
        learning_rate_base: 1.0 total_steps: 100 warmup_learning_rate: 0.0 warmup_steps: 10
        hold_base_rate_steps: 20 } } }""")
    schedule = optimizer_builder.build(config)[0]._learning_rate
    assert _rate(schedule, 5) == pytest.approx(0.5)
    assert _rate(schedule, 25) == pytest.approx(1.0)
    assert _rate(schedule, 30) == pytest.approx(1.0)
    assert _rate(schedule, 65) == pytest.approx(0.5, abs=1e-6)
    assert _rate(schedule, 100) == pytest.approx(0.0, abs=1e-6)


def test_exponential_decay_with_burnin_and_floor():
    config = _optimizer("""rms_prop_optimizer { learning_rate { exponential_decay_learning_rate {
        initial_learning_rate: 0.1 decay_steps: 10 decay_factor: 0.5 staircase: true
        burnin_learning_rate: 0.01 burnin_steps: 5 min_learning_rate: 0.02 } }
        momentum_optimizer_value: 0.8 decay: 0.95 epsilon: 0.5 }""")
    optimizer, _ = optimizer_builder.build(config)
    assert isinstance(optimizer, tf_keras.optimizers.RMSprop)
    assert optimizer.rho == pytest.approx(0.95)
    assert optimizer.momentum == pytest.approx(0.8)
    assert optimizer.epsilon == pytest.approx(0.5)
    schedule = optimizer._learning_rate
    assert _rate(schedule, 0) == pytest.approx(0.02)  # burn-in rate 0.01 lifted to the floor
    assert _rate(schedule, 5) == pytest.approx(0.1)
    assert _rate(schedule, 14) == pytest.approx(0.1)
    assert _rate(schedule, 15) == pytest.approx(0.05)
    assert _rate(schedule, 25) == pytest.approx(0.025)
    assert _rate(schedule, 1000) == pytest.approx(0.02)


def test_exponential_decay_smooth():
    config = _optimizer("""adam_optimizer { learning_rate { exponential_decay_learning_rate {
        initial_learning_rate: 1.0 decay_steps: 10 decay_factor: 0.5 staircase: false } } epsilon: 1e-7 }""")
    optimizer, _ = optimizer_builder.build(config)
    assert isinstance(optimizer, tf_keras.optimizers.Adam)
    assert optimizer.epsilon == pytest.approx(1e-7)
    assert _rate(optimizer._learning_rate, 5) == pytest.approx(0.5 ** 0.5, rel=1e-5)


def test_manual_step_with_and_without_warmup():
    text = """momentum_optimizer {{ learning_rate {{ manual_step_learning_rate {{
        initial_learning_rate: 0.1 warmup: {warmup}
        schedule {{ step: 10 learning_rate: 0.2 }} schedule {{ step: 20 learning_rate: 0.03 }} }} }} }}"""
    plain = optimizer_builder.build(_optimizer(text.format(warmup="false")))[0]._learning_rate
    assert [_rate(plain, s) for s in (0, 9, 10, 19, 20, 500)] == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.03, 0.03])
    warm = optimizer_builder.build(_optimizer(text.format(warmup="true")))[0]._learning_rate
    assert [_rate(warm, s) for s in (0, 5, 9, 10, 20)] == pytest.approx([0.1, 0.15, 0.19, 0.2, 0.03])


def test_constant_and_global_step():
    config = _optimizer("momentum_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.25 } } }")
    step = tf.Variable(0, dtype=tf.int64)
    optimizer, summary_vars = optimizer_builder.build(config, global_step=step)
    assert float(summary_vars[0]()) == pytest.approx(0.25)
    # use_moving_average defaults to true in the OD API's proto.
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(0.9999)


def test_global_step_drives_schedule():
    config = _optimizer("""momentum_optimizer { learning_rate { manual_step_learning_rate {
        initial_learning_rate: 1.0 schedule { step: 3 learning_rate: 0.5 } } } } use_moving_average: false""")
    step = tf.Variable(0, dtype=tf.int64)
    optimizer, summary_vars = optimizer_builder.build(config, global_step=step)
    step.assign(3)
    assert float(summary_vars[0]()) == pytest.approx(0.5)
    variable = tf.Variable(0.0)
    optimizer.apply_gradients([(tf.constant(1.0), variable)])  # optimizer.iterations is 0, global step 3
    assert float(variable.numpy()) == pytest.approx(-0.5)


def test_moving_average_swap():
    config = _optimizer("""momentum_optimizer { learning_rate { constant_learning_rate { learning_rate: 1.0 } }
        momentum_optimizer_value: 0.0 } use_moving_average: true moving_average_decay: 0.5""")
    optimizer, _ = optimizer_builder.build(config)
    variable = tf.Variable(0.0)
    for _ in range(2):
        optimizer.apply_gradients([(tf.constant(-1.0), variable)])
    assert float(variable.numpy()) == pytest.approx(2.0)
    optimizer_builder.swap_in_moving_averages(optimizer, [variable])
    average = float(variable.numpy())
    assert average < 2.0
    optimizer_builder.swap_in_moving_averages(optimizer, [variable])
    assert float(variable.numpy()) == pytest.approx(2.0)


@pytest.mark.parametrize("text, message", [
    ("use_moving_average: false", "no optimizer set"),
    ("momentum_optimizer { }", "learning rate type None"),
    ("momentum_optimizer { learning_rate { manual_step_learning_rate { } } }", "empty `schedule`"),
    ("momentum_optimizer { learning_rate { cosine_decay_learning_rate { total_steps: 5 warmup_steps: 10 } } }",
     "total_steps"),
])
def test_bad_configs_name_the_field(text, message):
    with pytest.raises(ValueError, match=message):
        optimizer_builder.build(_optimizer(text))


@pytest.mark.parametrize("schedule, message", [
    ("cosine_decay_learning_rate { learning_rate_base: -0.004 total_steps: 100 }",
     r"momentum_optimizer\.learning_rate\.cosine_decay_learning_rate\.learning_rate_base: -0\.004 \(expected >= 0\)"),
    ("cosine_decay_learning_rate { learning_rate_base: 0.004 total_steps: 100 warmup_steps: 200 }",
     r"warmup_steps 200 > total_steps 100"),
    ("cosine_decay_learning_rate { learning_rate_base: 0.004 total_steps: 0 }", r"total_steps: 0 \(expected a positive"),
    ("exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_steps: 0 }", r"decay_steps: 0"),
    ("manual_step_learning_rate { initial_learning_rate: 0.1 schedule { step: 10 learning_rate: -1 } }",
     r"manual_step_learning_rate\.schedule\[0\]: step 10, learning_rate -1"),
])
def test_meaningless_schedules_are_refused_naming_the_field(schedule, message):
    config = text_format.Parse(f"momentum_optimizer {{ learning_rate {{ {schedule} }} }}", optimizer_pb2.Optimizer())
    with pytest.raises(ValueError, match=r"train_config\.optimizer\..*" + message):
        optimizer_builder.build(config)
