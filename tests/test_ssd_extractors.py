"""SSD feature extractors MobileNetV1, MobileNetV1 FPN and ResNet50/101/152 V1 FPN built from the OD API's sample
configs: one forward pass at a tiny size, the OD API's Keras layer names and checkpoint keys, and the fine-tune
"classification" restore into the backbone."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tests.test_ssd_model import REF, load_model_config, run_once
from tfsynth.builders import model_builder
from tfsynth.models import mobilenet_v1
from tfsynth.training.checkpoints import (CheckpointMismatchError, expected_checkpoint_keys,
                                          restore_fine_tune_checkpoint)

CONFIGS = REF / "configs_tf2"
V1_FPN = "ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8.config"
# No TF2 sample config uses plain ssd_mobilenet_v1_keras: the MobileNetV2 one with the type swapped stands in.
V2_SSD = "ssd_mobilenet_v2_320x320_coco17_tpu-8.config"
CKPT = "/.ATTRIBUTES/VARIABLE_VALUE"


def build(config_name, size, extractor_type=None, is_training=False, edit=None):
    keras.backend.clear_session()
    model_config = load_model_config(CONFIGS / config_name, size=size)
    if extractor_type:
        model_config.ssd.feature_extractor.type = extractor_type
    if edit:
        edit(model_config.ssd.feature_extractor)
    model = model_builder.build(model_config, is_training=is_training)
    predictions, shapes = run_once(model, size=size)
    return model, predictions, shapes


def layer_names(model):
    return {layer.name for layer in model.layers}


def checkpoint_keys(model):
    return expected_checkpoint_keys({"model": model})


@pytest.mark.parametrize("extractor_type", ["ssd_mobilenet_v1_keras", "ssd_mobilenet_v1"])
def test_mobilenet_v1_builds_runs_with_od_api_names(extractor_type):
    model, predictions, shapes = build(V2_SSD, 128, extractor_type)
    maps = predictions["feature_maps"]
    assert [m.shape[1] for m in maps] == [8, 4, 2, 1, 1, 1]  # strides 16, 32, then stride-2 extras
    assert [m.shape[-1] for m in maps] == [512, 1024, 512, 256, 256, 128]
    num_anchors = predictions["anchors"].shape[0]
    assert predictions["class_predictions_with_background"].shape == (1, num_anchors, 4)
    detections = model.postprocess(predictions, shapes)
    assert detections["detection_boxes"].shape == (1, 100, 4)

    extractor = model.feature_extractor
    backbone = extractor.classification_backbone
    expected = {"conv1", "conv1_bn", "conv1_relu"}
    for block in range(1, 14):
        expected |= {f"conv_dw_{block}", f"conv_dw_{block}_bn", f"conv_dw_{block}_relu",
                     f"conv_pw_{block}", f"conv_pw_{block}_bn", f"conv_pw_{block}_relu"}
    assert expected <= layer_names(backbone)
    assert backbone.get_layer("conv_pw_13").kernel.shape == (1, 1, 1024, 1024)
    names = {v.name for v in extractor.variables}
    assert "conv1/kernel:0" in names and "conv_dw_13/depthwise_kernel:0" in names
    assert any(n.endswith("FeatureMaps/Conv2d_13_pointwise_2_Conv2d_2_3x3_s2_512_conv/kernel:0") for n in names)
    assert any(n.endswith("FeatureMaps/Conv2d_13_pointwise_1_Conv2d_5_1x1_64_batchnorm/gamma:0") for n in names)

    keys = checkpoint_keys(model)
    assert keys["model/_feature_extractor/classification_backbone/layer_with_weights-0/kernel" + CKPT] == [3, 3, 3, 32]
    # 27 convolutions (conv1, 13 depthwise, 13 pointwise) each with its batch norm.
    backbone_layers = {k.split("/")[3] for k in keys if "/classification_backbone/" in k}
    assert len(backbone_layers) == 54
    assert keys["model/_feature_extractor/_feature_map_generator/convolutions/2/3/kernel" + CKPT] == [3, 3, 256, 512]


def test_mobilenet_v1_fpn_sample_config_builds_runs_with_od_api_names():
    model, predictions, shapes = build(V1_FPN, 128)
    maps = predictions["feature_maps"]
    assert [m.shape[1:] for m in maps] == [(16, 16, 256), (8, 8, 256), (4, 4, 256), (2, 2, 256), (1, 1, 256)]
    assert model.postprocess(predictions, shapes)["detection_boxes"].shape[1] == 100

    extractor = model.feature_extractor
    assert [o.shape[-1] for o in extractor.classification_backbone.outputs] == [128, 256, 512, 1024]
    names = {v.name for v in extractor.variables}
    # The OD API's FPN layers run under the name scope 'top_down' (feature_map_generators.KerasFpnTopDownFeatureMaps).
    for layer in ("FeatureMaps/top_down/projection_3", "FeatureMaps/top_down/projection_2",
                  "FeatureMaps/top_down/projection_1"):
        assert any(n.endswith(layer + "/kernel:0") for n in names), layer
    for layer in ("FeatureMaps/top_down/smoothing_2_conv", "FeatureMaps/top_down/smoothing_1_conv",
                  "bottom_up_Conv2d_14_conv",
                  "bottom_up_Conv2d_15_conv"):
        assert any(n.endswith(layer + "/kernel:0") for n in names), layer
    assert "conv_pw_3/kernel:0" in names

    keys = checkpoint_keys(model)
    prefix = "model/_feature_extractor/"
    assert keys[prefix + "_fpn_features_generator/top_layers/0/kernel" + CKPT] == [1, 1, 1024, 256]
    assert keys[prefix + "_fpn_features_generator/residual_blocks/1/0/kernel" + CKPT] == [1, 1, 256, 256]
    assert keys[prefix + "_fpn_features_generator/conv_layers/0/0/kernel" + CKPT] == [3, 3, 256, 256]
    assert keys[prefix + "_coarse_feature_layers/1/0/kernel" + CKPT] == [3, 3, 256, 256]
    # override_base_feature_extractor_hyperparams: the backbone's batch norm is the config's (decay 0.997).
    assert extractor.classification_backbone.get_layer("conv_pw_5_bn").momentum == pytest.approx(0.997)


def test_mobilenet_v1_fpn_depthwise_narrows_last_pointwise_convs():
    def depthwise(config):
        config.use_depthwise = True
    model, predictions, _ = build(V1_FPN, 64, edit=depthwise)
    backbone = model.feature_extractor.classification_backbone
    assert backbone.get_layer("conv_pw_12").kernel.shape[-1] == 512
    assert backbone.get_layer("conv_pw_13").kernel.shape[-1] == 256
    names = {v.name for v in model.feature_extractor.variables}
    assert any(n.endswith("FeatureMaps/top_down/smoothing_1_depthwise_conv/pointwise_kernel:0") for n in names)


def test_mobilenet_v1_width_follows_the_od_api_override():
    # keras multiplies by alpha, the OD API's conv override a second time, then applies min_depth.
    assert mobilenet_v1._filters(1024, 0.5, 16, "conv_pw_13", None) == 256
    assert mobilenet_v1._filters(32, 0.25, 8, "conv1", None) == 8
    assert mobilenet_v1._filters(1024, 0.5, 8, "conv_pw_13", {"conv_pw_13": 256}) == 128
    backbone = mobilenet_v1.mobilenet_v1(batchnorm_training=False, alpha=0.5, min_depth=8)
    assert backbone.get_layer("conv_pw_13").kernel.shape == (1, 1, 256, 256)
    assert backbone.get_layer("conv1_bn").momentum == pytest.approx(0.9997)


def _restore_classification(config_name, size, tmp_path, extractor_type=None):
    source, _, _ = build(config_name, size, extractor_type)
    backbone = source.feature_extractor.classification_backbone
    for variable in backbone.trainable_variables:  # distinguishable values
        variable.assign(tf.random.stateless_normal(variable.shape, seed=[1, 2]))
    path = tf.train.Checkpoint(feature_extractor=backbone).save(str(tmp_path / "classification"))
    saved = [v.numpy() for v in backbone.variables]
    target, _, _ = build(config_name, size, extractor_type)
    objects = target.restore_from_objects("classification")
    assert objects["feature_extractor"] is target.feature_extractor.classification_backbone
    restore_fine_tune_checkpoint(target, path, "classification")
    for ours, theirs in zip(target.feature_extractor.classification_backbone.variables, saved, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs)
    return target, path


@pytest.mark.parametrize("config_name, extractor_type", [(V2_SSD, "ssd_mobilenet_v1_keras"), (V1_FPN, None)])
def test_mobilenet_v1_classification_restore_fills_the_backbone(tmp_path, config_name, extractor_type):
    target, path = _restore_classification(config_name, 64, tmp_path, extractor_type)
    # A classification checkpoint is no detection checkpoint: restoring it as one names what is missing.
    with pytest.raises(CheckpointMismatchError, match="missing"):
        restore_fine_tune_checkpoint(target, path, "detection")


RESNET_FPN = {50: "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config",
              101: "ssd_resnet101_v1_fpn_640x640_coco17_tpu-8.config",
              152: "ssd_resnet152_v1_fpn_640x640_coco17_tpu-8.config"}
RESNET_SIZE = 160  # the OD API's ResNet FPN needs at least 129 x 129; a multiple of 32 keeps the FPN sums aligned


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_fpn_sample_configs_build_run_with_od_api_names(depth):
    model, predictions, shapes = build(RESNET_FPN[depth], RESNET_SIZE)
    maps = predictions["feature_maps"]
    assert [m.shape[1:] for m in maps] == [(20, 20, 256), (10, 10, 256), (5, 5, 256), (3, 3, 256), (2, 2, 256)]
    num_anchors = predictions["anchors"].shape[0]
    assert num_anchors == 6 * (400 + 100 + 25 + 9 + 4)  # 3 aspect ratios x 2 scales per octave
    assert model.postprocess(predictions, shapes)["detection_boxes"].shape[1] == 100

    extractor = model.feature_extractor
    assert extractor.name == f"ResNet{depth}V1_FPN"
    backbone = extractor.classification_backbone
    assert [o.shape[-1] for o in backbone.outputs] == [256, 512, 1024, 2048]
    stage_blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]
    outputs = [f"conv{stage + 2}_block{blocks}_out" for stage, blocks in enumerate(stage_blocks)]
    assert [o.node.layer.name for o in backbone.outputs] == outputs
    names = {v.name for v in extractor.variables}
    assert "conv1_conv/kernel:0" in names and f"conv4_block{stage_blocks[2]}_3_bn/moving_variance:0" in names
    assert not any(n.startswith("conv1_conv/bias") for n in names)  # the OD API's convs have no bias
    for layer in ("FeatureMaps/top_down/projection_3", "FeatureMaps/top_down/smoothing_1_conv",
                  "bottom_up_block5_conv", "bottom_up_block6_conv"):
        assert f"ResNet{depth}V1_FPN/{layer}/kernel:0" in names, layer
    # override_base_feature_extractor_hyperparams: the config's batch norm (epsilon 0.001) and RELU_6 in the
    # backbone, as in the OD API.
    assert backbone.get_layer("conv2_block1_1_bn").epsilon == pytest.approx(0.001)
    relu = backbone.get_layer("conv2_block1_1_relu")
    np.testing.assert_array_equal(relu(tf.constant([-1.0, 3.0, 9.0])).numpy(), [0.0, 3.0, 6.0])

    keys = checkpoint_keys(model)
    prefix = "model/_feature_extractor/"
    assert keys[prefix + "classification_backbone/layer_with_weights-0/kernel" + CKPT] == [7, 7, 3, 64]
    assert keys[prefix + "_fpn_features_generator/top_layers/0/kernel" + CKPT] == [1, 1, 2048, 256]
    assert keys[prefix + "_fpn_features_generator/residual_blocks/1/0/kernel" + CKPT] == [1, 1, 512, 256]
    assert keys[prefix + "_coarse_feature_layers/1/0/kernel" + CKPT] == [3, 3, 256, 256]
    num_convs = 1 + 3 * sum(stage_blocks) + 4  # stem, three per block, four projection shortcuts
    assert len({k.split("/")[3] for k in keys if "/classification_backbone/" in k}) == 2 * num_convs


@pytest.mark.parametrize("depth, application", [(50, "ResNet50"), (101, "ResNet101"), (152, "ResNet152")])
def test_resnet_backbone_weight_order_is_keras_applications(depth, application):
    """The checkpoint's layer_with_weights-N follow the order of keras.applications' ResNet, which the OD API
    builds (its layer overrides add and drop only weightless padding layers)."""
    from tfsynth.models.ssd_resnet_v1_fpn_keras import ResnetV1LayerFactory
    from tfsynth.models.faster_rcnn_resnet_keras import ResnetV1Backbone
    keras.backend.clear_session()
    reference = getattr(keras.applications, application)(weights=None, include_top=False,
                                                          input_shape=(None, None, 3))
    ours = ResnetV1Backbone(depth, False, layer_factory=ResnetV1LayerFactory(False)).model
    # Name and first weight's shape (kernel or gamma) of every layer with weights, in order; keras' convs carry
    # a bias the OD API drops, so whole weight lists differ by design.
    def signature(model):
        return [(layer.name, tuple(layer.weights[0].shape)) for layer in model.layers if layer.weights]
    assert signature(ours) == signature(reference)


def test_mobilenet_v1_weight_order_is_keras_applications():
    keras.backend.clear_session()
    reference = keras.applications.MobileNet(weights=None, include_top=False, input_shape=(None, None, 3))
    ours = mobilenet_v1.mobilenet_v1(batchnorm_training=False)
    assert [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in ours.layers if layer.weights] == \
        [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in reference.layers if layer.weights]


def test_resnet_v1_fpn_classification_restore_fills_the_backbone(tmp_path):
    _restore_classification(RESNET_FPN[50], RESNET_SIZE, tmp_path)


@pytest.mark.parametrize("field", ["use_explicit_padding", "use_depthwise"])
def test_resnet_v1_fpn_refuses_options_it_does_not_have(field):
    def set_field(config):
        setattr(config, field, True)
    with pytest.raises(ValueError, match=f"feature_extractor.{field}"):
        build(RESNET_FPN[50], RESNET_SIZE, edit=set_field)


def test_resnet_v1_fpn_refuses_images_below_129():
    with pytest.raises(ValueError, match="129x129"):
        build(RESNET_FPN[50], 128)
