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
