"""A checkpoint that does not fit, or cannot be read, is named with what is wrong, wherever it is restored:
restore_checked (evaluation, detection), a resume from model_dir, the fine-tune restore."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfsynth.training import checkpoints
from tfsynth.utils.checkpoint_fit import CheckpointMismatchError, CheckpointReadError, restore_checked


def _model(units: int) -> keras.Model:
    model = keras.Sequential([keras.layers.Dense(4, name="hidden"), keras.layers.Dense(units, name="head")])
    model(tf.zeros([1, 3]))
    return model


def _saved(folder: pathlib.Path, units: int = 2) -> str:
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(5, dtype=tf.int64),
                                                             model=_model(units)), str(folder), max_to_keep=1)
    return manager.save(checkpoint_number=5)


def test_restore_checked_restores_a_fitting_checkpoint(tmp_path):
    prefix = _saved(tmp_path)
    source = tf.train.load_checkpoint(prefix).get_tensor("model/layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE")
    model = _model(2)
    restore_checked({"model": model}, prefix, "checkpoint to evaluate")  # the step is left out: skipped
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), source)


def test_another_head_size_is_named_with_both_shapes(tmp_path):
    prefix = _saved(tmp_path, units=2)
    with pytest.raises(CheckpointMismatchError) as error:
        restore_checked({"model": _model(5)}, prefix, "checkpoint to evaluate", hint=" CHECK num_classes")
    text = str(error.value)
    assert text.startswith(f"checkpoint to evaluate: checkpoint {prefix} does not fit the model (0 missing, 2 with")
    assert "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE: checkpoint [4, 2], model [4, 5]" in text
    assert text.endswith("CHECK num_classes")


def test_a_garbage_index_is_named(tmp_path):
    prefix = _saved(tmp_path)
    pathlib.Path(prefix + ".index").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointReadError, match=f"{prefix}.index is not a readable TF checkpoint index"):
        restore_checked({"model": _model(2)}, prefix, "checkpoint to evaluate")


def test_a_data_file_cut_short_is_named_with_its_size(tmp_path):
    prefix = _saved(tmp_path)
    data = pathlib.Path(prefix + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:40])
    with pytest.raises(CheckpointReadError, match=r"ckpt-5.data-00000-of-00001 \(40 bytes\).*cut short"):
        restore_checked({"model": _model(2)}, prefix, "checkpoint to evaluate")
    with pytest.raises(CheckpointReadError, match="fine_tune_checkpoint .*reading its values failed"):
        model = _model(2)
        model.restore_from_objects = lambda fine_tune_checkpoint_type: {"model": model}
        checkpoints.restore_fine_tune_checkpoint(model, prefix, "full")


def test_resuming_a_model_dir_of_another_model_names_it_and_the_way_out(tmp_path):
    _saved(tmp_path, units=2)
    step, model = tf.Variable(0, dtype=tf.int64), _model(3)
    run = checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(step=step, model=model),
                                     required={"step": step, "model": model})
    with pytest.raises(CheckpointMismatchError, match="(?s)resuming from --model_dir: .*holds checkpoints of another "
                                                      "model: train with the pipeline.config they were made with"):
        run.restore_latest()
    assert int(step.numpy()) == 0  # nothing restored


def test_resuming_from_a_data_file_cut_short_is_named(tmp_path):
    prefix = _saved(tmp_path)
    data = pathlib.Path(prefix + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:40])
    step, model = tf.Variable(0, dtype=tf.int64), _model(2)
    run = checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(step=step, model=model),
                                     required={"step": step, "model": model})
    with pytest.raises(CheckpointReadError, match="resuming from --model_dir: reading the values of .*40 bytes"):
        run.restore_latest()


def test_a_checkpoint_file_naming_a_missing_checkpoint_lists_those_there(tmp_path):
    _saved(tmp_path)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\nall_model_checkpoint_paths: "ckpt-7"\n')
    with pytest.raises(FileNotFoundError, match=r"checkpoint names .*ckpt-7, which is not there; the folder holds "
                                                r"ckpt-5: pass one as a prefix"):
        checkpoints.resolve_checkpoint_path(str(tmp_path), "--trained_checkpoint_dir")
