"""Every SSD feature extractor that model_builder accepts has the OD API's variables: names, shapes, trainability
and order of the feature extractor's variables (as model.variables lists them) equal a specification derived from
the OD API's layer definitions.

Extractors with a golden in ../shared (ssd_mobilenet_v2_keras; ssd_mobilenet_v2_fpn_keras as FPNLite) are checked
end to end in test_golden_ssd.py against the real API's manifest and checkpoint. The others have no golden; their
expected variables are derived here, and this is how we know them:

- Layer names and widths come from the OD API's extractor sources (tensorflow/models, research/object_detection/
  models/): ssd_mobilenet_v1_keras_feature_extractor.py (backbone outputs conv_pw_11_relu / conv_pw_13_relu, feature
  map layout from_layer [Conv2d_11_pointwise, Conv2d_13_pointwise, '', '', '', ''] with depths [-1, -1, 512, 256,
  256, 128]), ssd_mobilenet_v1_fpn_keras_feature_extractor.py (FPN on conv_pw_3/5/11/13_relu; with use_depthwise
  the conv defs conv_pw_12 -> 512 and conv_pw_13 -> 256 reach the backbone; coarse blocks bottom_up_Conv2d_{level -
  5 + 13}), ssd_mobilenet_v2_fpn_keras_feature_extractor.py (FPN on layer_4/7/14/19 = block_2_add, block_5_add,
  block_12_add, out_relu; coarse blocks bottom_up_Conv2d_{level - 5 + 19}; its 256-wide Conv_1 conv def is never
  passed to the backbone), ssd_resnet_v1_fpn_keras_feature_extractor.py (FPN on conv2_block3_out ... conv5_block3_out
  per depth; coarse blocks are plain Conv2D bottom_up_block5, bottom_up_block6), feature_map_generators.py
  (KerasFpnTopDownFeatureMaps: projection_N 1x1 convs with bias, smoothing_N conv blocks, all called under the name
  scope 'top_down'; create_conv_block: <name>_conv or a SeparableConv2D <name>_depthwise_conv, then
  <name>_batchnorm; KerasMultiResolutionFeatureMaps: <base>_1_Conv2d_<i>_1x1_<d/2> and <base>_2_Conv2d_<i>_3x3_s2_<d>).
- Backbones: the OD API's keras_models wrap keras.applications' MobileNet / ResNet50/101/152 with layer overrides
  that keep the layers, names and order (keras_models/mobilenet_v1.py, resnet_v1.py); resnet_v1's Conv2D override
  sets use_bias=False. So the ResNet backbone variables are keras.applications' own, conv biases dropped, and the
  MobileNetV1 ones follow keras.applications' filter table (64, 128, 128, 256, 256, 512 x 6, 1024, 1024).
- What the goldens established and these extractors share: a conv with a batch-normalized config carries no bias;
  batch norm gives gamma, beta (trainable) then moving_mean, moving_variance; backbone variables carry no scope
  prefix while the extractor's own layers are under its keras name (the snake case of the OD API's class name);
  the detection model's model.variables lists all trainable variables then all non-trainable ones, each in the
  order the extractor tracks its parts: _coarse_feature_layers, classification_backbone, _fpn_features_generator
  for the FPN extractors (the OD API declares _coarse_feature_layers = [] in __init__ and builds the other two in
  build()); classification_backbone then _feature_map_generator for SSD MobileNetV1.
- MobileNetV2 backbone (the V2 FPN without depthwise): the FPNLite golden's manifest, whose backbone is the same
  whatever use_depthwise because the OD API never hands its FPNLite conv def to the backbone.
"""
import json
from typing import Dict, List, Sequence, Tuple

import pytest
import tf_keras as keras

from tests.test_ssd_extractors import build
from tfsynth.utils.shared_data import SHARED_DATA

Variable = Tuple[str, List[int], bool]
FPNLITE_GOLDEN = SHARED_DATA / "odapi_reference/golden/ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8"


class Spec:
    """Expected variables of one part of an extractor, trainable and non-trainable kept apart (keras lists all
    trainable variables of a model before its non-trainable ones)."""

    def __init__(self):
        self.trainable: List[Tuple[str, List[int]]] = []
        self.non_trainable: List[Tuple[str, List[int]]] = []

    def weight(self, name: str, shape: Sequence[int]) -> "Spec":
        self.trainable.append((name + ":0", list(shape)))
        return self

    def batch_norm(self, name: str, depth: int) -> "Spec":
        self.weight(f"{name}/gamma", [depth]).weight(f"{name}/beta", [depth])
        self.non_trainable += [(f"{name}/moving_mean:0", [depth]), (f"{name}/moving_variance:0", [depth])]
        return self

    def conv_block(self, name: str, in_depth: int, depth: int, kernel: int, separable: bool) -> "Spec":
        """feature_map_generators.create_conv_block: conv (no bias: batch norm follows) and batch norm."""
        if separable:
            self.weight(f"{name}_depthwise_conv/depthwise_kernel", [kernel, kernel, in_depth, 1])
            self.weight(f"{name}_depthwise_conv/pointwise_kernel", [1, 1, in_depth, depth])
        else:
            self.weight(f"{name}_conv/kernel", [kernel, kernel, in_depth, depth])
        return self.batch_norm(f"{name}_batchnorm", depth)


def in_order(*parts: Spec) -> List[Variable]:
    """The extractor's variables in the detection model's model.variables, its tracked parts being `parts`."""
    return ([(n, s, True) for part in parts for n, s in part.trainable]
            + [(n, s, False) for part in parts for n, s in part.non_trainable])


def fpn_parts(scope: str, backbone_depths: Sequence[int], depth: int, separable: bool,
              coarse_names: Sequence[str]) -> Tuple[Spec, Spec]:
    """(coarse layers, FPN top-down) of an SSD FPN extractor: backbone_depths are the widths of the FPN's input maps,
    fine to coarse; the top-down layers are KerasFpnTopDownFeatureMaps 'FeatureMaps' under name scope 'top_down'."""
    coarse = Spec()
    for name in coarse_names:
        coarse.conv_block(f"{scope}/{name}", depth, depth, 3, separable)
    top_down = Spec()
    num_levels = len(backbone_depths)
    prefix = f"{scope}/FeatureMaps/top_down"
    # top_layers (the coarsest map's projection), then residual_blocks coarse to fine, then conv_layers.
    for level in reversed(range(num_levels)):
        top_down.weight(f"{prefix}/projection_{level + 1}/kernel", [1, 1, backbone_depths[level], depth])
        top_down.weight(f"{prefix}/projection_{level + 1}/bias", [depth])
    for level in reversed(range(num_levels - 1)):
        top_down.conv_block(f"{prefix}/smoothing_{level + 1}", depth, depth, 3, separable)
    return coarse, top_down


def mobilenet_v1_backbone(conv_defs: Dict[str, int] = None) -> Spec:
    """keras.applications' MobileNet at alpha 1 (min_depth 16 changes nothing), conv_defs replacing widths."""
    conv_defs = conv_defs or {}
    spec = Spec().weight("conv1/kernel", [3, 3, 3, 32]).batch_norm("conv1_bn", 32)
    channels = 32
    for block, filters in enumerate([64, 128, 128, 256, 256] + [512] * 6 + [1024, 1024], start=1):
        filters = conv_defs.get(f"conv_pw_{block}", filters)
        spec.weight(f"conv_dw_{block}/depthwise_kernel", [3, 3, channels, 1]).batch_norm(f"conv_dw_{block}_bn",
                                                                                          channels)
        spec.weight(f"conv_pw_{block}/kernel", [1, 1, channels, filters]).batch_norm(f"conv_pw_{block}_bn", filters)
        channels = filters
    return spec


def resnet_backbone(depth: int) -> Spec:
    """keras.applications' ResNet{depth} variables, in its order, without the conv biases (the OD API's override)."""
    keras.backend.clear_session()
    application = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101,
                   152: keras.applications.ResNet152}[depth]
    reference = application(weights=None, include_top=False, input_shape=(None, None, 3))
    spec = Spec()
    for variable in reference.trainable_variables:
        if not (variable.name.split("/")[0].endswith("_conv") and "/bias" in variable.name):
            spec.trainable.append((variable.name, variable.shape.as_list()))
    spec.non_trainable = [(v.name, v.shape.as_list()) for v in reference.non_trainable_variables]
    keras.backend.clear_session()
    return spec


def golden_mobilenet_v2_backbone() -> Spec:
    """The backbone variables (no extractor scope, not the box predictor's) of the FPNLite golden manifest."""
    manifest = json.loads((FPNLITE_GOLDEN / "manifest.json").read_text())
    spec = Spec()
    for name, shape, trainable in manifest["model_variables"]:
        if name.split("/")[0] in ("ssd_mobile_net_v2_fpn_keras_feature_extractor",
                                  "WeightSharedConvolutionalBoxPredictor"):
            continue
        (spec.trainable if trainable else spec.non_trainable).append((name, shape))
    assert spec.trainable[0] == ("Conv1/kernel:0", [3, 3, 3, 32]) and spec.trainable[-1][0] == "Conv_1_bn/beta:0"
    return spec


def extractor_variables(config_name: str, size: int, extractor_type: str = None, edit=None) -> List[Variable]:
    model, _, _ = build(config_name, size, extractor_type, edit=edit)
    extractor = model.feature_extractor
    # The order the detection model (a keras Layer, as the OD API's) lists them in model.variables, hence in the
    # golden manifests: trainable ones first.
    return ([(v.name, v.shape.as_list(), True) for v in extractor.trainable_variables]
            + [(v.name, v.shape.as_list(), False) for v in extractor.non_trainable_variables])


def assert_same_variables(ours: List[Variable], expected: List[Variable]) -> None:
    """Equal lists; what is missing or extra is named first, the order checked after."""
    missing = [v for v in expected if v not in ours]
    extra = [v for v in ours if v not in expected]
    assert not missing and not extra, f"missing ({len(missing)}): {missing[:5]}; extra ({len(extra)}): {extra[:5]}"
    assert ours == expected  # same order


def test_mobilenet_v1_fpn_sample_config():
    scope = "ssd_mobile_net_v1_fpn_keras_feature_extractor"
    coarse, top_down = fpn_parts(scope, [256, 512, 1024], 256, False,
                                 ["bottom_up_Conv2d_14", "bottom_up_Conv2d_15"])
    ours = extractor_variables("ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8.config", 64)
    assert_same_variables(ours, in_order(coarse, mobilenet_v1_backbone(), top_down))


def test_mobilenet_v1_fpn_depthwise():
    """use_depthwise: separable FPN and coarse convs, conv_pw_12 / conv_pw_13 narrowed to 512 / 256."""
    def depthwise(config):
        config.use_depthwise = True
        config.fpn.additional_layer_depth = 128
    scope = "ssd_mobile_net_v1_fpn_keras_feature_extractor"
    coarse, top_down = fpn_parts(scope, [256, 512, 256], 128, True,
                                 ["bottom_up_Conv2d_14", "bottom_up_Conv2d_15"])
    backbone = mobilenet_v1_backbone({"conv_pw_12": 512, "conv_pw_13": 256})
    ours = extractor_variables("ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8.config", 64, edit=depthwise)
    assert_same_variables(ours, in_order(coarse, backbone, top_down))


@pytest.mark.parametrize("extractor_type", ["ssd_mobilenet_v1_keras", "ssd_mobilenet_v1"])
def test_mobilenet_v1(extractor_type):
    """No TF2 sample config uses SSD MobileNetV1: the MobileNetV2 one with the type swapped (use_depthwise off)."""
    scope = "ssd_mobile_net_v1_keras_feature_extractor/FeatureMaps"
    feature_maps = Spec()
    channels = 1024
    for index, depth in [(2, 512), (3, 256), (4, 256), (5, 128)]:
        name_1x1 = f"{scope}/Conv2d_13_pointwise_1_Conv2d_{index}_1x1_{depth // 2}"
        feature_maps.weight(f"{name_1x1}_conv/kernel", [1, 1, channels, depth // 2])
        feature_maps.batch_norm(f"{name_1x1}_batchnorm", depth // 2)
        feature_maps.conv_block(f"{scope}/Conv2d_13_pointwise_2_Conv2d_{index}_3x3_s2_{depth}", depth // 2, depth,
                                3, False)
        channels = depth
    ours = extractor_variables("ssd_mobilenet_v2_320x320_coco17_tpu-8.config", 64, extractor_type)
    assert_same_variables(ours, in_order(mobilenet_v1_backbone(), feature_maps))


@pytest.mark.parametrize("depth, separable", [(256, False), (128, True)])
def test_mobilenet_v2_fpn(depth, separable):
    """The V2 FPN without depthwise (no golden; the FPNLite config with use_depthwise off and the proto's default
    depth 256), and FPNLite at 640 (the sample config as is)."""
    def edit(config):
        config.use_depthwise = separable
        config.fpn.additional_layer_depth = depth
    scope = "ssd_mobile_net_v2_fpn_keras_feature_extractor"
    # layer_7 / layer_14 / layer_19 (levels 3..5) are 32 / 96 / 1280 wide.
    coarse, top_down = fpn_parts(scope, [32, 96, 1280], depth, separable,
                                 ["bottom_up_Conv2d_20", "bottom_up_Conv2d_21"])
    ours = extractor_variables("ssd_mobilenet_v2_fpnlite_640x640_coco17_tpu-8.config", 64, edit=edit)
    assert_same_variables(ours, in_order(coarse, golden_mobilenet_v2_backbone(), top_down))


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_fpn_sample_configs(depth):
    scope = f"ResNet{depth}V1_FPN"
    coarse, top_down = fpn_parts(scope, [512, 1024, 2048], 256, False, ["bottom_up_block5", "bottom_up_block6"])
    expected = in_order(coarse, resnet_backbone(depth), top_down)
    ours = extractor_variables(f"ssd_resnet{depth}_v1_fpn_640x640_coco17_tpu-8.config", 160)
    assert_same_variables(ours, expected)
