"""generate --runner: the Beam pipeline on a real DirectRunner (worker processes, real renderer), tiny images.

The pool is the reference: for the same seed and flags every output file of a Beam run (records, COCO JSON, label
map) has the bytes of the pool's, whatever the number of Beam workers. apache-beam comes with the test extra, so
these tests run wherever the suite does.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import pathlib
import sys

import pytest

from tests.commands import run_killing_a_worker, run_module
from tfsynth.generate.pipeline import GenerateConfig

# Small, but enough for every shard of train (3 shards) and val (2 shards) to hold several images, masks on so the
# COCO segmentation goes through the receipts too.
FLAGS = dict(num_images=12, validation_images=3, seed=5, width=64, height=48, num_shards=3, preset="fast",
             products_per_image=(4, 8), include_masks=True)
# Fields of manifest.json that say how the run went rather than what it wrote.
RUN_FIELDS = ("render_seconds", "total_seconds", "rendered_this_run", "runner", "config")


def _argv(out, **extra) -> list[str]:
    flags = {**FLAGS, "output_dir": out, **extra}
    argv = []
    for name, value in flags.items():
        if isinstance(value, bool):
            argv.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, tuple):
            argv.append(f"--{name}={','.join(map(str, value))}")
        else:
            argv.append(f"--{name}={value}")
    return argv


def _digests(folder) -> dict[str, str]:
    """Relative path -> sha256 of every file of an output folder but manifest.json (it holds timings)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def _manifest_outputs(folder) -> dict:
    """manifest.json without its run fields, the output folder's path replaced by OUT."""
    text = (pathlib.Path(folder) / "manifest.json").read_text().replace(json.dumps(str(folder))[1:-1], "OUT")
    return {key: value for key, value in json.loads(text).items() if key not in RUN_FIELDS}


def _beam(out, *options: str, **extra):
    """`python -m tfsynth.generate ... --runner DirectRunner` as a user runs it; returns the process."""
    argv = _argv(out, **extra) + ["--runner=DirectRunner"]
    if options:
        argv.append("--beam_pipeline_options=" + ",".join(options))
    return run_module("tfsynth.generate", *argv, timeout=600)


@pytest.fixture(scope="module")
def pool_outputs(tmp_path_factory):
    """The local pool's outputs (the command without --runner, 2 render processes)."""
    out = tmp_path_factory.mktemp("pool")
    pool = run_module("tfsynth.generate", *_argv(out, num_workers=2), timeout=600)
    assert pool.returncode == 0, pool.stderr[-3000:]
    return out


def test_beam_records_are_the_pools_bytes_with_1_and_2_workers(pool_outputs, tmp_path):
    two = _beam(tmp_path / "two", "direct_running_mode=multi_processing", "direct_num_workers=2", keep_chunks=True)
    assert two.returncode == 0, two.stderr[-3000:]
    one = _beam(tmp_path / "one", "direct_running_mode=in_memory", "direct_num_workers=1")
    assert one.returncode == 0, one.stderr[-3000:]
    expected = _digests(pool_outputs)
    assert sorted(expected) == ["label_map.pbtxt", "train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord",
                                "train-00002-of-00003.tfrecord", "train_coco.json", "val-00000-of-00002.tfrecord",
                                "val-00001-of-00002.tfrecord", "val_coco.json"]
    # --keep_chunks kept the receipts (.shards/) of the 2-worker run; they are not outputs of the pool.
    two_outputs = {k: v for k, v in _digests(tmp_path / "two").items() if not k.startswith(".shards")}
    assert two_outputs == expected
    assert _digests(tmp_path / "one") == expected
    assert _manifest_outputs(tmp_path / "two") == _manifest_outputs(pool_outputs)
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["rendered_this_run"] == 15 and manifest["runner"]["name"] == "DirectRunner"
    assert "train: 12 images" in two.stdout
    # Two worker processes shared the shards: each shard was written by the worker that rendered it.
    receipts = [json.loads(p.read_text()) for p in (tmp_path / "two" / ".shards").rglob("*.json")]
    assert len(receipts) == 5 and len({r["worker"] for r in receipts}) == 2


def test_beam_rerun_redoes_only_missing_shards(pool_outputs, tmp_path):
    out = tmp_path / "r"
    first = _beam(out, "direct_num_workers=2", keep_chunks=True)
    assert first.returncode == 0, first.stderr[-3000:]
    # A run that failed after two shards: the others are in place, these two are not.
    os.remove(out / "train-00001-of-00003.tfrecord")
    receipt = next((out / ".shards").rglob("val-00000-of-00002.tfrecord.json"))
    receipt.unlink()
    kept = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(out / "*.tfrecord"))}
    second = _beam(out, "direct_num_workers=2")
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rendered_this_run"] == 4 + 2  # train shard 1: images 1, 4, 7, 10; val shard 0: images 0, 2
    assert all(os.stat(p).st_mtime_ns == mtime for p, mtime in kept.items() if "val-00000" not in p)
    assert _digests(out) == _digests(pool_outputs)  # receipts removed after success (no --keep_chunks)


def test_beam_render_process_that_dies_is_replaced_and_the_bytes_are_the_same(pool_outputs, tmp_path):
    # A render process can die (a segmentation fault in the GL driver was seen once in 4200 images). In the
    # DirectRunner's in_memory mode the DoFn runs in the command's own process, so its render process is a child of
    # it: killed as soon as it exists, the run must go on by itself and end with the pool's bytes.
    out = tmp_path / "k"
    argv = [sys.executable, "-m", "tfsynth.generate", *_argv(out), "--runner=DirectRunner",
            "--beam_pipeline_options=direct_running_mode=in_memory,direct_num_workers=1"]
    result = run_killing_a_worker(argv, lambda: True)  # killed as soon as it exists
    assert result.returncode == 0, result.stderr[-3000:]
    assert "a render process died" in result.stderr
    assert _digests(out) == _digests(pool_outputs)


def test_beam_flag_errors_name_the_flag(tmp_path):
    bad_option = _beam(tmp_path / "a", "direct_num_workers=2", "no_such_option=1")
    assert bad_option.returncode == 1
    assert bad_option.stderr.strip().splitlines()[-1] == (
        "generate: error: --beam_pipeline_options: unknown option(s) ['no_such_option']: not among the options of "
        "Beam and its runners (e.g. direct_num_workers, flink_master, project, region, temp_location)")
    bad_runner = run_module("tfsynth.generate", *_argv(tmp_path / "b"), "--runner=NoSuchRunner", timeout=120)
    assert bad_runner.returncode == 1
    assert bad_runner.stderr.strip().splitlines()[-1].startswith(
        "generate: error: --runner NoSuchRunner: not a Beam runner this installation knows")
    solo = _beam(tmp_path / "c", write_solo=True)
    assert solo.returncode == 1 and "--write_solo with --runner DirectRunner" in solo.stderr
    # --num_workers would be ignored: refused by name rather than silently dropped.
    flink = run_module("tfsynth.generate", *_argv(tmp_path / "d"), "--runner=FlinkRunner", "--num_workers=8",
                       timeout=120)
    assert flink.returncode == 1
    assert flink.stderr.strip().splitlines()[-1].startswith(
        "generate: error: --num_workers: FlinkRunner does not read it")
    both = _beam(tmp_path / "e", "direct_num_workers=2", num_workers=2)
    assert both.returncode == 1 and "--num_workers and --beam_pipeline_options direct_num_workers" in both.stderr
    assert not any((tmp_path / name).exists() for name in "abcde")  # refused before anything was written


def test_shard_tasks_hold_the_round_robin_of_the_pools_writer():
    from tfsynth.data.tfrecord import shard_filename
    from tfsynth.generate import shards
    config = GenerateConfig(output_dir="/out", num_images=7, validation_images=1, num_shards=3)
    tasks = shards.shard_tasks(config, {"milk": 1})
    assert [(t.split_name, t.shard_index, list(t.indices)) for t in tasks] == [
        ("train", 0, [0, 3, 6]), ("train", 1, [1, 4]), ("train", 2, [2, 5]),
        ("val", 0, [0]), ("val", 1, [])]  # as the pool, an empty val shard rather than none
    assert tasks[1].path == os.path.join("/out", shard_filename("train", 1, 3))
    # The key changes with what changes a shard's bytes, and with nothing else.
    other_ids = shards.shard_tasks(config, {"milk": 2})
    assert other_ids[0].key != tasks[0].key
    assert shards.shard_tasks(GenerateConfig(**{**config.__dict__, "num_workers": 7}), {"milk": 1}) == tasks
