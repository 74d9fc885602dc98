"""SSD built from pipeline.config: SSDLite (TF1 config), training interface (loss, groundtruth, batch norm),
fine-tune restore, and refusals (unsupported meta-architectures and config fields). Tiny images throughout."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401
from tfsynth.builders import model_builder
from tfsynth.builders.config_check import UnsupportedConfigError
from tfsynth.protos import pipeline_pb2
from tfsynth.training.checkpoints import CheckpointMismatchError, restore_fine_tune_checkpoint
from tfsynth.utils.shared_data import SHARED_DATA

REF = SHARED_DATA / "odapi_reference"
GOLDEN_CONFIG = REF / "golden/ssd_mobilenet_v2_320x320_coco17_tpu-8/pipeline.config"
SSDLITE_CONFIG = REF / "configs_tf1/ssdlite_mobilenet_v2_coco.config"


def load_model_config(path, size=64, num_classes=3):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(pathlib.Path(path).read_text(), config)
    model = config.model
    arch = getattr(model, model.WhichOneof("model"))
    if size and arch.image_resizer.HasField("fixed_shape_resizer"):
        arch.image_resizer.fixed_shape_resizer.height = size
        arch.image_resizer.fixed_shape_resizer.width = size
    if num_classes:
        arch.num_classes = num_classes
    return model


def run_once(model, batch=1, size=64):
    images, shapes = model.preprocess(tf.random.uniform([batch, size + 8, size - 8, 3], 0, 255, seed=1))
    predictions = model.predict(images, shapes)
    return predictions, shapes


def test_ssdlite_tf1_config_builds_with_depthwise_heads_and_runs():
    model = model_builder.build(load_model_config(SSDLITE_CONFIG), is_training=False)
    predictions, shapes = run_once(model)
    detections = model.postprocess(predictions, shapes)
    num_anchors = predictions["anchors"].shape[0]
    assert predictions["box_encodings"].shape == (1, num_anchors, 4)
    assert predictions["class_predictions_with_background"].shape == (1, num_anchors, 4)
    assert detections["detection_boxes"].shape == (1, 100, 4)
    names = {v.name for v in model.variables}
    assert "BoxPredictor/ConvolutionalBoxHead_0/BoxEncodingPredictor_depthwise/depthwise_kernel:0" in names
    assert any("FeatureMaps/layer_19_2_Conv2d_2_3x3_s2_512_depthwise_conv/depthwise_kernel" in n for n in names)


@pytest.mark.parametrize("config_name, expected", [
    ("center_net_deepmac_512x512_voc_only_tpu-32.config", "deepmac_mask_estimation"),
    ("mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8.config", "Mask R-CNN"),
])
def test_unbuilt_meta_architectures_raise_not_implemented(config_name, expected):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge((REF / "configs_tf2" / config_name).read_text(), config)
    with pytest.raises(NotImplementedError, match=expected):
        model_builder.build(config.model, is_training=False)


@pytest.mark.parametrize("edit, field", [
    (lambda ssd: setattr(ssd.box_predictor.convolutional_box_predictor, "apply_sigmoid_to_scores", True),
     "apply_sigmoid_to_scores"),
    (lambda ssd: setattr(ssd.post_processing.batch_non_max_suppression, "use_static_shapes", True),
     "use_static_shapes"),
    (lambda ssd: setattr(ssd, "use_confidences_as_targets", True), "use_confidences_as_targets"),
    (lambda ssd: setattr(ssd.loss, "expected_loss_weights", 1), "expected_loss_weights"),
    (lambda ssd: setattr(ssd.feature_extractor, "use_hardswish", True), "use_hardswish"),
])
def test_unhonoured_config_fields_raise_naming_the_field(edit, field):
    model_config = load_model_config(GOLDEN_CONFIG)
    edit(model_config.ssd)
    with pytest.raises(UnsupportedConfigError, match=field):
        model_builder.build(model_config, is_training=False)


def test_unknown_feature_extractor_raises_not_implemented():
    model_config = load_model_config(GOLDEN_CONFIG)
    model_config.ssd.feature_extractor.type = "ssd_spaghettinet"
    with pytest.raises(NotImplementedError, match="ssd_spaghettinet"):
        model_builder.build(model_config, is_training=False)


def _groundtruth(model):
    boxes = [tf.constant([[0.1, 0.1, 0.6, 0.5], [0.3, 0.4, 0.9, 0.95]]), tf.constant([[0.0, 0.0, 1.0, 1.0]])]
    classes = [tf.one_hot([0, 2], model.num_classes), tf.one_hot([1], model.num_classes)]
    model.provide_groundtruth(groundtruth_boxes_list=boxes, groundtruth_classes_list=classes)
    return boxes, classes


def test_loss_keys_normalization_and_zero_localization_at_the_targets():
    model = model_builder.build(load_model_config(GOLDEN_CONFIG), is_training=True)
    predictions, shapes = run_once(model, batch=2)
    _groundtruth(model)
    losses = model.loss(predictions, shapes)
    assert set(losses) == {"Loss/localization_loss", "Loss/classification_loss"}
    assert all(np.isfinite(v.numpy()) and v.numpy() > 0 for v in losses.values())
    cls_targets, cls_weights, reg_targets, reg_weights, _ = model._assign_targets()
    # Predicting the regression targets exactly gives zero localization loss.
    exact = dict(predictions, box_encodings=reg_targets)
    assert model.loss(exact, shapes)["Loss/localization_loss"].numpy() == pytest.approx(0.0, abs=1e-7)
    # Classification: focal loss (gamma 2, alpha 0.75) summed, divided by the number of matches.
    logits = predictions["class_predictions_with_background"].numpy()
    targets = cls_targets.numpy()
    probs = 1 / (1 + np.exp(-logits))
    ce = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    p_t = targets * probs + (1 - targets) * (1 - probs)
    focal = (1 - p_t) ** 2 * (targets * 0.75 + (1 - targets) * 0.25) * ce * cls_weights.numpy()
    num_matches = max(reg_weights.numpy().sum(), 1.0)
    assert num_matches >= 3  # force_match_for_each_row: every groundtruth box has an anchor
    np.testing.assert_allclose(losses["Loss/classification_loss"].numpy(), focal.sum() / num_matches, rtol=1e-4)
    # Background encoded as zeros: unmatched anchors have all-zero class targets.
    unmatched = reg_weights.numpy() == 0
    assert np.all(targets[unmatched] == 0)


def test_hard_example_mining_loss_with_groundtruth_weights():
    model = model_builder.build(load_model_config(SSDLITE_CONFIG), is_training=True)
    predictions, shapes = run_once(model, batch=2)
    boxes, classes = _groundtruth(model)
    model.provide_groundtruth(boxes, classes, groundtruth_weights_list=[tf.constant([1.0, 0.0]),
                                                                        tf.constant([1.0])])
    losses = model.loss(predictions, shapes)
    assert all(np.isfinite(v.numpy()) and v.numpy() > 0 for v in losses.values())
    # The zero-weight box is not a positive: fewer regression weights than with it.
    _, _, _, weighted_reg, _ = model._assign_targets()
    model.provide_groundtruth(boxes, classes)
    _, _, _, full_reg, _ = model._assign_targets()
    assert weighted_reg.numpy().sum() < full_reg.numpy().sum()


def _moving_means(model):
    return [v.numpy().copy() for v in model.variables if "moving_mean" in v.name]


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_batchnorm_keeps_moving_statistics(freeze):
    model_config = load_model_config(GOLDEN_CONFIG)
    model_config.ssd.freeze_batchnorm = freeze
    model = model_builder.build(model_config, is_training=True)
    run_once(model)
    before = _moving_means(model)
    run_once(model)
    changed = any(not np.array_equal(a, b) for a, b in zip(before, _moving_means(model)))
    assert changed != freeze


def test_fine_tune_restore_types_and_mismatch_report(tmp_path):
    source = model_builder.build(load_model_config(GOLDEN_CONFIG), is_training=False)
    run_once(source)
    path = tf.train.Checkpoint(model=source).save(str(tmp_path / "full"))
    backbone_path = tf.train.Checkpoint(
        feature_extractor=source.feature_extractor.classification_backbone).save(str(tmp_path / "cls"))

    # Same architecture, other number of classes: detection restores the feature extractor only.
    target = model_builder.build(load_model_config(GOLDEN_CONFIG, num_classes=5), is_training=True)
    run_once(target)
    restore_fine_tune_checkpoint(target, path, "detection")
    # (Keras uniquifies layer names across models, so compare in variable order.)
    for ours, theirs in zip(target.feature_extractor.variables, source.feature_extractor.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(CheckpointMismatchError, match=r"shape mismatch: model/_box_predictor/.*checkpoint"):
        restore_fine_tune_checkpoint(target, path, "full")

    target2 = model_builder.build(load_model_config(GOLDEN_CONFIG, num_classes=5), is_training=True)
    run_once(target2)
    restore_fine_tune_checkpoint(target2, backbone_path, "classification")
    for ours, theirs in zip(target2.feature_extractor.classification_backbone.variables,
                            source.feature_extractor.classification_backbone.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # A classification checkpoint has no model/... keys: the detection type lists them as missing.
    with pytest.raises(CheckpointMismatchError, match=r"\(3\d\d missing, 0 with another shape\)"):
        restore_fine_tune_checkpoint(target2, backbone_path, "detection")
