"""Faster R-CNN: building from the OD API sample configs, errors for what is not built, training steps, fine-tune
restore objects, and its core parts (crop_and_resize, balanced sampler, grid anchors)."""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

import tfsynth.protos  # noqa: F401  (compiles the protos)
from tfsynth.builders import model_builder
from tfsynth.builders.config_check import UnsupportedConfigError
from tfsynth.core.balanced_sampler import BalancedPositiveNegativeSampler
from tfsynth.core.crop_and_resize import multilevel_matmul_crop_and_resize, multilevel_native_crop_and_resize
from tfsynth.core.grid_anchor_generator import GridAnchorGenerator
from tfsynth.meta_architectures import faster_rcnn
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA
from tests.train_fixtures import shrink_faster_rcnn

CONFIGS = SHARED_DATA / "odapi_reference/configs_tf2"
GOLDEN_CONFIG = SHARED_DATA / "odapi_reference/golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8/pipeline.config"


def _model_config(path: pathlib.Path):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(path.read_text(), config)
    return config.model


def _tiny_config(size: int = 128):
    """The golden ResNet50 config at size x size with few proposals: small enough to train on a CPU in a test."""
    model = _model_config(GOLDEN_CONFIG)
    shrink_faster_rcnn(model.faster_rcnn, size)
    return model


@pytest.mark.parametrize("name, num_backbone_layers", [
    # One per backbone depth, resizer and FPN (building all ten takes minutes on a small CPU; they differ only in
    # image_resizer and learning schedule from these).
    ("faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config", 53),
    ("faster_rcnn_resnet101_v1_1024x1024_coco17_tpu-8.config", 104),
    ("faster_rcnn_resnet152_v1_800x1333_coco17_gpu-8.config", 155),
    ("faster_rcnn_resnet50_v1_fpn_640x640_coco17_tpu-8.config", 53),
])
def test_faster_rcnn_sample_configs_build(name, num_backbone_layers):
    keras.backend.clear_session()
    model = model_builder.build(_model_config(CONFIGS / name), is_training=True)
    assert isinstance(model, faster_rcnn.FasterRCNNMetaArch)
    assert model.num_classes == 90
    backbone = model.feature_extractor.classification_backbone
    assert len([v for v in backbone.trainable_variables if v.name.endswith("_conv/kernel:0")]) == num_backbone_layers


def test_every_faster_rcnn_sample_config_is_accepted_by_the_builder_checks():
    from tfsynth.builders import faster_rcnn_builder
    for path in sorted(CONFIGS.glob("faster_rcnn_resnet*_v1_*.config")):
        config = _model_config(path).faster_rcnn
        faster_rcnn_builder.check_config(config)


def test_mask_rcnn_raises_naming_it():
    """Mask R-CNN (three stages, or masks asked of the box predictor) is refused by name; its Inception-ResNet-v2
    extractor builds (tests/test_golden_faster_rcnn_inception_resnet.py)."""
    config = _model_config(CONFIGS / "mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8.config")
    with pytest.raises(NotImplementedError, match="Mask R-CNN"):
        model_builder.build(config, is_training=False)
    config.faster_rcnn.number_of_stages = 2
    with pytest.raises(NotImplementedError, match="(?i)mask"):
        model_builder.build(config, is_training=False)


@pytest.mark.parametrize("field, value, expected", [
    ("output_final_box_features", True, "output_final_box_features"),
    ("use_combined_nms_in_first_stage", True, "use_combined_nms_in_first_stage"),
    ("number_of_stages", 3, "number_of_stages"),
])
def test_fields_not_built_raise_naming_them(field, value, expected):
    config = _model_config(GOLDEN_CONFIG)
    setattr(config.faster_rcnn, field, value)
    with pytest.raises((UnsupportedConfigError, NotImplementedError), match=expected):
        model_builder.build(config, is_training=False)


def test_rfcn_box_predictor_raises():
    config = _model_config(GOLDEN_CONFIG)
    config.faster_rcnn.second_stage_box_predictor.rfcn_box_predictor.depth = 8
    with pytest.raises(NotImplementedError, match="rfcn_box_predictor"):
        model_builder.build(config, is_training=False)


def _groundtruth(model):
    model.provide_groundtruth(groundtruth_boxes_list=[tf.constant([[0.1, 0.1, 0.6, 0.5], [0.4, 0.5, 0.9, 0.95]])],
                              groundtruth_classes_list=[tf.constant([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])])


def test_two_training_steps_give_finite_losses_and_move_variables():
    keras.backend.clear_session()
    tf.random.set_seed(1)
    model = model_builder.build(_tiny_config(), is_training=True)
    image = tf.random.uniform([1, 96, 128, 3], 0, 255, seed=2)
    optimizer = keras.optimizers.SGD(0.01)
    watched = None
    for _ in range(2):
        images, shapes = model.preprocess(image)
        _groundtruth(model)
        with tf.GradientTape() as tape:
            predictions = model.predict(images, shapes)
            losses = model.loss(predictions, shapes)
            total = tf.add_n(list(losses.values()) + model.regularization_losses())
        if watched is None:
            watched = {v.name: v.numpy().copy() for v in model.trainable_variables
                       if v.name.split("/")[0] in ("RPNConv", "conv1_conv", "conv5_block3_3_conv")
                       or "mask_rcnn" in v.name}
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        assert set(losses) == {faster_rcnn.RPN_LOCALIZATION_LOSS, faster_rcnn.RPN_OBJECTNESS_LOSS,
                               faster_rcnn.BOX_CLASSIFIER_LOCALIZATION_LOSS,
                               faster_rcnn.BOX_CLASSIFIER_CLASSIFICATION_LOSS}
        assert all(np.isfinite(v.numpy()) for v in losses.values())
        assert losses[faster_rcnn.RPN_OBJECTNESS_LOSS] > 0
    assert predictions["proposal_boxes"].shape == (1, 8, 4)  # the sampled second-stage batch
    current = {v.name: v.numpy() for v in model.trainable_variables}
    assert len(watched) >= 6
    for name, before in watched.items():
        assert not np.array_equal(before, current[name]), f"{name} did not move"


def test_inference_outputs_and_fine_tune_restore_objects(tmp_path):
    keras.backend.clear_session()
    source = model_builder.build(_tiny_config(), is_training=False)
    image = tf.random.uniform([2, 128, 96, 3], 0, 255, seed=3)
    images, shapes = source.preprocess(image)
    detections = source.postprocess(source.predict(images, shapes), shapes)
    assert detections["detection_boxes"].shape == (2, 10, 4)
    assert detections["detection_multiclass_scores"].shape == (2, 10, 4)
    boxes = detections["detection_boxes"].numpy()
    assert boxes.min() >= 0 and boxes.max() <= 1
    path = tf.train.Checkpoint(model=source).save(str(tmp_path / "ckpt"))

    target = model_builder.build(_tiny_config(), is_training=True)
    target_images, target_shapes = target.preprocess(image[:1])
    target.predict(target_images, target_shapes)
    detection = target.restore_from_objects("detection")
    tf.train.Checkpoint(**detection).restore(path).assert_existing_objects_matched()
    source_conv1 = [v for v in source.variables if v.name.startswith("conv1_conv")][0]
    target_conv1 = [v for v in target.variables if v.name.startswith("conv1_conv")][0]
    np.testing.assert_array_equal(source_conv1.numpy(), target_conv1.numpy())
    source_rpn = [v for v in source.variables if v.name.startswith("RPNConv/kernel")][0]
    target_rpn = [v for v in target.variables if v.name.startswith("RPNConv/kernel")][0]
    assert not np.array_equal(source_rpn.numpy(), target_rpn.numpy())  # detection: extractor only
    tf.train.Checkpoint(**target.restore_from_objects("full")).restore(path).assert_consumed()
    np.testing.assert_array_equal(source_rpn.numpy(), target_rpn.numpy())
    assert "feature_extractor" in target.restore_from_objects("classification")
    with pytest.raises(ValueError, match="fine_tune_checkpoint_type"):
        target.restore_from_objects("mystery")


def test_rpn_only_model_postprocesses_proposals():
    keras.backend.clear_session()
    config = _tiny_config()
    config.faster_rcnn.number_of_stages = 1
    model = model_builder.build(config, is_training=False)
    images, shapes = model.preprocess(tf.random.uniform([1, 128, 128, 3], 0, 255, seed=4))
    predictions = model.predict(images, shapes)
    assert "refined_box_encodings" not in predictions
    detections = model.postprocess(predictions, shapes)
    assert detections["detection_boxes"].shape == (1, 16, 4)
    assert 0 < detections["num_detections"][0] <= 16


def test_fpn_model_predicts_from_every_level_and_trains():
    keras.backend.clear_session()
    config = _model_config(CONFIGS / "faster_rcnn_resnet50_v1_fpn_640x640_coco17_tpu-8.config")
    frcnn = config.faster_rcnn
    frcnn.num_classes = 3
    shrink_faster_rcnn(frcnn)
    model = model_builder.build(config, is_training=True)
    images, shapes = model.preprocess(tf.random.uniform([1, 128, 128, 3], 0, 255, seed=7))
    _groundtruth(model)
    with tf.GradientTape() as tape:
        predictions = model.predict(images, shapes)
        losses = model.loss(predictions, shapes)
        total = tf.add_n(list(losses.values()))
    assert [f.shape[1] for f in predictions["rpn_features_to_crop"]] == [32, 16, 8, 4, 2]  # levels 2..6
    assert predictions["anchors"].shape[0] == 6 * (32 ** 2 + 16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2)
    assert predictions["box_classifier_features"].shape == (8, 1, 1, 1024)
    assert all(np.isfinite(v.numpy()) for v in losses.values())
    gradients = tape.gradient(total, model.trainable_variables)
    assert sum(g is not None for g in gradients) > 0.9 * len(gradients)


def test_fpn_model_has_the_od_api_variables_and_checkpoint_keys(tmp_path):
    """Faster R-CNN ResNet50 FPN (the sample config, 3 classes) against what the real OD API built from it
    (tests/data/faster_rcnn_resnet50_fpn_od_api.json): variable names, shapes, trainable flags and order, and the
    checkpoint's object paths, so that the OD API's checkpoints of this model restore (its Zoo checkpoint
    included) and ours restore there."""
    reference = json.loads((pathlib.Path(__file__).parent / "data/faster_rcnn_resnet50_fpn_od_api.json").read_text())
    keras.backend.clear_session()
    config = _model_config(CONFIGS / "faster_rcnn_resnet50_v1_fpn_640x640_coco17_tpu-8.config")
    config.faster_rcnn.num_classes = 3
    model = model_builder.build(config, is_training=False)
    images, shapes = model.preprocess(tf.zeros([1, 480, 640, 3]))
    model.postprocess(model.predict(images, shapes), shapes)
    assert [(v.name, v.shape.as_list(), v.trainable) for v in model.variables] == \
        [tuple(entry) for entry in reference["model_variables"]]
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    assert {name: shape for name, shape in tf.train.list_variables(path) if name.startswith("model/")} == \
        reference["checkpoint_variables"]


def test_matmul_crop_and_resize_equals_native_crop_and_resize():
    features = [tf.random.normal([2, 9, 11, 5], seed=5)]
    boxes = tf.constant([[[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.55, 0.9]],
                         [[0.3, 0.3, 0.4, 0.35], [0.5, 0.0, 1.0, 0.5]]])
    native = multilevel_native_crop_and_resize(features, boxes, None, [4, 3])
    matmul = multilevel_matmul_crop_and_resize(features, boxes, None, [4, 3])
    assert native.shape == matmul.shape == (2, 2, 4, 3, 5)
    np.testing.assert_allclose(matmul.numpy(), native.numpy(), atol=1e-5)


def test_multilevel_crop_takes_each_box_from_its_level():
    small = tf.fill([1, 4, 4, 1], 1.0)
    large = tf.fill([1, 8, 8, 1], 2.0)
    boxes = tf.constant([[[0.0, 0.0, 0.5, 0.5], [0.2, 0.2, 0.8, 0.8]]])
    levels = tf.constant([[1, 0]])
    for crop in (multilevel_native_crop_and_resize, multilevel_matmul_crop_and_resize):
        result = crop([small, large], boxes, levels, [2, 2]).numpy()
        np.testing.assert_allclose(result[0, 0], 2.0, atol=1e-6)
        np.testing.assert_allclose(result[0, 1], 1.0, atol=1e-6)


def test_balanced_sampler_respects_batch_size_and_positive_fraction():
    tf.random.set_seed(6)
    labels = tf.constant([True] * 30 + [False] * 70)
    indicator = tf.constant([True] * 100)
    selected = BalancedPositiveNegativeSampler(0.25).subsample(indicator, 16, labels).numpy()
    assert selected.sum() == 16
    assert selected[:30].sum() == 4
    few_negatives = tf.constant([True] * 30 + [False] * 70)
    candidates = tf.constant([True] * 32 + [False] * 68)  # 30 positives, 2 negatives are candidates
    selected = BalancedPositiveNegativeSampler(0.5).subsample(candidates, 16, few_negatives).numpy()
    assert selected[:30].sum() == 8 and selected[30:].sum() == 2


def test_grid_anchors_are_aspect_major_and_centred_on_the_stride_grid():
    generator = GridAnchorGenerator(scales=[0.5, 1.0], aspect_ratios=[1.0, 4.0], base_anchor_size=[64, 64],
                                    anchor_stride=[16, 16], anchor_offset=[0, 0])
    assert generator.num_anchors_per_location() == [4]
    anchors = generator.generate([(2, 3)])[0].numpy()
    assert anchors.shape == (2 * 3 * 4, 4)
    np.testing.assert_allclose(anchors[0], [-16, -16, 16, 16])  # scale 0.5, ratio 1 at (0, 0)
    np.testing.assert_allclose(anchors[2], [-8, -32, 8, 32])  # scale 0.5, ratio 4: h 64*0.5/2, w 64*0.5*2
    np.testing.assert_allclose(anchors[4], [-16, 0, 16, 32])  # next column: x centre 16


def test_hard_mining_keeps_every_image_of_the_batch():
    """The OD API returns the first image's mined loss from inside its loop; here each image's mined loss is summed,
    which equals the OD API at batch 1 and loses no image at larger batches."""
    from types import SimpleNamespace
    from tfsynth.core.losses import HardExampleMiner
    miner = HardExampleMiner(num_hard_examples=2, iou_threshold=0.5, loss_type="cls")
    owner = SimpleNamespace(_hard_example_miner=miner)
    mine = faster_rcnn.FasterRCNNMetaArch._unpad_proposals_and_apply_hard_mining  # pylint: disable=protected-access
    boxes = tf.constant([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]],
                         [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [0, 0, 0, 0]]], tf.float32)
    cls_losses = tf.constant([[5.0, 4.0, 1.0, 3.0], [2.0, 7.0, 1.0, 100.0]])
    loc_losses = tf.constant([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 100.0]])
    num_proposals = tf.constant([4, 3])
    loc, cls = mine(owner, tf.unstack(boxes), loc_losses, cls_losses, num_proposals)
    # image 0: box 1 overlaps box 0 (suppressed), so the two hardest are 5 and 3; image 1: 7 and 2 (the padded
    # fourth proposal, loss 100, is not a proposal)
    assert float(cls) == pytest.approx(5 + 3 + 7 + 2)
    assert float(loc) == pytest.approx(1 + 1 + 2 + 1)
    first_only, _ = mine(owner, tf.unstack(boxes[:1]), loc_losses[:1], cls_losses[:1], num_proposals[:1])
    assert float(first_only) == pytest.approx(1 + 1)
