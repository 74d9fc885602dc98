"""The config protos: every OD API sample config parses and round-trips; defaults and numbers are the OD API's."""
import pathlib

import pytest
from google.protobuf import text_format

from tfsynth.protos import (anchor_generator_pb2, box_predictor_pb2, center_net_pb2, eval_pb2,
                            faster_rcnn_pb2, hyperparams_pb2, image_resizer_pb2, input_reader_pb2,
                            losses_pb2, model_pb2, optimizer_pb2, pipeline_pb2, post_processing_pb2,
                            preprocessor_pb2, ssd_anchor_generator_pb2, ssd_pb2,
                            string_int_label_map_pb2, train_pb2)
from tfsynth.utils.shared_data import SHARED_DATA

REFERENCE = SHARED_DATA / "odapi_reference"
SAMPLE_CONFIGS = sorted(REFERENCE.glob("configs_tf2/*.config")) + sorted(REFERENCE.glob("configs_tf1/*.config")) \
    + sorted(REFERENCE.glob("golden/*/pipeline.config"))
PROTO_DIR = pathlib.Path(__file__).resolve().parent.parent / "protos"


def _config_id(path: pathlib.Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_sample_configs_are_present():
    # 40 TF2 samples, 1 TF1 sample, golden model configs: the reference set must not silently shrink.
    assert len([p for p in SAMPLE_CONFIGS if p.parent.name == "configs_tf2"]) == 40
    assert any(p.parent.name == "configs_tf1" for p in SAMPLE_CONFIGS)
    assert any(p.name == "pipeline.config" for p in SAMPLE_CONFIGS)


@pytest.mark.parametrize("path", SAMPLE_CONFIGS, ids=_config_id)
def test_sample_config_parses_and_round_trips(path):
    config = text_format.Parse(path.read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    assert config.model.WhichOneof("model") in ("ssd", "faster_rcnn", "center_net")
    # Text round trip.
    again = text_format.Parse(text_format.MessageToString(config), pipeline_pb2.TrainEvalPipelineConfig())
    assert again == config
    # Binary round trip.
    from_bytes = pipeline_pb2.TrainEvalPipelineConfig.FromString(config.SerializeToString())
    assert from_bytes == config


def test_every_proto_file_is_in_package_tfsynth_protos_with_proto2():
    for proto in PROTO_DIR.glob("*.proto"):
        text = proto.read_text()
        assert 'syntax = "proto2";' in text, proto.name
        assert "package tfsynth.protos;" in text, proto.name
        for line in text.splitlines():
            if line.startswith("import "):
                assert line.startswith('import "tfsynth/protos/'), f"{proto.name}: {line}"


def test_known_defaults():
    anchors = ssd_anchor_generator_pb2.SsdAnchorGenerator()
    assert anchors.num_layers == 6
    assert anchors.min_scale == pytest.approx(0.2)
    assert anchors.max_scale == pytest.approx(0.95)
    assert anchors.interpolated_scale_aspect_ratio == pytest.approx(1.0)
    assert anchors.reduce_boxes_in_lowest_layer is True

    train = train_pb2.TrainConfig()
    assert train.batch_size == 32
    assert train.fine_tune_checkpoint_type == ""
    assert train.fine_tune_checkpoint_version == train_pb2.V1
    assert train.add_regularization_loss is True
    assert train.unpad_groundtruth_tensors is True
    assert train.keep_checkpoint_every_n_hours == pytest.approx(10000.0)

    assert optimizer_pb2.Optimizer().use_moving_average is True
    assert optimizer_pb2.Optimizer().moving_average_decay == pytest.approx(0.9999)
    assert optimizer_pb2.AdamOptimizer().epsilon == pytest.approx(1e-8)
    cosine = optimizer_pb2.CosineDecayLearningRate()
    assert (cosine.learning_rate_base, cosine.total_steps, cosine.warmup_steps) == \
        (pytest.approx(0.002), 4000000, 10000)

    nms = post_processing_pb2.BatchNonMaxSuppression()
    assert nms.iou_threshold == pytest.approx(0.6)
    assert (nms.max_detections_per_class, nms.max_total_detections) == (100, 100)
    assert nms.change_coordinate_frame is True

    reader = input_reader_pb2.InputReader()
    assert reader.shuffle is True and reader.num_readers == 64 and reader.sample_1_of_n_examples == 1
    assert reader.mask_type == input_reader_pb2.NUMERICAL_MASKS
    assert reader.input_type == input_reader_pb2.TF_EXAMPLE
    assert reader.frame_index == -1

    assert eval_pb2.EvalConfig().batch_size == 1
    assert eval_pb2.EvalConfig().retain_original_images is True
    assert eval_pb2.EvalConfig().groundtruth_box_visualization_color == "black"

    ssd = ssd_pb2.Ssd()
    assert ssd.add_background_class is True and ssd.normalize_loss_by_num_matches is True
    assert ssd.feature_extractor.min_depth == 16 and ssd.feature_extractor.num_layers == 6
    assert ssd_pb2.SsdFeatureExtractor().depth_multiplier == pytest.approx(1.0)

    hyper = hyperparams_pb2.Hyperparams()
    assert hyper.op == hyperparams_pb2.Hyperparams.CONV
    assert hyper.activation == hyperparams_pb2.Hyperparams.RELU
    assert hyperparams_pb2.BatchNorm().decay == pytest.approx(0.999)
    assert hyperparams_pb2.BatchNorm().epsilon == pytest.approx(0.001)
    assert hyperparams_pb2.VarianceScalingInitializer().factor == pytest.approx(2.0)

    assert image_resizer_pb2.KeepAspectRatioResizer().min_dimension == 600
    assert image_resizer_pb2.FixedShapeResizer().height == 300

    frcnn = faster_rcnn_pb2.FasterRcnn()
    assert frcnn.number_of_stages == 2 and frcnn.first_stage_max_proposals == 300
    assert frcnn.first_stage_nms_iou_threshold == pytest.approx(0.7)
    assert frcnn.feature_extractor.first_stage_features_stride == 16
    assert frcnn.feature_extractor.pad_to_multiple == 32
    assert frcnn.context_config.attention_position == faster_rcnn_pb2.POST_BOX_CLASSIFIER

    focal = losses_pb2.SigmoidFocalClassificationLoss()
    assert focal.gamma == pytest.approx(2.0) and not focal.HasField("alpha")
    assert losses_pb2.HardExampleMiner().num_hard_examples == 64

    assert preprocessor_pb2.RandomHorizontalFlip().probability == pytest.approx(0.5)
    assert preprocessor_pb2.RandomCropImage().max_aspect_ratio == pytest.approx(1.33)

    center = center_net_pb2.CenterNet()
    assert center.object_center_params.heatmap_bias_init == pytest.approx(-2.19)
    assert center.deepmac_mask_estimation.network_type == "hourglass52"
    assert center.feature_extractor.upsampling_interpolation == "nearest"


def test_field_numbers_that_users_binary_configs_depend_on():
    """A few wire numbers checked against the OD API (binary configs and checkpoints store them)."""
    numbers = lambda message: {f.name: f.number for f in message.DESCRIPTOR.fields}
    assert numbers(pipeline_pb2.TrainEvalPipelineConfig) == {
        "model": 1, "train_config": 2, "train_input_reader": 3, "eval_config": 4, "eval_input_reader": 5,
        "graph_rewriter": 6}
    assert numbers(model_pb2.DetectionModel) == {"faster_rcnn": 1, "ssd": 2, "experimental_model": 3,
                                                 "center_net": 4}
    ssd = numbers(ssd_pb2.Ssd)
    assert (ssd["num_classes"], ssd["box_predictor"], ssd["anchor_generator"], ssd["loss"],
            ssd["add_background_class"], ssd["mask_head_config"]) == (1, 7, 8, 11, 21, 25)
    assert numbers(ssd_pb2.SsdFeatureExtractor)["bifpn"] == 19
    assert numbers(train_pb2.TrainConfig)["fine_tune_checkpoint_type"] == 22
    assert numbers(train_pb2.TrainConfig)["use_bfloat16"] == 26
    assert numbers(center_net_pb2.CenterNet.DeepMACMaskEstimation)["mask_num_subsamples"] == 67
    assert numbers(box_predictor_pb2.WeightSharedConvolutionalBoxPredictor)["score_converter"] == 16
    assert numbers(anchor_generator_pb2.AnchorGenerator) == {
        "grid_anchor_generator": 1, "ssd_anchor_generator": 2, "multiscale_anchor_generator": 3,
        "flexible_grid_anchor_generator": 4}
    assert pipeline_pb2.TrainEvalPipelineConfig.DESCRIPTOR.fields_by_name["eval_input_reader"].is_repeated


def test_label_map_proto_matches_the_od_api():
    item = string_int_label_map_pb2.StringIntLabelMapItem
    assert {f.name: f.number for f in item.DESCRIPTOR.fields} == {
        "name": 1, "id": 2, "display_name": 3, "keypoints": 4, "ancestor_ids": 5, "descendant_ids": 6,
        "frequency": 7, "instance_count": 8}
    # Top-level enum, as in the OD API's module.
    assert string_int_label_map_pb2.LVISFrequency.Value("RARE") == 3
    label_map = text_format.Parse((REFERENCE / "mscoco_label_map.pbtxt").read_text(),
                                  string_int_label_map_pb2.StringIntLabelMap())
    assert len(label_map.item) == 80 and label_map.item[-1].id == 90


def test_unknown_field_is_refused():
    with pytest.raises(text_format.ParseError, match="num_classez"):
        text_format.Parse("model { ssd { num_classez: 3 } }", pipeline_pb2.TrainEvalPipelineConfig())
