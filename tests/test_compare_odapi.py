"""benchmarks/compare_odapi.py without an OD API: its reading of both trainers' per-step logs, its flag checks and
its reference path (fast; no TensorFlow, no training)."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import pytest

from tests.commands import REPO, run_command

SCRIPT = REPO / "benchmarks" / "compare_odapi.py"

# As the OD API's model_lib_v2 logs with --alsologtostderr (one figure per 100-step call, the first holding its
# startup; each printed by TensorFlow's logger and by absl).
ODAPI_LOG = """\
INFO:tensorflow:Step 100 per-step time 1.950s
I1206 21:30:01.100000 140 model_lib_v2.py:705] Step 100 per-step time 1.950s
INFO:tensorflow:{'Loss/total_loss': 3.1,
I1206 21:30:01.101000 140 model_lib_v2.py:708] {'Loss/total_loss': 3.1,
INFO:tensorflow:Step 200 per-step time 0.600s
I1206 21:31:01.100000 140 model_lib_v2.py:705] Step 200 per-step time 0.600s
INFO:tensorflow:Step 300 per-step time 0.400s
I1206 21:32:01.100000 140 model_lib_v2.py:705] Step 300 per-step time 0.400s
"""
# As tfsynth's model_lib logs: step 1 alone, then 100 steps after it, and the last step.
TFSYNTH_LOG = """\
I1206 21:24:15.392596 1403 model_lib.py:349] Step 1 per-step time 8.030s loss=4.0256
I1206 21:25:15.392596 1403 model_lib.py:349] Step 101 per-step time 0.700s loss=3.0000
I1206 21:26:15.392596 1403 model_lib.py:349] Step 201 per-step time 0.500s loss=2.5000
I1206 21:27:15.392596 1403 model_lib.py:349] Step 300 per-step time 0.300s loss=2.0000
"""


def _load_script():
    spec = importlib.util.spec_from_file_location("compare_odapi", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compare_odapi():
    return _load_script()


def test_parses_both_trainers_step_lines(compare_odapi):
    assert compare_odapi.parse_step_times(ODAPI_LOG) == [(100, 1.95), (200, 0.6), (300, 0.4)]
    assert compare_odapi.parse_step_times(TFSYNTH_LOG) == [(1, 8.03), (101, 0.7), (201, 0.5), (300, 0.3)]


def test_steady_state_leaves_out_the_warm_up_steps_in_both(compare_odapi):
    # The OD API's first 100-step call, and tfsynth's step 1 and steps 2-101, are left out.
    assert compare_odapi.steady_seconds_per_step(compare_odapi.parse_step_times(ODAPI_LOG), 100) == \
        pytest.approx(0.5)
    assert compare_odapi.steady_seconds_per_step(compare_odapi.parse_step_times(TFSYNTH_LOG), 100) == \
        pytest.approx((100 * 0.5 + 99 * 0.3) / 199)
    # Intervals are weighted by their steps: 99 steps at 0.7 and 100 at 0.5 after the first step.
    assert compare_odapi.steady_seconds_per_step([(1, 8.0), (100, 0.7), (200, 0.5)], 1) == \
        pytest.approx((99 * 0.7 + 100 * 0.5) / 199)


def test_no_steady_figure_when_the_run_stops_in_its_warm_up(compare_odapi):
    assert compare_odapi.steady_seconds_per_step([(100, 1.9)], 100) is None
    assert compare_odapi.steady_seconds_per_step([], 100) is None
    # A second run in the same log starts the count again: only the last run counts, the two are not mixed.
    assert compare_odapi.steady_seconds_per_step([(100, 1.0), (200, 9.0), (100, 1.0), (200, 0.5)], 100) == \
        pytest.approx(0.5)


def test_steps_must_fit_the_odapi_100_step_calls(compare_odapi):
    with pytest.raises(SystemExit):
        compare_odapi.parse_args(["--steps", "150"])
    with pytest.raises(SystemExit):
        compare_odapi.parse_args(["--steps", "100"])
    with pytest.raises(SystemExit):
        compare_odapi.parse_args(["--models", "ssd_b2,yolo"])
    assert compare_odapi.parse_args(["--steps", "200", "--odapi_research", "x"]).steps == 200


def test_a_folder_without_the_odapi_is_refused_by_name(compare_odapi, tmp_path):
    with pytest.raises(SystemExit, match="object_detection/model_main_tf2.py"):
        compare_odapi.check_odapi(tmp_path)


def test_without_an_odapi_it_prints_the_reference_figures():
    env = {key: value for key, value in os.environ.items()
           if key not in ("ODAPI_RESEARCH", "ODAPI_PYTHON")}
    result = run_command([sys.executable, str(SCRIPT)], timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "No OD API given" in lines[0]
    assert "issue 17" in result.stdout
    assert lines[-1].strip(), result.stdout


def test_learning_rates_are_scaled_to_the_run_batch(compare_odapi, tmp_path):
    from google.protobuf import text_format
    from tfsynth.protos import pipeline_pb2

    records = tmp_path / "records"
    records.mkdir()
    (records / "label_map.pbtxt").write_text("item { id: 1 name: 'cola' }\nitem { id: 2 name: 'milk' }\n")
    spec = compare_odapi.MODELS["ssd_b2"]
    sample = text_format.Parse(spec.config.read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    written = text_format.Parse(compare_odapi.write_pipeline(spec, records, 300, tmp_path / "c.config").read_text(),
                                pipeline_pb2.TrainEvalPipelineConfig())
    factor = spec.batch_size / sample.train_config.batch_size
    before = sample.train_config.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    after = written.train_config.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    assert factor < 0.01 and written.train_config.batch_size == spec.batch_size
    assert after.learning_rate_base == pytest.approx(before.learning_rate_base * factor)
    assert after.warmup_learning_rate == pytest.approx(before.warmup_learning_rate * factor)
    assert after.total_steps == before.total_steps  # only rates are scaled
    assert written.model.ssd.num_classes == 2
