"""Every SSD sample config of the OD API (EfficientDet D0-D7 included) either builds and runs at a small image size,
or raises NotImplementedError naming its feature extractor (not silently something else)."""

import pytest

from tfsynth.builders import model_builder
from tests.test_ssd_model import REF, load_model_config, run_once

SSD_CONFIGS = sorted(p.name for p in (REF / "configs_tf2").glob("ssd_*.config")) if REF.is_dir() else []
BUILT = {"ssd_mobilenet_v2_keras", "ssd_mobilenet_v2_fpn_keras", "ssd_mobilenet_v1_keras",
         "ssd_mobilenet_v1_fpn_keras", "ssd_resnet50_v1_fpn_keras", "ssd_resnet101_v1_fpn_keras",
         "ssd_resnet152_v1_fpn_keras", *(f"ssd_efficientnet-b{version}_bifpn_keras" for version in range(8))}


@pytest.mark.parametrize("config_name", SSD_CONFIGS)
def test_sample_config_builds_and_runs_or_names_what_is_missing(config_name):
    # The ResNet FPN extractors need at least 129 x 129 (as in the OD API); a multiple of 32 aligns the FPN sums,
    # of 128 EfficientDet's BiFPN sums (levels 3 to 7).
    size = 256 if "efficientdet" in config_name else 160 if "resnet" in config_name else 64
    model_config = load_model_config(REF / "configs_tf2" / config_name, size=size)
    resizer = model_config.ssd.image_resizer
    if resizer.HasField("keep_aspect_ratio_resizer"):
        resizer.keep_aspect_ratio_resizer.min_dimension = resizer.keep_aspect_ratio_resizer.max_dimension = size
    extractor = model_config.ssd.feature_extractor.type
    if extractor not in BUILT:
        with pytest.raises(NotImplementedError, match=extractor):
            model_builder.build(model_config, is_training=False)
        return
    model = model_builder.build(model_config, is_training=False)
    predictions, shapes = run_once(model, size=size)
    detections = model.postprocess(predictions, shapes)
    num_anchors = predictions["anchors"].shape[0]
    assert predictions["box_encodings"].shape == (1, num_anchors, 4)
    # 3 classes, and a background column unless the config has add_background_class: false (EfficientDet).
    columns = 3 + int(model_config.ssd.add_background_class)
    assert predictions["class_predictions_with_background"].shape == (1, num_anchors, columns)
    assert detections["detection_boxes"].shape[1] == model_config.ssd.post_processing.batch_non_max_suppression \
        .max_total_detections
