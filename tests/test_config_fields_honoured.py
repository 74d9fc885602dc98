"""train_config, the input readers and eval_config: a field tfsynth ignores is refused by name when it would change
what is trained or scored, accepted when it cannot (builders/pipeline_fields.py); every OD API sample config whose
model tfsynth builds passes. Parsing only: no model is built, no record read."""
from __future__ import annotations

import pathlib

import pytest
from google.protobuf import text_format

from tfsynth.builders import pipeline_fields
from tfsynth.builders.config_check import UnsupportedConfigError
from tfsynth.protos import eval_pb2, input_reader_pb2, pipeline_pb2, train_pb2
from tfsynth.training import input_checks
from tfsynth.utils.shared_data import SHARED_DATA

REF = SHARED_DATA / "odapi_reference"
SAMPLE_CONFIGS = sorted(REF.glob("configs_tf*/*.config")) + sorted(REF.glob("golden/*/pipeline.config"))

# Sample configs the check refuses, with the first field refused: all of them ask for instance masks or keypoints,
# which tfsynth does not build (its CenterNet predicts boxes only; Mask R-CNN's number_of_stages 3 is not built).
REFUSED_SAMPLES = {
    "center_net_deepmac_1024x1024_coco_tpu-128.config": "load_instance_masks",
    "center_net_deepmac_1024x1024_non_voc_only_tpu-128.config": "load_instance_masks",
    "center_net_deepmac_1024x1024_voc_only_tpu-128.config": "load_instance_masks",
    "center_net_deepmac_512x512_voc_only_tpu-32.config": "load_instance_masks",
    "centernet_hourglass104_1024x1024_kpts_coco17_tpu-32.config": "num_keypoints",
    "centernet_hourglass104_512x512_kpts_coco17_tpu-32.config": "num_keypoints",
    "centernet_resnet50_v1_fpn_512x512_kpts_coco17_tpu-8.config": "num_keypoints",
    "centernet_resnet50_v2_512x512_kpts_coco17_tpu-8.config": "num_keypoints",
    "mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8.config": "load_instance_masks",
}
MESSAGES = {pipeline_fields.INPUT_READER: input_reader_pb2.InputReader,
            pipeline_fields.EVAL_CONFIG: eval_pb2.EvalConfig,
            pipeline_fields.TRAIN_CONFIG: train_pb2.TrainConfig}
# Honoured for some values only, refused for the others (see pipeline_fields.check_input_reader).
PARTLY_HONOURED = {(pipeline_fields.INPUT_READER, "input_type"), (pipeline_fields.INPUT_READER, "drop_remainder")}

SUFFIX = "this field is not supported by tfsynth (only its default value is); remove it or set it to its default"


def _configs(text: str = "") -> dict:
    """The configs dict of a pipeline.config text (one eval input reader), as model_lib reads it."""
    pipeline = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(text, pipeline)
    if not pipeline.eval_input_reader:
        pipeline.eval_input_reader.add()
    return {"model": pipeline.model, "train_config": pipeline.train_config,
            "train_input_config": pipeline.train_input_reader, "eval_config": pipeline.eval_config,
            "eval_input_configs": pipeline.eval_input_reader}


def _refusal(text: str, **kwargs) -> str:
    with pytest.raises(UnsupportedConfigError) as raised:
        input_checks.check_config_fields(_configs(text), "pipeline.config", **kwargs)
    return str(raised.value)


@pytest.mark.parametrize("message_name", sorted(MESSAGES))
def test_every_field_is_sorted_once(message_name):
    fields = {field.name for field in MESSAGES[message_name].DESCRIPTOR.fields}
    honoured = set(pipeline_fields.HONOURED[message_name])
    accepted = {f for m, f in pipeline_fields.ACCEPTED_UNREAD if m == message_name}
    refused = {f for m, f in pipeline_fields.REFUSED if m == message_name}
    assert honoured | accepted | refused == fields, "unsorted fields: " + ", ".join(
        sorted(fields - honoured - accepted - refused)) + "; unknown: " + ", ".join(
        sorted((honoured | accepted | refused) - fields))
    assert not accepted & (honoured | refused)
    assert {(message_name, f) for f in honoured & refused} <= PARTLY_HONOURED


# (message, field, value as written in the config and shown in the error, the reason the error gives)
REFUSALS = [
    ("eval_config", "image_classes_field_map_empty_to_ones", "false", "image-level labels are not read"),
    ("eval_config", "use_moving_averages", "true", "tfsynth scores the trained weights, not their moving averages"),
    ("train_input_reader", "use_keypoint_label_map", "true", "keypoints are not implemented"),
    ("eval_input_reader", "mask_type", "PNG_MASKS", "instance masks are not implemented"),
    ("train_config", "use_multiclass_scores", "true", "multiclass scores are not used as targets"),
    ("train_config", "max_number_of_boxes", "500", "boxes per image are capped by train_input_reader."
     "max_number_of_boxes (as in the OD API's TF2 inputs); set that instead"),
]


@pytest.mark.parametrize("message, field, value, reason", REFUSALS, ids=[f"{m}.{f}" for m, f, _, _ in REFUSALS])
def test_field_that_changes_the_result_is_refused_by_name(message, field, value, reason):
    evaluation = message.startswith("eval")
    refusal = _refusal(f"{message} {{ {field}: {value} }}", train=not evaluation, evaluate=evaluation)
    assert refusal == f"pipeline.config: {message}.{field} = {value}: {SUFFIX} ({reason})"


def test_eval_reader_is_named_with_its_index_among_several():
    configs = _configs("eval_input_reader { } eval_input_reader { load_track_id: true }")
    input_checks.check_config_fields(configs, train=False, evaluate=True, eval_index=0)
    with pytest.raises(UnsupportedConfigError, match=r"^eval_input_reader\[1\]\.load_track_id = true: "):
        input_checks.check_config_fields(configs, train=False, evaluate=True, eval_index=1)


def test_cosmetic_and_infrastructure_fields_are_accepted():
    configs = _configs("""
        train_config { sync_replicas: true replicas_to_aggregate: 8 startup_delay_steps: 0 summarize_gradients: true
                       fine_tune_checkpoint_version: V2 keep_checkpoint_every_n_hours: 1 }
        train_input_reader { queue_capacity: 10 prefetch_size: 4 drop_remainder: true input_type: TF_EXAMPLE }
        eval_config { visualization_export_dir: "visualizations" skip_scores: true num_examples: 8000 max_evals: 10
                      eval_interval_secs: 60 }
        eval_input_reader { drop_remainder: false input_type: INPUT_DEFAULT num_parallel_map_calls: 2 }""")
    input_checks.check_config_fields(configs, "pipeline.config", train=True, evaluate=True)


def test_drop_remainder_is_refused_only_where_tfsynth_does_otherwise():
    # Training drops the last incomplete batch, evaluation keeps it: false is right for an eval reader only.
    reader = input_reader_pb2.InputReader(drop_remainder=False)
    pipeline_fields.check_input_reader(reader, "eval_input_reader", drop_remainder=False)
    with pytest.raises(UnsupportedConfigError, match=r"^train_input_reader\.drop_remainder = false: "):
        pipeline_fields.check_input_reader(reader, "train_input_reader", drop_remainder=True)


def test_sequence_examples_are_refused():
    reader = input_reader_pb2.InputReader(input_type=input_reader_pb2.TF_SEQUENCE_EXAMPLE)
    with pytest.raises(UnsupportedConfigError, match=r"^input_reader\.input_type = TF_SEQUENCE_EXAMPLE: "):
        pipeline_fields.check_input_reader(reader)


def test_unknown_metric_is_refused_before_training():
    with pytest.raises(ValueError, match=r"^pipeline.config: eval_config.metrics_set: 'coco_mask_metrics' is not "):
        input_checks.check_config_fields(_configs('eval_config { metrics_set: "coco_mask_metrics" }'),
                                         "pipeline.config", train=False, evaluate=True)


def _first_refused(path: pathlib.Path) -> str | None:
    """The first field of train_config, the readers and eval_config the check refuses (None: all pass)."""
    configs = _configs(path.read_text())
    checks = [lambda: pipeline_fields.check_train_config(configs["train_config"]),
              lambda: pipeline_fields.check_input_reader(configs["train_input_config"], "train_input_reader",
                                                         drop_remainder=True)]
    checks += [lambda reader=reader: pipeline_fields.check_input_reader(reader, "eval_input_reader",
                                                                          drop_remainder=False)
               for reader in configs["eval_input_configs"]]
    checks.append(lambda: pipeline_fields.check_eval_config(configs["eval_config"]))
    for check in checks:
        try:
            check()
        except UnsupportedConfigError as error:
            return str(error).split(" = ")[0].rsplit(".", 1)[-1]
    return None


def test_sample_configs():
    assert len(SAMPLE_CONFIGS) == 44, SAMPLE_CONFIGS  # 40 TF2 + 1 TF1 samples, 3 golden models
    refused = {path.name: field for path in SAMPLE_CONFIGS if (field := _first_refused(path))}
    assert refused == REFUSED_SAMPLES
    for name in refused:
        model = _configs((REF / "configs_tf2" / name).read_text())["model"]
        assert model.WhichOneof("model") == "center_net" or model.faster_rcnn.number_of_stages == 3, name
