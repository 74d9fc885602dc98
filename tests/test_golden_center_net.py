"""CenterNet (boxes) against the real OD API, for seven feature extractors, without their checkpoints (up to 180 MB)
in the repository.

tests/data/centernet_*_od_api.json (made by tests/data/make_od_api_reference.py from golden folders the real OD API
wrote) hold, for a sample config with num_classes 3, its keypoint task removed and the extractor type set: the
model variables (names, shapes, trainable, order), the checkpoint keys, fingerprints of every output for the goldens'
recipe (every variable overwritten in model.variables order from RandomState(0) with the golden's gain, run on the
goldens' smoothed-noise image), the 100 detections, and the OD API's losses on a two-image batch in inference and
in training mode. When these checks were written tfsynth matched every one of them bit for bit; the tolerances are the
SSD goldens' (1e-4 + 1e-5 |x|) so that another CPU's rounding passes.
"""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from google.protobuf import text_format

from tests.golden_utils import ATOL, RTOL, assert_fingerprints_match, randomize_like_the_goldens, reference_image
from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2
from tfsynth.utils import config_io
from tfsynth.utils.shared_data import SHARED_DATA

DATA = pathlib.Path(__file__).parent / "data"
SAMPLE_CONFIGS = SHARED_DATA / "odapi_reference" / "configs_tf2"
# reference file -> (the OD API sample config it was made from, the feature extractor type it was given, further
# edits of model.center_net in text format)
GOLDENS = {
    "centernet_resnet50_v1_fpn_od_api.json": ("centernet_resnet50_v1_fpn_512x512_kpts_coco17_tpu-8.config",
                                              "resnet_v1_50_fpn", ""),
    # The sample config named ResNet101 V1 FPN asks for type resnet_v2_101; the Zoo's model of that name is V1 FPN.
    # Both are checked.
    "centernet_resnet101_v1_fpn_od_api.json": ("centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config",
                                               "resnet_v1_101_fpn", ""),
    "centernet_resnet101_v2_od_api.json": ("centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config", "resnet_v2_101",
                                           ""),
    "centernet_resnet50_v2_od_api.json": ("centernet_resnet50_v2_512x512_kpts_coco17_tpu-8.config", "resnet_v2_50",
                                          ""),
    "centernet_mobilenet_v2_fpn_od_api.json": ("centernet_resnet50_v1_fpn_512x512_kpts_coco17_tpu-8.config",
                                               "mobilenet_v2_fpn", ""),
    # Separable convs in the top-down path (the type alone does not make them so, in the OD API as here) and in the
    # heads (use_depthwise).
    "centernet_mobilenet_v2_fpn_sep_conv_od_api.json": (
        "centernet_resnet50_v1_fpn_512x512_kpts_coco17_tpu-8.config", "mobilenet_v2_fpn_sep_conv",
        "use_depthwise: true feature_extractor { use_separable_conv: true }"),
    # Two hourglasses: two maps, each with its own heads and losses (the outputs end in _0 and _1).
    "centernet_hourglass104_od_api.json": ("centernet_hourglass104_512x512_coco17_tpu-8.config", "hourglass_104", ""),
}


def _model_config(sample: str, extractor: str, edits: str):
    path = SAMPLE_CONFIGS / sample
    assert path.is_file(), f"OD API sample config missing: {path}"
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(path.read_text(), config)
    config_io.remove_keypoint_settings(config)
    center_net = config.model.center_net
    center_net.num_classes = 3
    center_net.feature_extractor.type = extractor
    text_format.Merge(edits, center_net)
    return config.model


def _built(model_config, is_training: bool):
    keras.backend.clear_session()  # fresh layer-name counters, so variable names are the OD API's
    model = model_builder.build(model_config, is_training=is_training)
    images, shapes = model.preprocess(tf.zeros([1, 480, 640, 3]))
    model.postprocess(model.predict(images, shapes), shapes)  # creates every variable
    return model


def _losses(model, reference: dict) -> dict:
    """model.loss on [image, image mirrored] with the reference batch's boxes and 0-based classes, weights 1."""
    image = reference_image().astype(np.float32)
    images, shapes = model.preprocess(tf.constant(np.stack([image, np.fliplr(image)])))
    batch = reference["loss_batch"]
    model.provide_groundtruth(
        groundtruth_boxes_list=[tf.constant(boxes, tf.float32) for boxes in batch["boxes"]],
        groundtruth_classes_list=[tf.one_hot(classes, 3) for classes in batch["classes"]],
        groundtruth_weights_list=[tf.ones([len(classes)]) for classes in batch["classes"]])
    return {name: float(value) for name, value in model.loss(model.predict(images, shapes), shapes).items()}


@pytest.fixture(scope="module", params=sorted(GOLDENS))
def golden_run(request, tmp_path_factory):
    """(reference, variables as built, outputs, losses in inference and in training mode) of one golden."""
    reference = json.loads((DATA / request.param).read_text())
    model_config = _model_config(*GOLDENS[request.param])
    model = _built(model_config, is_training=False)
    variables = [(v.name, v.shape.as_list(), v.trainable) for v in model.variables]
    randomize_like_the_goldens(model, gain=reference["gain"])
    outputs = run_and_flatten_center_net(model)
    checkpoint = tf.train.Checkpoint(model=model).save(str(tmp_path_factory.mktemp("ckpt") / "ckpt"))
    losses = {"inference": _losses(model, reference)}
    training_model = _built(model_config, is_training=True)
    tf.train.Checkpoint(model=training_model).restore(checkpoint).assert_existing_objects_matched()
    losses["training"] = _losses(training_model, reference)
    return reference, variables, outputs, losses, checkpoint


def run_and_flatten_center_net(model) -> dict:
    """preprocess / predict / postprocess of the goldens' image under the goldens' expected.npz names: each
    per-stage list as NAME_<stage>, with '/' as '_' ('box/scale' -> box_scale_0)."""
    images, shapes = model.preprocess(tf.constant(reference_image()[None].astype(np.float32)))
    predictions = model.predict(images, shapes)
    outputs = {"true_image_shapes": shapes, **model.postprocess(predictions, shapes)}
    for name, value in predictions.items():
        if isinstance(value, list):
            outputs.update({f"{name.replace('/', '_')}_{stage}": tensor for stage, tensor in enumerate(value)})
        else:
            outputs[name] = value
    return {name: np.asarray(value) for name, value in outputs.items()}


def test_variables_have_the_od_api_names_shapes_and_order(golden_run):
    reference, variables, _, _, _ = golden_run
    assert variables == [tuple(entry) for entry in reference["model_variables"]]


def test_checkpoint_has_the_od_api_keys(golden_run):
    """The OD API's keys (dict keys such as 'box/scale' written as 'box.Sscale'): its checkpoints restore."""
    reference, _, _, _, checkpoint = golden_run
    ours = {name: shape for name, shape in tf.train.list_variables(checkpoint) if name.startswith("model/")}
    assert ours == reference["checkpoint_variables"]


def test_outputs_match_the_od_api(golden_run):
    reference, _, outputs, _, _ = golden_run
    assert_fingerprints_match(outputs, reference)
    assert int(outputs["num_detections"][0]) == reference["num_detections"]
    # The same 100 detections. Many scores are equal to the last digit, and another CPU may order such ties
    # otherwise: each of the OD API's detections must be one of ours (same class, box and score within tolerance).
    theirs = reference["detections"]
    unmatched = list(range(len(outputs["detection_scores"][0])))
    for box, score, label in zip(theirs["detection_boxes"], theirs["detection_scores"], theirs["detection_classes"]):
        found = [index for index in unmatched if outputs["detection_classes"][0, index] == label
                 and np.allclose(outputs["detection_boxes"][0, index], box, rtol=RTOL, atol=ATOL)
                 and np.isclose(outputs["detection_scores"][0, index], score, rtol=RTOL, atol=ATOL)]
        assert found, f"the OD API's detection {label} {score} {box} is not among tfsynth's"
        unmatched.remove(found[0])


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_losses_match_the_od_api(golden_run, mode):
    """Penalty-reduced focal loss over the centre heatmap, L1 on scale and offset at the 5 boxes' centres, each
    divided by the number of boxes; training mode runs batch norm on the batch's statistics."""
    reference, _, _, losses, _ = golden_run
    for name, expected in reference["losses"][mode].items():
        np.testing.assert_allclose(losses[mode][name], expected, rtol=1e-5, err_msg=f"{mode} {name}")
