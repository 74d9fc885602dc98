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
