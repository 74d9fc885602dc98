"""kill -9 in the middle of a long job, then the same command again: the output is byte for byte what an
uninterrupted run writes (issue 15). Real commands as subprocesses, tiny sizes."""
from __future__ import annotations

import glob
import hashlib
import os
import pathlib
import sys

import pytest

from tests.commands import run_command, run_killed_when, run_killing_a_worker


def _files(folder: pathlib.Path, pattern: str) -> dict[str, str]:
    """File name -> sha256 of its bytes. Digests, not the bytes: on a mismatch pytest diffs the two sides, and a
    difflib diff of megabytes of bytes runs for hours (it ran CI past its time limit once)."""
    return {os.path.basename(p): hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()
            for p in sorted(glob.glob(str(folder / pattern)))}


def _generate(output_dir: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "tfsynth.generate", f"--output_dir={output_dir}", "--num_images=60",
            "--validation_images=6", "--num_workers=2", "--preset=fast", "--width=64", "--height=48",
            "--num_shards=3", "--products_per_image=3,6", "--seed=11"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> pathlib.Path:
    """An uninterrupted generation run: the bytes every interrupted one must end with."""
    folder = tmp_path_factory.mktemp("generation") / "whole"
    generated = run_command(_generate(folder), timeout=600)
    assert generated.returncode == 0, generated.stderr[-3000:]
    return folder


def _same_outputs(folder: pathlib.Path, whole: pathlib.Path) -> None:
    expected = _files(whole, "*.tfrecord")
    assert sum(name.startswith("train-") for name in expected) == 3 and any(n.startswith("val-") for n in expected)
    assert _files(folder, "*.tfrecord") == expected
    for name in ("label_map.pbtxt", "train_coco.json", "val_coco.json"):
        assert (folder / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (folder / ".chunks").exists()


def test_a_render_worker_that_dies_is_replaced_and_the_bytes_are_the_same(tmp_path, whole):
    # A worker once died of a segmentation fault in the GL driver and multiprocessing.Pool then waited forever for
    # its chunk. Here one worker is killed mid-run: the run must finish by itself, with the uninterrupted bytes.
    crashed = tmp_path / "crashed"
    result = run_killing_a_worker(_generate(crashed),
                                  lambda: bool(glob.glob(str(crashed / ".chunks" / "*" / "*.npz"))))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "a render worker died" in result.stderr
    _same_outputs(crashed, whole)


def test_generation_killed_then_resumed_writes_the_same_bytes(tmp_path, whole):
    resumed = tmp_path / "resumed"

    def some_chunks_done() -> bool:
        return len(glob.glob(str(resumed / ".chunks" / "*" / "*.npz"))) >= 1

    run_killed_when(_generate(resumed), some_chunks_done)
    assert not (resumed / "manifest.json").exists(), "killed too late: the run had finished"
    result = run_command(_generate(resumed), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    _same_outputs(resumed, whole)


# Augmentation and shuffling on, so that a pipeline that restarted from scratch after the kill, or drew its random
# numbers from unsaved state, would train on other batches and end with other weights.
_TRAIN_EXTRA = """
train_config {
  data_augmentation_options { random_horizontal_flip { } }
  data_augmentation_options { ssd_random_crop { } }
}
train_input_reader { shuffle: true shuffle_buffer_size: 4 }
"""


def _train(pipeline: str, model_dir: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline}",
            f"--model_dir={model_dir}", "--num_train_steps=6", "--checkpoint_every_n=2", "--record_summaries=false"]


def _variables(prefix: pathlib.Path) -> dict:
    """Every tensor of a checkpoint by name; the input iterator's state (a variant, which the reader cannot turn
    into an array) by its name only: the .data bytes compare it."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: (None if dtype == tf.variant else reader.get_tensor(name))
            for name, dtype in reader.get_variable_to_dtype_map().items()}


def test_training_killed_then_resumed_gives_the_same_checkpoint(tmp_path):
    import numpy as np
    from tests import train_fixtures
    pipeline = train_fixtures.write_pipeline(str(tmp_path / "config"), extra=_TRAIN_EXTRA)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    result = run_command(_train(pipeline, whole), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    def second_checkpoint_written() -> bool:
        # The index file is written last (the "checkpoint" state file after it): then ckpt-2 is complete.
        return (resumed / "checkpoint").exists() and "ckpt-2" in (resumed / "checkpoint").read_text()

    run_killed_when(_train(pipeline, resumed), second_checkpoint_written)
    assert not glob.glob(str(resumed / "ckpt-6.*")), "killed too late: the run had finished"
    result = run_command(_train(pipeline, resumed), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from" in result.stderr and "ckpt-" in result.stderr

    expected, actual = _variables(whole / "ckpt-6"), _variables(resumed / "ckpt-6")
    assert sorted(actual) == sorted(expected)
    assert any(name.startswith("model/") for name in expected) and not any("input_iterator" in n for n in expected)
    # The input position lies beside the checkpoints, for the newest only (it holds the shuffle buffer).
    for folder in (whole, resumed):
        positions = sorted(path.name for path in (folder / "input_position").iterdir())
        assert positions and all(name.startswith("ckpt-6.") for name in positions), positions
        assert any("input_iterator" in name for name in _variables(folder / "input_position" / "ckpt-6"))
    different = [name for name in expected if not np.array_equal(expected[name], actual[name])]
    assert not different, f"{len(different)} variables differ after resuming, e.g. {different[:5]}"
    assert int(actual["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 6
    # The iterator state's bytes are not compared: parallel maps and prefetch save whatever they had buffered when
    # the checkpoint was written, which depends on thread timing (they differed on a loaded CI machine). The
    # equal weights above already show that the restored iterator delivered the same batches for steps 3 to 6.
