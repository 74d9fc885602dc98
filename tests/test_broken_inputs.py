"""A table of broken inputs, each run through the real command (issue 15): the command must exit with status 1
(an expected error, not a bug: tfsynth.utils.cli), print no traceback, and its one error line must name the place
at fault (file, line, record, field or flag). Adding a case is adding a row.

Each row builds its broken input in a fresh folder and returns the command line and the strings that its error
line must contain. Commands that fail before TensorFlow is imported are cheap; the training rows build no model
(the input checks run first), so each costs a TensorFlow import.
"""
from __future__ import annotations

import pathlib
import textwrap
from typing import Callable

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import train_fixtures
from tests.commands import run_module


Case = Callable[[pathlib.Path], tuple[list[str], list[str]]]  # folder -> (command after `python -m`, places)


# --------------------------------------------------------------------------- inputs for the rows

def _example(boxes: list[list[float]], classes: list[int], texts: list[bytes], drop: tuple[str, ...] = ()) -> bytes:
    """One OD API record of a 64x64 image; `drop` leaves those feature keys out."""
    image, _, _ = train_fixtures.scene(0)
    boxes_array = np.array(boxes, np.float32).reshape(-1, 4)
    feature = {
        "image/encoded": train_fixtures._bytes([tf.io.encode_png(image).numpy()]),
        "image/format": train_fixtures._bytes([b"png"]),
        "image/height": train_fixtures._ints([64]), "image/width": train_fixtures._ints([64]),
        "image/source_id": train_fixtures._bytes([b"0"]),
        "image/object/bbox/ymin": train_fixtures._floats(boxes_array[:, 0]),
        "image/object/bbox/xmin": train_fixtures._floats(boxes_array[:, 1]),
        "image/object/bbox/ymax": train_fixtures._floats(boxes_array[:, 2]),
        "image/object/bbox/xmax": train_fixtures._floats(boxes_array[:, 3]),
        "image/object/class/label": train_fixtures._ints(classes),
        "image/object/class/text": train_fixtures._bytes(texts),
    }
    for key in drop:
        del feature[key]
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


GOOD = dict(boxes=[[0.1, 0.1, 0.5, 0.5]], classes=[1], texts=[b"ketchup"])


def _shard(path: pathlib.Path, records: list[bytes]) -> pathlib.Path:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def _train(folder: pathlib.Path, shard: pathlib.Path, extra: str = "") -> list[str]:
    """model_main_tf2 on the tiny pipeline.config with `shard` as its training input."""
    pipeline = pathlib.Path(train_fixtures.write_pipeline(str(folder), extra))
    text = pipeline.read_text()
    train_records = str(folder / "data" / "train.tfrecord")
    pipeline.write_text(text.replace(f'input_path: "{train_records}"', f'input_path: "{shard}"', 1))
    return ["tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline}", f"--model_dir={folder / 'model'}",
            "--num_train_steps=1"]


def _good_records(count: int = 2) -> list[bytes]:
    return [_example(**GOOD) for _ in range(count)]


# --------------------------------------------------------------------------- the rows

def convert_coco_path_outside_the_root(folder):
    (folder / "ds").mkdir()
    Image.new("RGB", (32, 24)).save(folder / "outside.jpg")
    (folder / "ds" / "instances.json").write_text(
        '{"images": [{"id": 7, "file_name": "../outside.jpg", "width": 32, "height": 24}], '
        '"annotations": [], "categories": [{"id": 1, "name": "milk"}]}')
    return (["tfsynth.convert", "--input_format=coco", f"--input_path={folder / 'ds' / 'instances.json'}",
             f"--output_dir={folder / 'out'}"],
            [str(folder / "ds" / "instances.json"), "../outside.jpg", "expected a path inside"])


def convert_voc_malformed_xml(folder):
    (folder / "Annotations").mkdir()
    (folder / "Annotations" / "1.xml").write_text("<annotation>\n<filename>1.jpg</filename>\n<size>\n")
    return (["tfsynth.convert", "--input_format=voc", f"--input_path={folder}", f"--output_dir={folder / 'out'}"],
            [str(folder / "Annotations" / "1.xml") + ":", "not well-formed XML"])


def convert_cntk_labels_not_utf8(folder):
    Image.new("RGB", (32, 24)).save(folder / "a.jpg")
    (folder / "a.bboxes.tsv").write_text("1\t1\t10\t10\n")
    (folder / "a.bboxes.labels.tsv").write_bytes(b"k\xe4se\n")
    return (["tfsynth.convert", "--input_format=cntk", f"--input_path={folder}", f"--output_dir={folder / 'out'}"],
            [str(folder / "a.bboxes.labels.tsv") + ":1", "not UTF-8"])


def convert_cntk_box_not_numbers(folder):
    Image.new("RGB", (32, 24)).save(folder / "a.jpg")
    (folder / "a.bboxes.tsv").write_text("1\t1\t10\t10\n1\tone\t10\t10\n")
    (folder / "a.bboxes.labels.tsv").write_text("milk\nmilk\n")
    return (["tfsynth.convert", "--input_format=cntk", f"--input_path={folder}", f"--output_dir={folder / 'out'}"],
            [str(folder / "a.bboxes.tsv") + ":2", "expected 4 numbers"])


def _catalog_with_mesh(folder: pathlib.Path, name: str, content: bytes) -> pathlib.Path:
    (folder / name).write_bytes(content)
    catalog = folder / "catalog.yaml"
    catalog.write_text(textwrap.dedent(f"""\
        products:
          - {{name: soup, archetype: can, size_mm: {{width: 75, height: 110}}}}
          - {{name: ball, mesh: {name}, size_mm: {{width: 80}}}}
        """))
    return catalog


MESHES = {
    "bad_obj": ("ball.obj", b"this is not a mesh\n"),
    "obj_without_faces": ("ball.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n"),
    "random_glb": ("ball.glb", bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8))),
    "truncated_ply": ("ball.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n"
                                  b"property float y\nproperty float z\nelement face 1\n"
                                  b"property list uchar int vertex_indices\nend_header\n\x00\x00"),
}


def _catalog_check_mesh(kind):
    def case(folder):
        name, content = MESHES[kind]
        catalog = _catalog_with_mesh(folder, name, content)
        return ["tfsynth.catalog", "check", str(catalog)], ["'ball'", "field 'mesh'", name]
    case.__name__ = f"catalog_check_{kind}"
    return case


def generate_catalog_with_a_bad_mesh(folder):
    catalog = _catalog_with_mesh(folder, *MESHES["obj_without_faces"])
    return (["tfsynth.generate", f"--output_dir={folder / 'out'}", f"--catalog={catalog}", "--num_images=2",
             "--width=64", "--height=48", "--preset=fast", "--num_workers=1"],
            ["'ball'", "ball.obj"])


def generate_zero_shards(folder):
    return (["tfsynth.generate", f"--output_dir={folder / 'out'}", "--num_shards=0"], ["--num_shards"])


def generate_negative_image_count(folder):
    return (["tfsynth.generate", f"--output_dir={folder / 'out'}", "--num_images=-5"], ["--num_images"])


def train_empty_pipeline_config(folder):
    (folder / "pipeline.config").write_text("")
    return (["tfsynth.model_main_tf2", f"--pipeline_config_path={folder / 'pipeline.config'}",
             f"--model_dir={folder / 'model'}"], [str(folder / "pipeline.config"), "is empty"])


def train_config_typo(folder):
    (folder / "pipeline.config").write_text("model {\n  ssd {\n    num_clases: 2\n  }\n}\n")
    return (["tfsynth.model_main_tf2", f"--pipeline_config_path={folder / 'pipeline.config'}",
             f"--model_dir={folder / 'model'}"], [str(folder / "pipeline.config") + ":3:", "num_clases"])


def train_batch_size_zero(folder):
    shard = _shard(folder / "good.tfrecord", _good_records())
    return _train(folder, shard, "train_config { batch_size: 0 }"), ["train_config.batch_size is 0"]


def train_missing_fine_tune_checkpoint(folder):
    shard = _shard(folder / "good.tfrecord", _good_records())
    missing = folder / "nowhere" / "ckpt-0"
    return (_train(folder, shard, f'train_config {{ fine_tune_checkpoint: "{missing}" '
                                  f'fine_tune_checkpoint_type: "detection" }}'),
            ["fine_tune_checkpoint", str(missing)])


def train_empty_shard(folder):
    shard = folder / "empty.tfrecord"
    shard.write_bytes(b"")
    return _train(folder, shard), [str(shard)]


def train_truncated_shard(folder):
    shard = _shard(folder / "cut.tfrecord", _good_records(3))
    shard.write_bytes(shard.read_bytes()[:-40])
    return _train(folder, shard), [str(shard), "record 2"]


def train_not_a_tfrecord_file(folder):
    shard = folder / "photo.tfrecord"
    Image.new("RGB", (32, 24)).save(shard, format="JPEG")
    return _train(folder, shard), [str(shard), "not a TFRecord file"]


def train_records_without_object_keys(folder):
    keys = ("image/object/bbox/ymin", "image/object/bbox/xmin", "image/object/bbox/ymax", "image/object/bbox/xmax",
            "image/object/class/label", "image/object/class/text")
    shard = _shard(folder / "bare.tfrecord", [_example(**GOOD, drop=keys)])
    return _train(folder, shard), [str(shard), "record 0", "image/object/bbox"]


def train_class_not_in_label_map(folder):
    shard = _shard(folder / "other.tfrecord", [_example(GOOD["boxes"], [7], [b"caviar"])])
    return _train(folder, shard), [str(shard), "record 0", "not in the label map"]


def train_box_outside_the_image(folder):
    shard = _shard(folder / "far.tfrecord", _good_records(1) + [_example([[-2.0, 0.1, 0.5, 3.0]], [1], [b"ketchup"])])
    return _train(folder, shard), [str(shard), "record 1", "outside [0, 1]"]


def train_empty_box(folder):
    shard = _shard(folder / "flat.tfrecord", [_example([[0.5, 0.1, 0.5, 0.4]], [1], [b"ketchup"])])
    return _train(folder, shard), [str(shard), "record 0", "empty"]


def inspect_truncated_shard(folder):
    shard = _shard(folder / "cut.tfrecord", _good_records(3))
    shard.write_bytes(shard.read_bytes()[:-40])
    return ["tfsynth.inspect", str(shard)], [str(shard), "record 2"]


CASES: list[Case] = [
    convert_coco_path_outside_the_root, convert_voc_malformed_xml, convert_cntk_labels_not_utf8,
    convert_cntk_box_not_numbers, *(_catalog_check_mesh(kind) for kind in MESHES), generate_catalog_with_a_bad_mesh,
    generate_zero_shards, generate_negative_image_count, train_empty_pipeline_config, train_config_typo,
    train_batch_size_zero, train_missing_fine_tune_checkpoint, train_empty_shard, train_truncated_shard,
    train_not_a_tfrecord_file, train_records_without_object_keys, train_class_not_in_label_map,
    train_box_outside_the_image, train_empty_box, inspect_truncated_shard,
]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_broken_input_gets_one_line_naming_the_place(case, tmp_path):
    command, places = case(tmp_path)
    # A timeout, not a hang: an empty shard once made training spin forever.
    result = run_module(*command, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"exit {result.returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    name = command[0].split(".")[-1] if command[0] != "tfsynth.catalog" else "catalog"
    error_lines = [line for line in output.splitlines() if "error" in line.lower() and
                   all(place in line for place in places)]
    assert error_lines, f"no error line naming {places}:\n{output[-3000:]}"
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").glob("ckpt-*")), \
        f"{name} trained before refusing"


def test_bad_records_are_counted_and_left_out_when_the_user_chooses_skip(tmp_path):
    shard = _shard(tmp_path / "mixed.tfrecord", _good_records(3) + [_example([[-2.0, 0.1, 0.5, 3.0]], [1],
                                                                              [b"ketchup"])])
    inspected = run_module("tfsynth.inspect", str(shard), "--on_error=skip")
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    assert "images: 3" in inspected.stdout or "3 images" in inspected.stdout, inspected.stdout
    assert "skipped: box outside [0, 1] 1" in inspected.stdout, inspected.stdout
    trained = run_module(*_train(tmp_path, shard), "--on_input_error=skip", timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "box outside [0, 1] 1" in trained.stderr, trained.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "model")).endswith("ckpt-1")
