"""Best checkpoint (model_dir/best) and early-stopping counter; checkpoint path errors."""
import json
import os

import pytest
import tensorflow as tf

from tfsynth.training import checkpoints


def _save(folder, value, step):
    holder = tf.Module()
    holder.weight = tf.Variable(float(value))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=holder), folder, max_to_keep=10)
    return manager.save(checkpoint_number=step)


def test_best_keeper_copies_improvements_and_counts_stalls(tmp_path):
    model_dir = str(tmp_path)
    keeper = checkpoints.BestCheckpointKeeper(model_dir, "DetectionBoxes_Precision/mAP")
    assert keeper.update({"DetectionBoxes_Precision/mAP": 0.2}, _save(model_dir, 1.0, 1), 1)
    assert keeper.update({"DetectionBoxes_Precision/mAP": 0.5}, _save(model_dir, 2.0, 2), 2)
    assert not keeper.update({"DetectionBoxes_Precision/mAP": 0.4}, _save(model_dir, 3.0, 3), 3)
    assert not keeper.update({"DetectionBoxes_Precision/mAP": 0.5}, _save(model_dir, 4.0, 4), 4)
    assert keeper.evaluations_without_improvement == 2
    best = tf.train.latest_checkpoint(os.path.join(model_dir, "best"))
    assert best.endswith("ckpt-2")
    assert tf.train.load_checkpoint(best).get_tensor("model/weight/.ATTRIBUTES/VARIABLE_VALUE") == 2.0
    with open(os.path.join(model_dir, "best", "best_metrics.json")) as stream:
        assert json.load(stream)["step"] == 2
    # a resumed run keeps comparing with the recorded best
    again = checkpoints.BestCheckpointKeeper(model_dir, "DetectionBoxes_Precision/mAP")
    assert not again.update({"DetectionBoxes_Precision/mAP": 0.45}, _save(model_dir, 5.0, 5), 5)
    with pytest.raises(KeyError, match="DetectionBoxes_Precision/mAP"):
        again.update({"Loss/total_loss": 1.0}, best, 6)


def test_losses_are_minimised(tmp_path):
    keeper = checkpoints.BestCheckpointKeeper(str(tmp_path), "Loss/total_loss")
    assert keeper.update({"Loss/total_loss": 2.0}, _save(str(tmp_path), 1.0, 1), 1)
    assert keeper.update({"Loss/total_loss": 1.0}, _save(str(tmp_path), 1.0, 2), 2)
    assert not keeper.update({"Loss/total_loss": 1.5}, _save(str(tmp_path), 1.0, 3), 3)


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="fine_tune_checkpoint.*ckpt-0.index"):
        checkpoints.resolve_checkpoint_path(str(tmp_path / "ckpt-0"), "train_config.fine_tune_checkpoint")
    with pytest.raises(FileNotFoundError, match="no checkpoint in folder"):
        checkpoints.resolve_checkpoint_path(str(tmp_path), "x")


def test_a_checkpoints_step_is_its_step_variable_not_its_file_number(tmp_path):
    # The OD API's trainer numbers checkpoints by saves: its ckpt-1 here holds step 200. The evaluator reports and
    # stops by this step.
    odapi_style = tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(200, dtype=tf.int64)),
                                             str(tmp_path / "odapi"), max_to_keep=2).save()
    assert odapi_style.endswith("ckpt-1") and checkpoints.checkpoint_step(odapi_style) == 200
    # Without a step variable (a Zoo checkpoint, say) the file number is all there is.
    stepless = tf.train.CheckpointManager(tf.train.Checkpoint(weights=tf.Variable([1.0])), str(tmp_path / "zoo"),
                                          max_to_keep=2).save(checkpoint_number=7)
    assert checkpoints.checkpoint_step(stepless) == 7


def _numbers_iterator():
    return iter(tf.data.Dataset.range(100).shuffle(10, seed=3))


def test_input_position_lies_beside_the_newest_checkpoint_only(tmp_path, caplog):
    step = tf.Variable(0, dtype=tf.int64)
    iterator = _numbers_iterator()
    run = checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(step=step), required={"step": step},
                                     input_objects={"input_iterator": iterator})
    for number in (2, 4):
        for _ in range(2):
            next(iterator)
        step.assign(number)
        run.save(number)
    expected = [int(next(iterator)) for _ in range(3)]
    assert sorted(os.listdir(tmp_path / "input_position")) == ["ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    assert not any(name.startswith("input_iterator") for name, _ in tf.train.list_variables(str(tmp_path / "ckpt-4")))

    resumed_iterator = _numbers_iterator()
    resumed = checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64)),
                                         input_objects={"input_iterator": resumed_iterator})
    assert resumed.restore_latest().endswith("ckpt-4")
    assert [int(next(resumed_iterator)) for _ in range(3)] == expected

    # A run written before the position moved beside holds it inside its checkpoint: still read from there.
    old = tmp_path / "old"
    old_iterator = _numbers_iterator()
    for _ in range(4):
        next(old_iterator)
    tf.train.CheckpointManager(tf.train.Checkpoint(step=step, input_iterator=old_iterator), str(old), 3).save(4)
    later_iterator = _numbers_iterator()
    checkpoints.RunCheckpoints(str(old), tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64)),
                               input_objects={"input_iterator": later_iterator}).restore_latest()
    assert [int(next(later_iterator)) for _ in range(3)] == expected

    # No position at all (deleted): the input restarts, and the log says so.
    for name in os.listdir(tmp_path / "input_position"):
        os.remove(tmp_path / "input_position" / name)
    with caplog.at_level("WARNING"):
        checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64)),
                                   input_objects={"input_iterator": _numbers_iterator()}).restore_latest()
    assert "no input position for" in caplog.text and "the input restarts" in caplog.text
