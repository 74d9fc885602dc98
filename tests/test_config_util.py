"""pipeline.config files read, split, overridden, checked and written (config_io, config_overrides, config_checks),
and config_util, the OD API's module name, offering their OD API names."""
import ast
import os
import pathlib

import pytest
from google.protobuf import text_format

from tfsynth.protos import input_reader_pb2, pipeline_pb2
from tfsynth.utils import config_checks, config_io, config_overrides, config_util
from tfsynth.utils.config_io import ConfigError
from tfsynth.utils.shared_data import SHARED_DATA

REFERENCE = SHARED_DATA / "odapi_reference"
SSD_CONFIG = REFERENCE / "golden/ssd_mobilenet_v2_320x320_coco17_tpu-8/pipeline.config"
FRCNN_CONFIG = REFERENCE / "golden/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8/pipeline.config"
SAMPLE_CONFIGS = sorted(REFERENCE.glob("configs_tf2/*.config")) + sorted(REFERENCE.glob("configs_tf1/*.config")) \
    + sorted(REFERENCE.glob("golden/*/pipeline.config"))

SMALL_CONFIG = """\
model {
  ssd {
    num_classes: 3
    image_resizer { fixed_shape_resizer { height: 64 width: 48 } }
  }
}
train_config {
  batch_size: 2
  optimizer {
    momentum_optimizer {
      learning_rate {
        manual_step_learning_rate {
          initial_learning_rate: 0.1
          schedule { step: 10 learning_rate: 0.01 }
        }
      }
    }
  }
}
train_input_reader {
  label_map_path: "LABEL_MAP"
  tf_record_input_reader { input_path: "TRAIN_GLOB" }
}
eval_config { metrics_set: "coco_detection_metrics" }
eval_input_reader {
  label_map_path: "LABEL_MAP"
  shuffle: false
  tf_record_input_reader { input_path: "EVAL_GLOB" }
}
"""


def _write(path: pathlib.Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.fixture
def data_dir(tmp_path):
    """A folder with a label map and two record shards, and a config pointing at them."""
    (tmp_path / "label_map.pbtxt").write_text('item { id: 1 name: "a" }\n')
    for index in range(2):
        (tmp_path / f"train-{index:05d}-of-00002.tfrecord").write_bytes(b"")
    (tmp_path / "eval-00000-of-00001.tfrecord").write_bytes(b"")
    text = (SMALL_CONFIG.replace("LABEL_MAP", str(tmp_path / "label_map.pbtxt"))
            .replace("TRAIN_GLOB", str(tmp_path / "train-?????-of-00002.tfrecord"))
            .replace("EVAL_GLOB", str(tmp_path / "eval-*.tfrecord")))
    _write(tmp_path / "pipeline.config", text)
    return tmp_path


# ------------------------------------------------------------------------------------------- reading

@pytest.mark.parametrize("path", SAMPLE_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_configs_load_and_reassemble(path):
    configs = config_io.get_configs_from_pipeline_file(str(path))
    original = text_format.Parse(path.read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    assert config_io.create_pipeline_proto_from_configs(configs) == original
    assert config_io.get_number_of_classes(configs["model"]) >= 1


def test_config_dict_has_the_od_api_keys():
    configs = config_io.get_configs_from_pipeline_file(str(SSD_CONFIG))
    assert set(configs) == {"model", "train_config", "train_input_config", "eval_config",
                            "eval_input_configs", "eval_input_config"}
    assert len(configs["eval_input_configs"]) == 1
    assert configs["eval_input_config"] is configs["eval_input_configs"][0]
    assert configs["model"].ssd.num_classes == 3


def test_image_size_queries():
    ssd = config_io.get_configs_from_pipeline_file(str(SSD_CONFIG))["model"]
    # The sample keeps 300x300.
    assert config_io.get_spatial_image_size(config_io.get_image_resizer_config(ssd)) == [300, 300]
    frcnn = config_io.get_configs_from_pipeline_file(str(FRCNN_CONFIG))["model"]
    resizer = config_io.get_image_resizer_config(frcnn)
    assert resizer.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer"
    assert config_io.get_spatial_image_size(resizer) == [640, 640]  # pad_to_max_dimension
    resizer.keep_aspect_ratio_resizer.pad_to_max_dimension = False
    assert config_io.get_spatial_image_size(resizer) == [-1, -1]


def test_config_override_text_is_merged_on_top(data_dir):
    override = 'train_config { batch_size: 7 }\nmodel { ssd { num_classes: 9 } }'
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"),
                                                       config_override=override)
    assert configs["train_config"].batch_size == 7
    assert configs["model"].ssd.num_classes == 9
    # Untouched fields stay.
    assert configs["model"].ssd.image_resizer.fixed_shape_resizer.height == 64


def test_multiple_files(tmp_path):
    model = _write(tmp_path / "model.config", "ssd { num_classes: 4 }")
    train = _write(tmp_path / "train.config", "batch_size: 3")
    configs = config_io.get_configs_from_multiple_files(model_config_path=model, train_config_path=train)
    assert set(configs) == {"model", "train_config"}
    assert configs["model"].ssd.num_classes == 4 and configs["train_config"].batch_size == 3


# ------------------------------------------------------------------------------------------- writing

def test_save_pipeline_config_round_trips(tmp_path, data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    pipeline = config_io.create_pipeline_proto_from_configs(configs)
    out_dir = tmp_path / "model_dir" / "nested"
    path = config_io.save_pipeline_config(pipeline, str(out_dir))
    assert path == str(out_dir / "pipeline.config")
    assert os.listdir(out_dir) == ["pipeline.config"]  # no temporary file left behind
    reloaded = config_io.get_configs_from_pipeline_file(path)
    assert config_io.create_pipeline_proto_from_configs(reloaded) == pipeline


# ------------------------------------------------------------------------------------------- overrides

def test_named_overrides(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    config_overrides.merge_external_params_with_configs(configs, kwargs_dict={
        "train_steps": "25", "batch_size": 4.4, "learning_rate": 0.05, "num_classes": "6",
        "train_input_path": "a.tfrecord,b.tfrecord", "eval_input_path": ["c.tfrecord"],
        "label_map_path": "lm.pbtxt", "sample_1_of_n_eval_examples": 5, "eval_num_epochs": "1",
        "use_bfloat16": "true", "eval_with_moving_averages": False, "mask_type": "PNG_MASKS",
    })
    assert configs["train_config"].num_steps == 25
    assert configs["train_config"].batch_size == 4
    manual = configs["train_config"].optimizer.momentum_optimizer.learning_rate.manual_step_learning_rate
    assert manual.initial_learning_rate == pytest.approx(0.05)
    assert manual.schedule[0].learning_rate == pytest.approx(0.005)  # keeps its ratio to the initial rate
    assert configs["model"].ssd.num_classes == 6
    assert list(configs["train_input_config"].tf_record_input_reader.input_path) == ["a.tfrecord", "b.tfrecord"]
    assert list(configs["eval_input_config"].tf_record_input_reader.input_path) == ["c.tfrecord"]
    assert configs["train_input_config"].label_map_path == "lm.pbtxt"
    assert configs["eval_input_config"].label_map_path == "lm.pbtxt"
    assert configs["eval_input_config"].sample_1_of_n_examples == 5
    assert configs["eval_input_config"].num_epochs == 1
    assert configs["train_config"].use_bfloat16 is True
    assert configs["eval_config"].use_moving_averages is False
    assert configs["train_input_config"].mask_type == input_reader_pb2.PNG_MASKS


def test_num_classes_follows_the_model_oneof():
    configs = config_io.get_configs_from_pipeline_file(str(FRCNN_CONFIG))
    config_overrides.merge_external_params_with_configs(configs, kwargs_dict={"num_classes": 11})
    assert configs["model"].faster_rcnn.num_classes == 11
    assert configs["model"].WhichOneof("model") == "faster_rcnn"


def test_cosine_learning_rate_override_scales_warmup():
    configs = config_io.get_configs_from_pipeline_file(str(SSD_CONFIG))
    cosine = configs["train_config"].optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    base, warmup = cosine.learning_rate_base, cosine.warmup_learning_rate
    config_overrides.merge_external_params_with_configs(configs, kwargs_dict={"learning_rate": base / 2})
    assert cosine.learning_rate_base == pytest.approx(base / 2)
    assert cosine.warmup_learning_rate == pytest.approx(warmup / 2)


def test_dotted_path_overrides(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    config_overrides.merge_external_params_with_configs(configs, kwargs_dict={
        "model.ssd.num_classes": "8",
        "train_config.batch_size": 16,
        "train_input_reader.shuffle": "false",
        "eval_input_configs[0].num_epochs": 3,
        "model.ssd.image_resizer.fixed_shape_resizer.resize_method": "AREA",
        "eval_config.metrics_set": "coco_detection_metrics,pascal_voc_detection_metrics",
    })
    assert configs["model"].ssd.num_classes == 8
    assert configs["train_config"].batch_size == 16
    assert configs["train_input_config"].shuffle is False
    assert configs["eval_input_config"].num_epochs == 3
    assert configs["model"].ssd.image_resizer.fixed_shape_resizer.resize_method == 3
    assert list(configs["eval_config"].metrics_set) == ["coco_detection_metrics", "pascal_voc_detection_metrics"]


def test_dotted_path_into_repeated_messages():
    configs = config_io.get_configs_from_pipeline_file(str(SSD_CONFIG))
    key = "train_config.data_augmentation_options[0].random_horizontal_flip.probability"
    config_overrides.merge_external_params_with_configs(configs, kwargs_dict={key: 0.25})
    assert configs["train_config"].data_augmentation_options[0].random_horizontal_flip.probability == 0.25


def test_hparams_object_with_values_method(data_dir):
    class HParams:
        def values(self):
            return {"batch_size": 3}
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    config_overrides.merge_external_params_with_configs(configs, hparams=HParams())
    assert configs["train_config"].batch_size == 3


def test_override_strings_parse():
    assert config_overrides.parse_override_strings(["train_steps=10", " model.ssd.num_classes = 2"]) == {
        "train_steps": "10", "model.ssd.num_classes": "2"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_overrides.parse_override_strings(["train_steps"])


@pytest.mark.parametrize("key, value, message", [
    ("no_such_key", 1, "unknown key"),
    ("train_config.batch_sise", 1, "TrainConfig has no field named 'batch_sise'"),
    ("model.faster_rcnn.num_classes", 2, "model is set to ssd, not faster_rcnn"),
    ("train_steps", "ten", "expected an integer"),
    ("use_bfloat16", "maybe", "expected true or false"),
    ("model.ssd.image_resizer.fixed_shape_resizer.resize_method", "SIDEWAYS", "not a value of ResizeType"),
    ("eval_input_configs[4].num_epochs", 1, "out of range"),
    ("model.ssd.image_resizer", "x", "is a message"),
    ("nowhere.batch_size", 1, "unknown config 'nowhere'"),
])
def test_bad_overrides_raise(data_dir, key, value, message):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    with pytest.raises(ConfigError, match=message):
        config_overrides.merge_external_params_with_configs(configs, kwargs_dict={key: value})


# ------------------------------------------------------------------------------------------- errors

def test_unknown_field_names_file_line_column_and_field(tmp_path):
    path = _write(tmp_path / "pipeline.config", "model {\n  ssd {\n    num_classez: 3\n  }\n}\n")
    with pytest.raises(ConfigError) as error:
        config_io.get_configs_from_pipeline_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3:")
    assert "num_classez" in message and "Ssd" in message


def test_wrong_type_names_file_line_and_field(tmp_path):
    path = _write(tmp_path / "pipeline.config", "train_config {\n  batch_size: 2\n  num_steps: lots\n}\n")
    with pytest.raises(ConfigError) as error:
        config_io.get_configs_from_pipeline_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3:")
    assert "field 'num_steps'" in message and "lots" in message


def test_bad_enum_value_names_the_field(tmp_path):
    path = _write(tmp_path / "pipeline.config",
                  "model { ssd { image_resizer { fixed_shape_resizer { resize_method: SIDEWAYS } } } }\n")
    with pytest.raises(ConfigError, match=r":1:\d+: field 'resize_method':.*SIDEWAYS"):
        config_io.get_configs_from_pipeline_file(path)


def test_bad_config_override_is_named(data_dir):
    with pytest.raises(ConfigError, match=r"<config_override>:1:\d+: field 'batch_sise'"):
        config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"),
                                                 config_override="train_config { batch_sise: 1 }")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        config_io.get_configs_from_pipeline_file(str(tmp_path / "absent.config"))


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# ------------------------------------------------------------------------------------------- checks

def test_check_accepts_a_usable_config(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    config_checks.check_pipeline_config(configs, str(data_dir / "pipeline.config"))


def test_check_reports_unmatched_glob_and_missing_label_map(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    configs["train_input_config"].tf_record_input_reader.input_path[0] = str(data_dir / "x-*.tfrecord")
    configs["eval_input_config"].label_map_path = str(data_dir / "missing.pbtxt")
    with pytest.raises(ConfigError) as error:
        config_checks.check_pipeline_config(configs, "pipeline.config")
    lines = str(error.value).splitlines()
    assert f"pipeline.config: train_input_reader.tf_record_input_reader.input_path " \
           f"'{data_dir / 'x-*.tfrecord'}' matches no file" in lines
    assert f"pipeline.config: eval_input_reader.label_map_path '{data_dir / 'missing.pbtxt'}' does not exist" \
        in lines
    # Eval checks can be switched off (a training-only run).
    configs["train_input_config"].tf_record_input_reader.input_path[0] = str(data_dir / "train-*.tfrecord")
    config_checks.check_pipeline_config(configs, "pipeline.config", check_eval_input=False)


def test_check_reports_empty_file_missing_model_and_bad_num_classes(data_dir):
    pipeline = pipeline_pb2.TrainEvalPipelineConfig()
    with pytest.raises(ConfigError, match="pipeline.config: is empty; expected a pipeline.config text proto"):
        config_checks.check_pipeline_config(pipeline, "pipeline.config", check_train_input=False)
    pipeline.train_config.num_steps = 10
    with pytest.raises(ConfigError, match="pipeline.config: model: no meta-architecture set"):
        config_checks.check_pipeline_config(pipeline, "pipeline.config", check_train_input=False)
    pipeline.model.ssd.num_classes = 0
    with pytest.raises(ConfigError, match=r"model.ssd.num_classes is 0; expected >= 1"):
        config_checks.check_pipeline_config(pipeline, "pipeline.config", check_train_input=False)


def test_check_reports_zero_batch_sizes(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    configs["train_config"].batch_size = 0
    configs["eval_config"].batch_size = 0
    with pytest.raises(ConfigError) as error:
        config_checks.check_pipeline_config(configs, "pipeline.config")
    assert str(error.value).splitlines() == ["pipeline.config: train_config.batch_size is 0; expected >= 1",
                                             "pipeline.config: eval_config.batch_size is 0; expected >= 1"]
    configs["train_config"].batch_size = 2
    configs["eval_config"].batch_size = 1
    config_checks.check_pipeline_config(configs, "pipeline.config")


def test_check_reports_sizes_and_anchors_no_model_can_be_built_from():
    """The OD API's sample configs pass; a negative resizer size (a traceback in TensorFlow at the first step), an
    aspect ratio of 0 and min_scale above max_scale (anchors of no area, silently) are named."""
    import glob
    samples = sorted(glob.glob(str(SHARED_DATA / "odapi_reference" / "configs_tf2" / "ssd_mobilenet_v2*.config")))
    samples += sorted(glob.glob(str(SHARED_DATA / "odapi_reference" / "configs_tf2" / "faster_rcnn_resnet50*.config")))
    assert len(samples) >= 2
    for path in samples:
        configs = config_io.get_configs_from_pipeline_file(path)
        config_checks.check_pipeline_config(configs, path, check_train_input=False, check_eval_input=False)
    configs = config_io.get_configs_from_pipeline_file(samples[0])
    ssd = configs["model"].ssd
    ssd.image_resizer.fixed_shape_resizer.height = -128
    ssd.anchor_generator.ssd_anchor_generator.aspect_ratios[0] = 0.0
    ssd.anchor_generator.ssd_anchor_generator.min_scale = 2.0
    with pytest.raises(ConfigError) as error:
        config_checks.check_pipeline_config(configs, "p.config", check_train_input=False, check_eval_input=False)
    assert str(error.value).splitlines() == [
        "p.config: model.ssd.image_resizer.fixed_shape_resizer.height is -128; expected >= 1",
        "p.config: model.ssd.anchor_generator.ssd_anchor_generator.aspect_ratios holds 0; expected values > 0",
        "p.config: model.ssd.anchor_generator.ssd_anchor_generator: min_scale 2, max_scale 0.95; expected "
        "0 < min_scale <= max_scale"]
    configs = config_io.get_configs_from_pipeline_file(samples[-1])
    configs["model"].faster_rcnn.image_resizer.keep_aspect_ratio_resizer.max_dimension = 10
    with pytest.raises(ConfigError, match=r"keep_aspect_ratio_resizer: min_dimension 640, max_dimension 10; "):
        config_checks.check_pipeline_config(configs, "p.config", check_train_input=False, check_eval_input=False)


def test_check_fine_tune_checkpoint(data_dir):
    configs = config_io.get_configs_from_pipeline_file(str(data_dir / "pipeline.config"))
    configs["train_config"].fine_tune_checkpoint = str(data_dir / "ckpt-0")
    with pytest.raises(ConfigError, match="fine_tune_checkpoint .* is not a checkpoint"):
        config_checks.check_pipeline_config(configs, check_fine_tune_checkpoint=True)
    (data_dir / "ckpt-0.index").write_bytes(b"")
    config_checks.check_pipeline_config(configs, check_fine_tune_checkpoint=True)


def test_update_fine_tune_checkpoint_type():
    configs = config_io.get_configs_from_pipeline_file(str(SSD_CONFIG))
    train_config = configs["train_config"]
    train_config.ClearField("fine_tune_checkpoint_type")
    train_config.from_detection_checkpoint = True
    config_io.update_fine_tune_checkpoint_type(train_config)
    assert train_config.fine_tune_checkpoint_type == "detection"


# ------------------------------------------------------------------------------------------- module layout

# The OD API's public config_util functions that tfsynth implements: what config_util must go on offering.
OD_API_NAMES = {
    "create_configs_from_pipeline_proto", "create_pipeline_proto_from_configs", "get_configs_from_multiple_files",
    "get_configs_from_pipeline_file", "get_image_resizer_config", "get_learning_rate_type", "get_number_of_classes",
    "get_optimizer_type", "get_spatial_image_size", "merge_external_params_with_configs", "save_pipeline_config",
    "update_fine_tune_checkpoint_type",
}
# tfsynth's own reading and writing names, offered by config_util before the split and still.
READING_NAMES = {"PIPELINE_CONFIG_NAME", "ConfigDict", "ConfigError", "parse_pipeline_text",
                 "pipeline_config_to_text", "read_pipeline_proto"}


def test_config_util_offers_the_od_api_names_of_the_three_modules():
    assert set(config_util.__all__) == OD_API_NAMES | READING_NAMES
    for name in config_util.__all__:
        source = config_overrides if name == "merge_external_params_with_configs" else config_io
        assert getattr(config_util, name) is getattr(source, name), name
    # tfsynth's own overrides and checks are imported from their modules, not offered under the OD API's name.
    assert not hasattr(config_util, "check_pipeline_config")
    assert not hasattr(config_util, "parse_override_strings")


def _tfsynth_imports(module) -> set[str]:
    """The tfsynth.utils.config_* modules that `module` imports (anywhere in its file)."""
    found = set()
    for node in ast.walk(ast.parse(pathlib.Path(module.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        # `from tfsynth.utils.config_io import X` yields tfsynth.utils.config_io.X too: only modules count.
        found.update(name.split(".")[2] for name in names
                     if name.startswith("tfsynth.utils.config_") and name.count(".") == 2)
    return found


def test_config_modules_import_one_way():
    # Reading is at the bottom; overrides and checks read it and not each other; config_util only gathers.
    assert _tfsynth_imports(config_io) == set()
    assert _tfsynth_imports(config_overrides) == {"config_io"}
    assert _tfsynth_imports(config_checks) == {"config_io"}
    assert _tfsynth_imports(config_util) == {"config_io", "config_overrides"}
