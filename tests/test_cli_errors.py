"""Command-line errors are one line (tfsynth.utils.cli) and cheap checks come before expensive work: real commands
as subprocesses, generate's stale outputs and early refusals, detect's output names."""
from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

from tfsynth.generate.pipeline import GenerateConfig, run
from tfsynth.utils import cli
from tests.commands import run_module



def _command(*args: str) -> subprocess.CompletedProcess:
    return run_module(*args, timeout=600)


def _error_lines(stderr: str, command: str) -> list[str]:
    # TensorFlow logs its start-up on stderr too; the command's own lines start with its name.
    return [line for line in stderr.splitlines() if line.startswith(f"{command}:")]


# --- the wrapper through real commands ----------------------------------------------------------------------

def test_convert_missing_input_is_one_line(tmp_path):
    result = _command("tfsynth.convert", "--input_format", "cntk", "--input_path", str(tmp_path / "nowhere"),
                      "--output_dir", str(tmp_path / "out"))
    assert result.returncode == cli.EXIT_ERROR == 1
    assert _error_lines(result.stderr, "convert") == [
        f"convert: error: {tmp_path / 'nowhere'}: not a folder; expected the root of a CNTK image/box-file layout"]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_generate_errors_one_line_and_verbose_traceback(tmp_path):
    (tmp_path / "file").write_text("")
    refused = _command("tfsynth.generate", "--output_dir", str(tmp_path / "file" / "out"), "--num_images", "1")
    expected = (f"generate: error: {tmp_path / 'file' / 'out'}: cannot be created (--output_dir): "
                f"{tmp_path / 'file'} is a file, not a folder")
    assert refused.returncode == 1 and refused.stderr.strip() == expected
    verbose = _command("tfsynth.generate", "--output_dir", str(tmp_path / "file" / "out"), "--num_images", "1",
                       "--verbose")
    assert verbose.returncode == 1
    assert verbose.stderr.startswith("Traceback (most recent call last):")
    assert verbose.stderr.strip().splitlines()[-1] == expected
    # Counts are refused while absl parses the flags (its own one line), before any rendering.
    for flag in ("--num_images=0", "--num_images=-5", "--num_shards=0"):
        parsed = _command("tfsynth.generate", "--output_dir", str(tmp_path / "g"), flag)
        assert parsed.returncode == 1 and f"flag {flag}: " in parsed.stderr and "Traceback" not in parsed.stderr
    assert not (tmp_path / "g").exists()


def test_model_main_empty_pipeline_config_is_one_line(tmp_path):
    (tmp_path / "pipeline.config").write_text("")
    result = _command("tfsynth.model_main_tf2", f"--pipeline_config_path={tmp_path / 'pipeline.config'}",
                      f"--model_dir={tmp_path / 'model'}")
    assert result.returncode == 1, result.stderr[-3000:]
    assert len(_error_lines(result.stderr, "model_main_tf2")) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_model_main_evaluator_that_evaluated_nothing_fails_naming_the_folder(tmp_path):
    """As the OD API it waits for a trainer to make --checkpoint_dir, warning that it does not exist; but when
    no checkpoint came within --eval_timeout it fails instead of passing for a run that evaluated something."""
    from tests import train_fixtures
    pipeline = train_fixtures.write_pipeline(str(tmp_path))
    missing = tmp_path / "no_such_run"
    result = _command("tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline}", f"--model_dir={tmp_path / 'e'}",
                      f"--checkpoint_dir={missing}", "--eval_timeout=1", "--eval_wait_interval=0")
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"checkpoint_dir {missing} does not exist (yet): waiting up to 1 s" in result.stderr
    assert _error_lines(result.stderr, "model_main_tf2") == [
        f"model_main_tf2: error: --checkpoint_dir {missing}: no checkpoint there was evaluated (none appeared "
        "within --eval_timeout 1 s, or each was deleted by the trainer's max_to_keep before it could be read)"]


def test_expected_errors_and_bugs(capsys):
    from tfsynth.generate.sampler import parse_range

    def deliberate() -> None:
        parse_range("x", "products_per_image")  # a ValueError raised by tfsynth's own `raise`

    assert cli.call("demo", deliberate) == 1
    assert capsys.readouterr().err.startswith("demo: error: ")
    assert cli.call("demo", lambda: open("/nonexistent/x.config")) == 1
    assert capsys.readouterr().err == "demo: error: /nonexistent/x.config: No such file or directory\n"
    assert cli.call("demo", lambda: 1 / 0) == cli.EXIT_BUG == 70  # a bug: traceback always, then the line
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "demo: internal error: ZeroDivisionError: division by zero" in err
    assert cli.call("demo", deliberate, verbose=True) == 1
    assert capsys.readouterr().err.startswith("Traceback")


# --- generate: early refusals, stale outputs ----------------------------------------------------------------

def _config(out, **kw) -> GenerateConfig:
    base = dict(output_dir=str(out), num_images=2, validation_images=0, num_workers=1, seed=1, width=16, height=16,
                num_shards=1, preset="fast", chunk_size=2, products_per_image=(1, 1), distractors=(0, 0))
    base.update(kw)
    return GenerateConfig(**base)


def test_generate_refuses_bad_counts_before_rendering(tmp_path):
    for field, value in (("num_shards", 0), ("num_images", 0), ("num_images", -5), ("validation_images", -1)):
        with pytest.raises(ValueError, match=f"--{field} {value}: expected"):
            run(_config(tmp_path / "out", **{field: value}), progress=False)
    assert not (tmp_path / "out").exists()  # nothing rendered, nothing created


def test_generate_removes_stale_outputs_but_not_its_own(tmp_path):
    out = tmp_path / "out"
    run(_config(out, num_images=3, validation_images=1, num_shards=3, write_images=True), progress=False)
    assert len(glob.glob(str(out / "*.tfrecord"))) == 5 and os.path.exists(out / "val_coco.json")
    second = run(_config(out, num_shards=1, keep_chunks=True), progress=False)
    assert sorted(os.path.basename(p) for p in glob.glob(str(out / "*.tfrecord"))) == ["train-00000-of-00001.tfrecord"]
    removed = {os.path.relpath(p, out) for p in second["removed_stale_outputs"]}
    assert removed == {f"train-0000{i}-of-00003.tfrecord" for i in range(3)} | {
        "val-00000-of-00002.tfrecord", "val-00001-of-00002.tfrecord", "val_coco.json",
        *(os.path.join("images", "train", f"train_00000{i}.jpg") for i in range(3)),
        os.path.join("images", "val", "val_000000.jpg")}
    assert json.load(open(out / "manifest.json"))["removed_stale_outputs"] == second["removed_stale_outputs"]
    # The same flags again (a resumed run): every chunk reused, nothing of its own removed.
    shard = (out / "train-00000-of-00001.tfrecord").read_bytes()
    third = run(_config(out, num_shards=1, keep_chunks=True), progress=False)
    assert third["rendered_this_run"] == 0 and third["removed_stale_outputs"] == []
    assert (out / "train-00000-of-00001.tfrecord").read_bytes() == shard


# --- detect: output names -----------------------------------------------------------------------------------

def test_detect_output_names_keep_the_relative_path(tmp_path):
    from tfsynth import detect
    out = str(tmp_path / "out")
    names = detect.output_names(["photos/a/1.jpg", "photos/b/1.jpg"], out)
    assert names == {"photos/a/1.jpg": os.path.join(out, "a", "1.png"),
                     "photos/b/1.jpg": os.path.join(out, "b", "1.png")}
    with pytest.raises(ValueError, match="photos/1.jpg and photos/1.png would both be drawn to"):
        detect.output_names(["photos/1.jpg", "photos/1.png"], out)
    with pytest.raises(ValueError, match="would overwrite an input image"):
        detect.output_names([str(tmp_path / "p" / "1.png")], str(tmp_path / "p"))
    # Refused before the model is looked at: no SavedModel is needed to get this error.
    for name in ("1.jpg", "1.png"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match="would both be drawn to"):
        detect.run_detection(str(tmp_path / "no_model"), str(tmp_path / "1.*"), out)
    assert not os.path.exists(out)


@pytest.mark.parametrize("text", ["-1", "-5", "-2,4"])
def test_a_negative_count_is_refused_not_read_as_a_range(text):
    from tfsynth.generate.sampler import parse_range
    with pytest.raises(ValueError, match=r"--distractors '-.*': expected N or MIN,MAX with 0 <= MIN <= MAX"):
        parse_range(text, "distractors")
    assert parse_range("2-4", "distractors") == (2, 4)


def test_a_pipeline_config_with_a_byte_order_mark_reads(tmp_path):
    from tfsynth.utils import config_io
    path = tmp_path / "pipeline.config"
    path.write_bytes(b"\xef\xbb\xbfmodel { ssd { num_classes: 3 } }\r\n")
    assert config_io.get_configs_from_pipeline_file(str(path))["model"].ssd.num_classes == 3
