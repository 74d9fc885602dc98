"""tfsynth.generate pipeline: real worker processes, real records, tiny images.

Kept apart from test_generate.py so no GL context lives in the test process while TensorFlow writes records.
"""
from __future__ import annotations

import glob
import json
import os

import pytest

from tfsynth.generate import catalog as catalog_lib
from tfsynth.generate.pipeline import GenerateConfig, chunk_tasks, prepare, run


def _config(out, **kw):
    base = dict(output_dir=str(out), num_images=5, validation_images=2, num_workers=1, seed=3, width=64,
                height=48, num_shards=2, preset="fast", chunk_size=2, products_per_image=(4, 8))
    base.update(kw)
    return GenerateConfig(**base)


def _shards(out):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(out, "*.tfrecord")))}


def test_pipeline_outputs_deterministic_across_workers(tmp_path):
    one = run(_config(tmp_path / "w1", num_workers=1, include_masks=True), progress=False)
    two = run(_config(tmp_path / "w2", num_workers=2, include_masks=True), progress=False)
    a, b = _shards(tmp_path / "w1"), _shards(tmp_path / "w2")
    assert sorted(a) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord",
                         "val-00000-of-00002.tfrecord", "val-00001-of-00002.tfrecord"]
    assert a == b
    assert one["outputs"]["train"]["images"] == two["outputs"]["train"]["images"] == 5
    coco = json.load(open(tmp_path / "w1" / "train_coco.json"))
    assert len(coco["images"]) == 5 and len(coco["categories"]) == 150
    # Records read back with the project's reader; class ids agree with label_map.pbtxt.
    from tfsynth.data.tfrecord import example_to_annotation, read_examples
    from tfsynth.utils.label_map_util import get_label_map_dict
    label_map = get_label_map_dict(str(tmp_path / "w1" / "label_map.pbtxt"))
    annotations = [example_to_annotation(e) for e in read_examples(str(tmp_path / "w1" / "train-*"))]
    assert len(annotations) == 5 and sum(len(a.objects) for a in annotations) > 0
    for annotation in annotations:
        for obj in annotation.objects:
            assert label_map[obj.class_name] == obj.class_id
            # Portrait shots swap the frame: the mask has the image's own size.
            assert obj.mask is not None and obj.mask.shape == (annotation.height, annotation.width)
            assert (annotation.width, annotation.height) in ((64, 48), (48, 64))
    manifest = json.load(open(tmp_path / "w1" / "manifest.json"))
    assert manifest["seeds"]["seed"] == 3 and manifest["versions"]["moderngl"]


def test_pipeline_resume_skips_done_chunks(tmp_path):
    config = _config(tmp_path / "r", validation_images=0, keep_chunks=True)
    first = run(config, progress=False)
    assert first["rendered_this_run"] == 5
    before = _shards(tmp_path / "r")
    tasks = chunk_tasks(config)
    os.remove(tasks[1][4])  # pretend the run stopped before chunk 1 was committed
    mtimes = {t[4]: os.path.getmtime(t[4]) for t in tasks if os.path.exists(t[4])}
    second = run(config, progress=False)
    assert second["rendered_this_run"] == tasks[1][3] - tasks[1][2]
    assert all(os.path.getmtime(p) == m for p, m in mtimes.items())
    assert _shards(tmp_path / "r") == before


def test_pipeline_uses_given_label_map(tmp_path):
    from tfsynth.utils.label_map_util import write_label_map
    names = catalog_lib.load_catalog("configs/fridge_us_catalog.yaml").class_names
    ids = {name: 10 + 3 * k for k, name in enumerate(names)}
    write_label_map(str(tmp_path / "lm.pbtxt"), ids)
    run(_config(tmp_path / "o", num_images=2, validation_images=0, catalog="configs/fridge_us_catalog.yaml",
                label_map=str(tmp_path / "lm.pbtxt")), progress=False)
    from tfsynth.data.tfrecord import example_to_annotation, read_examples
    objects = [o for e in read_examples(str(tmp_path / "o" / "train-*")) for o in example_to_annotation(e).objects]
    assert objects and all(ids[o.class_name] == o.class_id for o in objects)


def test_chunks_are_data_removed_after_success_and_damage_is_named(tmp_path):
    import numpy as np
    import pytest
    from tfsynth.generate.pipeline import decode_chunk
    kept = _config(tmp_path / "k", num_images=2, validation_images=0, keep_chunks=True)
    run(kept, progress=False)
    chunk = chunk_tasks(kept)[0][4]
    with np.load(chunk, allow_pickle=False) as data:  # plain arrays: loads without pickle
        assert "meta" in data.files and "jpeg_0" in data.files
    assert decode_chunk(chunk)[0]["index"] == 0
    with open(chunk, "wb") as handle:
        handle.write(b"not an npz")
    with pytest.raises(ValueError, match="unreadable chunk"):
        decode_chunk(chunk)
    removed = _config(tmp_path / "d", num_images=2, validation_images=0)
    run(removed, progress=False)
    assert not os.path.exists(os.path.join(removed.output_dir, ".chunks"))
    assert glob.glob(os.path.join(removed.output_dir, "train-*.tfrecord"))


def test_a_folder_with_another_commands_records_or_label_map_is_refused_before_rendering(tmp_path):
    """Shards or a label map that no generate run recorded in the folder's manifest.json (convert's, say) are
    neither replaced nor deleted: prepare() refuses the folder before anything renders."""
    out = tmp_path / "out"
    os.makedirs(out)
    (out / "train-00000-of-00003.tfrecord").write_bytes(b"converted photos")
    with pytest.raises(ValueError, match=r"holds 1 file\(s\) no earlier run of this command wrote there "
                                         r"\(train-00000-of-00003\.tfrecord\)"):
        prepare(_config(out))
    os.remove(out / "train-00000-of-00003.tfrecord")
    (out / "label_map.pbtxt").write_text('item { name: "photo_class" id: 1 }\n')
    with pytest.raises(ValueError, match=r"\(label_map\.pbtxt\)"):
        prepare(_config(out))
    assert (out / "label_map.pbtxt").read_text() == 'item { name: "photo_class" id: 1 }\n'


@pytest.mark.parametrize("change, message", [
    ({"seed": -1}, r"--seed -1: expected a non-negative integer"),
    ({"products_per_image": (0, 0)}, r"--products_per_image 0,0: expected at least one labelled product"),
])
def test_flags_that_would_make_nothing_useful_are_refused(tmp_path, change, message):
    from tfsynth.generate.pipeline import check_config
    with pytest.raises(ValueError, match=message):
        check_config(_config(tmp_path / "out", **change))


def test_ctrl_c_stops_generate_and_its_render_workers_at_once(tmp_path):
    """Ctrl-C (SIGINT to the process group) while the workers render: generate exits within seconds, no worker
    left; it once waited forever on a worker interrupted inside the pool's queue lock."""
    import signal
    import subprocess
    import sys
    import time
    from tests.commands import _group_members
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "tfsynth.generate", "--output_dir", str(out), "--num_images", "400", "--width", "96",
         "--height", "72", "--preset", "fast", "--num_workers", "2", "--seed", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not glob.glob(str(out / ".chunks" / "*" / "*")) and time.monotonic() < deadline:
            time.sleep(0.2)  # until the first chunk is written: the workers are rendering
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0 and b"generate: interrupted" in stderr
    time.sleep(1)
    assert _group_members(process.pid) == []
