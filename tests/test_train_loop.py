"""train_loop end to end on a tiny config: checkpoints, resume, summaries, selective training, NaN stop,
fine-tune restore, evaluation during training with the best checkpoint."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests import train_fixtures as fixtures


from tfsynth.training import checkpoints, model_lib, variables  # noqa: E402


def _tags(folder):
    tags = set()
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def _model_variables(pipeline, prefix):
    """{position in model.variables: value} restored from checkpoint prefix (positions, not names: Keras makes
    names unique per process, so two builds of one model differ in name suffixes)."""
    from tfsynth.builders import model_builder
    configs = model_lib.load_configs(pipeline)
    model = model_builder.build(configs["model"], is_training=True)
    from tfsynth.training import inputs
    features, _ = next(iter(inputs.train_input(configs["train_config"], configs["train_input_config"],
                                               configs["model"], model=model)))
    from tfsynth.core import model_step
    model_step.build_model_variables(model, features)
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
    return {i: v.numpy() for i, v in enumerate(model.variables)}, model


def _positions(model, chosen):
    ids = {id(v) for v in chosen}
    return [i for i, v in enumerate(model.variables) if id(v) in ids]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 3-step run with checkpoints every 2 steps and evaluation every 2 steps keeping the best."""
    folder = tmp_path_factory.mktemp("run")
    pipeline = fixtures.write_pipeline(str(folder))
    model_dir = str(folder / "model")
    result = model_lib.train_loop(pipeline, model_dir, train_steps=3, checkpoint_every_n=2,
                                  eval_every_n_steps=2, early_stopping_metric="Loss/total_loss",
                                  log_every_n=1, max_eval_batches=3)
    return pipeline, model_dir, result


def test_checkpoints_config_and_summaries(trained):
    pipeline, model_dir, result = trained
    assert result["step"] == 3
    assert np.isfinite(result["losses"]["Loss/total_loss"])
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-3")  # last step always saved
    assert os.path.exists(os.path.join(model_dir, "ckpt-2.index"))
    assert os.path.exists(os.path.join(model_dir, "pipeline.config"))
    tags = _tags(os.path.join(model_dir, "train"))
    for tag in ("Loss/total_loss", "Loss/localization_loss", "Loss/classification_loss",
                "Loss/regularization_loss", "learning_rate", "steps_per_sec", "train_input_images"):
        assert tag in tags, (tag, tags)


def test_evaluation_during_training_keeps_best(trained):
    pipeline, model_dir, result = trained
    best = os.path.join(model_dir, "best")
    assert tf.train.latest_checkpoint(best) is not None
    with open(os.path.join(best, "best_metrics.json")) as stream:
        assert "DetectionBoxes_Precision/mAP" in json.load(stream)
    with open(os.path.join(model_dir, "metrics.json")) as stream:
        record = json.load(stream)
    assert "PascalBoxes_Precision/mAP@0.5IOU" in record["metrics"]
    assert "DetectionBoxes_PerformanceByCategory/mAP/ketchup" in record["metrics"]  # include_metrics_per_category
    assert os.path.exists(os.path.join(model_dir, "eval_metrics_2.json"))
    tags = _tags(os.path.join(model_dir, "eval"))
    assert {"DetectionBoxes_Precision/mAP", "DetectionBoxes_Recall/AR@100", "PascalBoxes_Precision/mAP@0.5IOU",
            "Loss/total_loss", "eval_side_by_side_0"} <= tags


def test_resume_continues_from_latest_step(trained, tmp_path):
    pipeline, model_dir, _ = trained
    copy = str(tmp_path / "model")
    os.makedirs(copy)
    for name in os.listdir(model_dir):
        if name.startswith("ckpt-") or name == "checkpoint":
            tf.io.gfile.copy(os.path.join(model_dir, name), os.path.join(copy, name))
    result = model_lib.train_loop(pipeline, copy, train_steps=5, checkpoint_every_n=100)
    assert result["resumed_from"].endswith("ckpt-3")
    assert result["step"] == 5
    assert tf.train.latest_checkpoint(copy).endswith("ckpt-5")


def test_freeze_variables_keep_their_values(trained, tmp_path):
    pipeline, model_dir, _ = trained
    before, model = _model_variables(pipeline, os.path.join(model_dir, "ckpt-3"))
    names = [variables.variable_name(v) for v in model.trainable_variables]
    frozen_scope = names[0].split("/")[0]  # freeze the first top-level scope, train the rest
    copy = str(tmp_path / "model")
    os.makedirs(copy)
    for name in os.listdir(model_dir):
        if name.startswith("ckpt-3") or name == "checkpoint":
            tf.io.gfile.copy(os.path.join(model_dir, name), os.path.join(copy, name))
    override = f'train_config {{ freeze_variables: "{frozen_scope}/" }}'
    model_lib.train_loop(pipeline, copy, config_override=override, train_steps=5, checkpoint_every_n=100)
    after, _ = _model_variables(pipeline, os.path.join(copy, "ckpt-5"))
    frozen = _positions(model, [v for v in model.trainable_variables if v.name.startswith(frozen_scope + "/")])
    moving = _positions(model, [v for v in model.trainable_variables if not v.name.startswith(frozen_scope + "/")])
    assert frozen and moving
    for name in frozen:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    assert any(not np.array_equal(before[name], after[name]) for name in moving)


def test_pattern_matching_nothing_is_an_error():
    weights = [tf.Variable(1.0, name="FeatureExtractor/conv/kernel"), tf.Variable(1.0, name="BoxPredictor/bias")]
    with pytest.raises(ValueError, match="matches no variable.*FeatureExtractor/conv/kernel"):
        variables.select_trainable_variables(weights, freeze_variables=["Nothing.*"])
    # re.match: anchored at the start of the name, so a pattern for the middle of a name selects nothing
    with pytest.raises(ValueError, match="matches no variable"):
        variables.select_trainable_variables(weights, update_trainable_variables=["conv"])
    chosen = variables.select_trainable_variables(weights, update_trainable_variables=["Box"])
    assert [variables.variable_name(v) for v in chosen] == ["BoxPredictor/bias"]
    bn = tf.Variable(1.0, name="x/conv1_bn/gamma")
    assert variables.select_trainable_variables(weights + [bn], freeze_batchnorm=True) == weights


def _assert_finite(prefix):
    reader = tf.train.load_checkpoint(prefix)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating:
            assert np.all(np.isfinite(reader.get_tensor(name))), (prefix, name)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    pipeline = fixtures.write_pipeline(str(tmp_path))
    model_dir = str(tmp_path / "model")
    override = ("train_config { optimizer { momentum_optimizer { learning_rate { constant_learning_rate { "
                "learning_rate: 1e30 } } momentum_optimizer_value: 0.9 } } }")
    with pytest.raises(model_lib.NonFiniteLossError, match="Training stopped; the last good checkpoint") as caught:
        model_lib.train_loop(pipeline, model_dir, config_override=override, train_steps=20, checkpoint_every_n=1)
    # Every checkpoint written is good (all variables finite, optimizer slots and batch-norm statistics included),
    # and the one the error names is the newest of them.
    written = sorted(glob.glob(os.path.join(model_dir, "ckpt-*.index")))
    for index_file in written:
        _assert_finite(index_file[:-len(".index")])
    latest = tf.train.latest_checkpoint(model_dir)
    assert f"the last good checkpoint is {latest or '(none saved yet)'}." in str(caught.value)


def test_non_finite_moving_variance_is_never_checkpointed(tmp_path, monkeypatch):
    """The issue's case: the loss is still finite but a batch-norm moving variance is not. Simulated by turning one
    to inf just before the step-2 checkpoint is written."""
    pipeline = fixtures.write_pipeline(str(tmp_path))
    model_dir = str(tmp_path / "model")
    save = checkpoints.RunCheckpoints.save

    def poisoned_save(self, step):
        if step == 2:
            variance = next(v for v in self.checkpoint.model.variables if "moving_variance" in v.name)
            variance.assign(tf.fill(variance.shape, np.inf))
        return save(self, step)

    monkeypatch.setattr(checkpoints.RunCheckpoints, "save", poisoned_save)
    with pytest.raises(model_lib.NonFiniteLossError, match=r"Variables became non-finite by step 2: ckpt-2 not "
                                                           r"written: non-finite values in \S*moving_variance") as caught:
        model_lib.train_loop(pipeline, model_dir, train_steps=3, checkpoint_every_n=1, record_summaries=False)
    assert f"the last good checkpoint is {os.path.join(model_dir, 'ckpt-1')}." in str(caught.value)
    assert tf.train.latest_checkpoint(model_dir) == os.path.join(model_dir, "ckpt-1")
    _assert_finite(os.path.join(model_dir, "ckpt-1"))


def test_checkpoint_with_non_finite_variables_is_not_written(tmp_path):
    weights = tf.Variable([1.0, 2.0, 3.0], name="model_weights")
    moving_variance = tf.Variable([1.0, 1.0], trainable=False, name="bn/moving_variance")
    model = tf.Module()
    model.weights, model.moving_variance = weights, moving_variance
    run = checkpoints.RunCheckpoints(str(tmp_path), tf.train.Checkpoint(model=model))
    good = run.save(1)
    moving_variance.assign([np.inf, np.nan])
    with pytest.raises(checkpoints.NonFiniteCheckpointError,
                       match=r"ckpt-2 not written: non-finite values in bn/moving_variance \(1 NaN, 1 inf of 2\)"):
        run.save(2)
    assert run.latest == good and not glob.glob(str(tmp_path / "ckpt-2*"))
    # a resumed run refuses a checkpoint that is not good instead of training on NaN
    tf.train.Checkpoint(model=model).save(str(tmp_path / "bad" / "ckpt"))  # also writes the `checkpoint` file
    with pytest.raises(checkpoints.NonFiniteCheckpointError, match="ckpt-1 holds non-finite values in bn/moving"):
        checkpoints.RunCheckpoints(str(tmp_path / "bad"), tf.train.Checkpoint(model=model)).restore_latest()


def test_fine_tune_checkpoint_restored_and_mismatch_explained(trained, tmp_path):
    pipeline, model_dir, _ = trained
    source = os.path.join(model_dir, "ckpt-3")
    override = (f'train_config {{ fine_tune_checkpoint: "{source}" fine_tune_checkpoint_type: "detection" '
                'optimizer { momentum_optimizer { learning_rate { constant_learning_rate { learning_rate: 0 } } } } }')
    target = str(tmp_path / "fine")
    model_lib.train_loop(pipeline, target, config_override=override, train_steps=1)
    before, model = _model_variables(pipeline, source)
    after, _ = _model_variables(pipeline, os.path.join(target, "ckpt-1"))
    restored = model.restore_from_objects("detection")["model"]
    reachable = {id(obj) for obj in tf.train.TrackableView(restored).descendants()}
    names = _positions(model, [v for v in model.trainable_variables if id(v) in reachable])
    assert names
    for name in names:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    # No type and no from_detection_checkpoint: the OD API's TF2 loop restores a classification checkpoint, and
    # a detection checkpoint holds no bare backbone, so the restore says which type it tried.
    with pytest.raises(ValueError, match="fine_tune_checkpoint_type 'classification'"):
        model_lib.train_loop(pipeline, str(tmp_path / "untyped"), train_steps=1,
                             config_override=f'train_config {{ fine_tune_checkpoint: "{source}" }}')
    # a checkpoint of something else: clear error naming the checkpoint's content
    other = tf.Module()
    other.unrelated = tf.Variable(np.zeros([3, 3], np.float32))
    other_prefix = tf.train.Checkpoint(model=other).save(str(tmp_path / "other" / "ckpt"))
    with pytest.raises(ValueError, match="does not fit the model"):
        model_lib.train_loop(pipeline, str(tmp_path / "bad"), train_steps=1, config_override=(
            f'train_config {{ fine_tune_checkpoint: "{other_prefix}" fine_tune_checkpoint_type: "full" }}'))


def test_a_config_that_cannot_be_built_leaves_the_folders_pipeline_config(trained, tmp_path):
    """The model folder's pipeline.config is what its checkpoints were trained with (the exporter and evaluator
    read it): a run with a config that fails to build must not replace it."""
    import shutil
    pipeline, model_dir, _ = trained
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    before = (folder / "pipeline.config").read_bytes()
    configs = model_lib.load_configs(pipeline)
    text = open(pipeline).read()
    kind = configs["model"].ssd.feature_extractor.type
    bad = tmp_path / "bad.config"
    bad.write_text(text.replace(f'type: "{kind}"', 'type: "ssd_mobilenet_v9_keras"'))
    assert bad.read_text() != text
    with pytest.raises(NotImplementedError, match="ssd_mobilenet_v9_keras"):
        model_lib.train_loop(str(bad), str(folder), train_steps=4)
    assert (folder / "pipeline.config").read_bytes() == before
