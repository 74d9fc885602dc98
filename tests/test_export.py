"""exporter_main_v2 (Zoo layout, three input types), detect (JSON + images), TFLite matching the SavedModel."""
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import train_fixtures as fixtures
from tests.commands import run_module


from tfsynth import detect  # noqa: E402
from tfsynth.export import saved_model as saved_model_lib, tflite as tflite_lib  # noqa: E402
from tfsynth.training import model_lib  # noqa: E402



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    pipeline = fixtures.write_pipeline(str(folder))
    model_dir = str(folder / "model")
    model_lib.train_loop(pipeline, model_dir, train_steps=2)
    return folder, pipeline, model_dir


@pytest.fixture(scope="module")
def exported(trained):
    """The image_tensor export, written by the exporter_main_v2 command."""
    folder, pipeline, model_dir = trained
    out = str(folder / "exported")
    result = run_module("tfsynth.exporter_main_v2", "--input_type=image_tensor", f"--pipeline_config_path={pipeline}",
                        f"--trained_checkpoint_dir={model_dir}", f"--output_directory={out}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _serve(export_dir, value):
    loaded = tf.saved_model.load(os.path.join(export_dir, "saved_model"))
    outputs = loaded.signatures["serving_default"](input_tensor=value)
    return {k: v.numpy() for k, v in outputs.items()}


def test_exporter_command_writes_zoo_layout(trained, exported):
    folder, pipeline, model_dir = trained
    out = exported
    assert os.path.exists(os.path.join(out, "saved_model", "saved_model.pb"))
    assert os.path.exists(os.path.join(out, "checkpoint", "ckpt-0.index"))
    assert tf.train.latest_checkpoint(os.path.join(out, "checkpoint")).endswith("ckpt-0")
    assert os.path.exists(os.path.join(out, "pipeline.config"))
    # the exported model gives what the restored model gives, classes shifted to label-map ids
    image, _, _ = fixtures.scene(0)
    outputs = _serve(out, tf.constant(image[None]))
    configs = model_lib.load_configs(pipeline)
    model, status, _ = saved_model_lib.build_and_restore(configs, model_dir)
    reference = saved_model_lib.DetectionInferenceModule(model).run_on_images(tf.constant(image[None]))
    np.testing.assert_allclose(outputs["detection_scores"], reference["detection_scores"].numpy(), atol=1e-5)
    np.testing.assert_allclose(outputs["detection_boxes"], reference["detection_boxes"].numpy(), atol=1e-5)
    assert outputs["detection_classes"].min() >= 1
    # Callable as the OD API's tutorials call it: detect_fn = tf.saved_model.load(...); detect_fn(input_tensor)
    called = tf.saved_model.load(os.path.join(out, "saved_model"))(tf.constant(image[None]))
    np.testing.assert_array_equal(called["detection_boxes"].numpy(), outputs["detection_boxes"])


def test_input_types_agree(trained, exported):
    folder, pipeline, model_dir = trained
    configs = model_lib.load_configs(pipeline)
    image, _, _ = fixtures.scene(1)
    encoded = tf.io.encode_png(image).numpy()
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))})).SerializeToString()
    results = {"image_tensor": _serve(exported, tf.constant(image[None]))}
    for input_type, value in (("encoded_image_string_tensor", tf.constant([encoded])),
                              ("tf_example", tf.constant([example]))):
        out = str(folder / input_type)
        saved_model_lib.export_inference_graph(input_type, configs, model_dir, out)
        results[input_type] = _serve(out, value)
    for input_type in ("encoded_image_string_tensor", "tf_example"):
        np.testing.assert_allclose(results[input_type]["detection_boxes"], results["image_tensor"]["detection_boxes"],
                                   atol=1e-5)
    # detect feeds a string signature an encoded image, or wraps it in a tf.Example when that is what it takes.
    from tfsynth.detect import Detector
    png = folder / "scene1.png"
    png.write_bytes(encoded)
    for input_type in ("encoded_image_string_tensor", "tf_example"):
        _, outputs = Detector(str(folder / input_type)).detect_file(str(png))
        np.testing.assert_allclose(outputs["detection_boxes"], results["image_tensor"]["detection_boxes"][0],
                                   atol=1e-5)
    with pytest.raises(ValueError, match="input_type"):
        saved_model_lib.DetectionInferenceModule(None, "jpeg")


def test_detect_writes_json_and_images(trained, exported, tmp_path):
    folder, pipeline, model_dir = trained
    out = exported
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        Image.fromarray(fixtures.scene(index)[0]).save(images / f"photo{index}.png")
    label_map = os.path.join(os.path.dirname(pipeline), "data", "label_map.pbtxt")
    result = detect.run_detection(os.path.join(out, "saved_model"), str(images / "*.png"), str(tmp_path / "out"),
                                  label_map=label_map, min_score=0.0, max_boxes=5)
    with open(result) as stream:
        record = json.load(stream)
    assert len(record["images"]) == 2
    first = record["images"][0]["detections"]
    assert 0 < len(first) <= 5 and first[0]["name"] in ("ketchup", "water")
    assert len(first[0]["box_pixels"]) == 4
    assert os.path.exists(tmp_path / "out" / "photo0.png")
    with pytest.raises(FileNotFoundError, match="matches no file"):
        detect.run_detection(os.path.join(out, "saved_model"), str(images / "*.jpg"), str(tmp_path / "o2"))


def test_tflite_matches_saved_model(trained, exported):
    folder, pipeline, model_dir = trained
    configs = model_lib.load_configs(pipeline)
    out = str(folder / "tflite")
    path = tflite_lib.export_tflite(configs, model_dir, out)
    image, _, _ = fixtures.scene(2)
    reference = _serve(exported, tf.constant(image[None]))
    model, _, _ = saved_model_lib.build_and_restore(configs, model_dir)
    normalized, _ = model.preprocess(tf.constant(image[None], tf.float32))
    runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
    outputs = runner(normalized_input_image_tensor=normalized.numpy())
    # outputs in TFLite_Detection_PostProcess order: boxes, classes (0-based), scores, num_detections
    boxes, classes, scores, num = (outputs[f"output_{i}"] for i in range(4))
    count = int(reference["num_detections"][0])
    assert int(num[0]) == count
    # match each TFLite detection to a SavedModel one (near-equal scores may come in another order)
    for i in range(min(count, 10)):
        close = (np.abs(reference["detection_scores"][0, :count] - scores[0, i]) < 1e-4) & \
            np.all(np.abs(reference["detection_boxes"][0, :count] - boxes[0, i]) < 1e-4, axis=1) & \
            (reference["detection_classes"][0, :count] == classes[0, i] + 1)
        assert close.any(), (i, scores[0, i], boxes[0, i], classes[0, i])


def test_export_with_another_num_classes_is_refused_and_keeps_the_export(trained, exported, tmp_path):
    """A deferred restore skips a variable created with another shape without a word: the exporter compares the
    checkpoint's shapes with the model's and refuses, naming the class head, before touching the old export."""
    import shutil
    from tfsynth.training import checkpoints
    folder, pipeline, model_dir = trained
    before = {path: open(os.path.join(root, path), "rb").read() for root, _, files in os.walk(exported)
              for path in files}
    configs = model_lib.load_configs(pipeline)
    meta = getattr(configs["model"], configs["model"].WhichOneof("model"))
    meta.num_classes += 1
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r"(?s)with another shape\).*class_predict.*"
                                                                  r"check its architecture and num_classes"):
        saved_model_lib.export_inference_graph("image_tensor", configs, model_dir, exported)
    after = {path: open(os.path.join(root, path), "rb").read() for root, _, files in os.walk(exported)
             for path in files}
    assert after == before and not os.path.exists(exported + ".partial")
    # A checkpoint copied without its data file is named as incomplete, not left to TensorFlow's reader.
    partial = tmp_path / "partial"
    shutil.copytree(model_dir, partial)
    for data in partial.glob("ckpt-*.data-*"):
        data.unlink()
    with pytest.raises(FileNotFoundError, match=r"--trained_checkpoint_dir: checkpoint .*ckpt-\d+ is incomplete"):
        saved_model_lib.build_and_restore(model_lib.load_configs(pipeline), str(partial))


def test_detect_refuses_a_saved_model_that_is_not_a_detector(tmp_path):
    from tfsynth.detect import Detector

    class Classifier(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
        def serve(self, input_tensor):
            return {"logits": tf.reduce_mean(tf.cast(input_tensor, tf.float32), axis=[1, 2])}

    module = Classifier()
    tf.saved_model.save(module, str(tmp_path / "classifier"), signatures={"serving_default": module.serve})
    with pytest.raises(ValueError, match=r"its serving signature takes \['input_tensor'\] and gives \['logits'\]; "
                                         r"expected one image input and detection_boxes"):
        Detector(str(tmp_path / "classifier"))


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    from PIL import Image
    from tfsynth.detect import rgb8
    values = np.array([[0, 257 * 100], [257 * 200, 65535]], np.uint16)
    encoded = io.BytesIO()
    Image.fromarray(values).save(encoded, "PNG")  # a 16-bit grayscale PNG, as a camera or scanner writes it
    image = rgb8(Image.open(io.BytesIO(encoded.getvalue())))
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image[..., 0], [[0, 100], [200, 255]])
