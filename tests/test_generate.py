"""tfsynth.generate: real renderer (EGL/llvmpipe), tiny images.

Mesa's llvmpipe and TensorFlow each bring their own LLVM and must not share a process (a GL context made after
TensorFlow is imported crashes), so every test that renders runs in a fresh spawned process (`_in_child`).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfsynth.generate import catalog as catalog_lib
from tfsynth.generate.assets import AssetLibrary
from tfsynth.generate.labeller import LabelPolicy, boxes_from_ids, label_objects
from tfsynth.generate.render_gl import GLRenderer, get_preset
from tfsynth.generate.sampler import CUES, SamplerConfig, parse_cues, sample_scene

W, H = 160, 120


@pytest.fixture(scope="module")
def catalog():
    return catalog_lib.default_catalog()


def _in_child(check) -> None:
    """Runs check(catalog, renderer) in a spawned process (no TensorFlow there); its assertion errors re-raise."""
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_run_check, (check.__name__,))


def _run_check(name: str) -> None:
    os.environ["LP_NUM_THREADS"] = "1"
    catalog = catalog_lib.default_catalog()
    renderer = GLRenderer(W, H, "default", AssetLibrary(catalog))
    try:
        globals()[name](catalog, renderer)
    finally:
        renderer.release()


def _scene(catalog, index, cues=frozenset(CUES), products=(10, 14)):
    return sample_scene(catalog, SamplerConfig(W, H, cues, products, (1, 2)), 7, 0, index)


def test_default_catalog_has_papers_numbers(catalog):
    assert len(catalog.products) == 150 and len(catalog.distractors) == 25
    assert len(set(catalog.class_names)) == 150
    again = catalog_lib.default_catalog()
    assert again.products[17] == catalog.products[17]  # identity = class: same product every time


def test_renderer_ids_agree_with_gpu_stats():
    _in_child(_check_renderer_ids_agree_with_gpu_stats)


def _check_renderer_ids_agree_with_gpu_stats(catalog, renderer):
    checked = 0
    for index in range(3):
        scene = _scene(catalog, index)
        result = renderer.render(scene, want_ids=True)
        width, height = scene.camera.width, scene.camera.height  # portrait shots swap W and H
        assert (width, height) in ((W, H), (H, W))
        assert result.image.shape == (height, width, 3) and result.image.dtype == np.uint8
        assert result.image.std() > 5  # not a blank frame
        labelled_ids = {o.instance_id for o in scene.labelled}
        cpu = boxes_from_ids(result.ids)
        assert set(cpu) <= labelled_ids  # only labelled products carry ids
        for instance_id, (x0, y0, x1, y1, count) in cpu.items():
            row = result.stats[instance_id]
            assert row[0] == count
            # GPU rows count from the bottom of the image.
            assert (row[1], height - 1 - row[4], row[3] + 1, height - row[2]) == (x0, y0, x1, y1)
            assert row[5] >= count * 0.9  # unoccluded coverage is at least (about) the visible part
            checked += 1
        for instance_id in labelled_ids - set(cpu):
            assert result.stats[instance_id][0] == 0
    assert checked > 5


def test_stage_timing_leaves_the_frame_alone():
    _in_child(_check_stage_timing_leaves_the_frame_alone)


def _check_stage_timing_leaves_the_frame_alone(catalog, renderer):
    scene = _scene(catalog, 2)
    plain = renderer.render(scene, want_ids=True)
    renderer.stage_seconds = {}
    timed = renderer.render(scene, want_ids=True)
    stages = dict(renderer.stage_seconds)
    renderer.stage_seconds = None
    assert np.array_equal(plain.image, timed.image) and np.array_equal(plain.stats, timed.stats)
    assert np.array_equal(plain.ids, timed.ids)
    assert set(stages) == {"shadow_map", "scene", "coverage", "label_stats", "resolve_sensor", "readback"}
    assert all(seconds > 0 for seconds in stages.values())


def test_worker_stage_profile(tmp_path):
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        stages = pool.apply(_worker_stage_profile, (str(tmp_path),))
    worker = {"sample_scene", "render", "labels", "jpeg", "chunk_encode"}
    assert worker <= set(stages) and {"render/scene", "render/readback"} <= set(stages)
    assert all(milliseconds > 0 for milliseconds in stages.values())
    # The passes are timed inside the render stage: together they cannot take longer than it.
    passes = sum(v for k, v in stages.items() if k.startswith("render/"))
    assert passes <= stages["render"] * 1.01


def _worker_stage_profile(output_dir: str) -> dict:
    from tfsynth.generate.pipeline import GenerateConfig, profile_worker_stages
    return profile_worker_stages(GenerateConfig(output_dir=output_dir, num_images=2, width=W, height=H), 2)


def test_boxes_match_masks_and_visibility():
    _in_child(_check_boxes_match_masks_and_visibility)


def _check_boxes_match_masks_and_visibility(catalog, renderer):
    # The first scene from index 4 on with a few products in sight (a close-up can face an unlabelled object).
    policy = LabelPolicy(min_visibility=0.0, include_masks=True)
    for index in range(4, 14):
        scene = _scene(catalog, index)
        result = renderer.render(scene, want_ids=True)
        width, height = scene.camera.width, scene.camera.height
        objects = label_objects(scene, result.stats, result.ids, width, height, policy,
                                renderer.assets.positions)
        if len(objects) >= 3:
            break
    assert len(objects) >= 3
    for obj in objects:
        ys, xs = np.nonzero(obj.mask)
        assert (obj.xmin, obj.ymin, obj.xmax, obj.ymax) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert obj.area == obj.mask.sum()
        assert 0.0 < obj.visibility <= 1.0
    # A stricter threshold drops (or marks) the less visible objects.
    threshold = sorted(o.visibility for o in objects)[len(objects) // 2]
    kept = label_objects(scene, result.stats, result.ids, width, height, LabelPolicy(min_visibility=threshold),
                         renderer.assets.positions)
    assert all(o.visibility >= threshold for o in kept) and len(kept) < len(objects) + 1
    marked = label_objects(scene, result.stats, result.ids, width, height,
                           LabelPolicy(min_visibility=threshold, low_visibility="difficult"), renderer.assets.positions)
    assert len(marked) == len(objects)
    assert [o.difficult for o in marked] == [o.visibility < threshold for o in marked]


def test_occluded_object_has_lower_visibility():
    _in_child(_check_occluded_object_has_lower_visibility)


def _check_occluded_object_has_lower_visibility(catalog, renderer):
    # Put a big box right in front of the camera over half the frame: objects behind it lose visibility.
    from tfsynth.generate.scene import Material, SceneObject, scale, translate
    for index in range(5, 15):
        scene = _scene(catalog, index)
        before = renderer.render(scene).stats.copy()
        if sum(before[o.instance_id][0] > 0 for o in scene.labelled) >= 3:
            break
    cam = np.array(scene.camera.position)
    target = np.array(scene.camera.target)
    ahead = cam + (target - cam) / np.linalg.norm(target - cam) * 0.15
    scene.objects.append(SceneObject("cube", translate(*ahead) @ scale(0.5, 0.5, 0.01), Material((0.5,) * 3)))
    after = renderer.render(scene).stats
    ids = [o.instance_id for o in scene.labelled if before[o.instance_id][0] > 0]
    assert len(ids) >= 3 and any(after[i][0] < before[i][0] for i in ids)
    for i in ids:
        assert after[i][5] == before[i][5]  # coverage ignores occluders


def test_border_cut_counts_against_visibility():
    _in_child(_check_border_cut_counts_against_visibility)


def _check_border_cut_counts_against_visibility(catalog, renderer):
    # A box facing the camera, slid sideways at a fixed depth so that a growing part of it leaves the frame: its
    # visible fraction must follow the part still in frame (its pixels over its pixels when wholly in view).
    from tfsynth.generate.scene import Camera, Light, Material, PostEffects, Scene, SceneObject, scale, translate
    camera = Camera((0.0, 0.0, 2.0), (0.0, 0.0, 0.0), 40.0, W, H)
    half_width = 2.0 * np.tan(np.radians(20.0)) * W / H  # the frame's half width at the box's depth

    def label(x: float, policy: LabelPolicy):
        box = SceneObject("cube", translate(x, 0.0, 0.0) @ scale(0.4, 0.4, 0.001), Material((0.7, 0.3, 0.2)),
                          instance_id=1, class_name="box")
        scene = Scene(camera, [Light("point", (0.0, 1.0, 2.0), (2.0, 2.0, 2.0))], [box], PostEffects())
        result = renderer.render(scene)
        return result.stats[1][5], label_objects(scene, result.stats, None, W, H, policy, renderer.assets.positions)

    whole_pixels, [whole] = label(0.0, LabelPolicy())
    assert whole.visibility > 0.97 and not whole.truncated
    for share_in_frame in (0.7, 0.4, 0.1):
        x = half_width + 0.2 - 0.4 * share_in_frame
        pixels, [cut] = label(x, LabelPolicy(min_visibility=0.0))
        assert cut.truncated
        assert abs(cut.visibility - pixels / whole_pixels) < 0.05, (share_in_frame, cut.visibility)
        assert abs(cut.visibility - share_in_frame) < 0.05, (share_in_frame, cut.visibility)
        # The default threshold drops a sliver at the border as it drops a product hidden behind others.
        kept = label(x, LabelPolicy())[1]
        assert len(kept) == (share_in_frame >= 0.15)


def test_in_frame_share_of_boxes_in_view_aside_and_behind():
    from tfsynth.generate.labeller import in_frame_share
    from tfsynth.generate.scene import Camera, scale, translate
    camera = Camera((0.0, 0.0, 2.0), (0.0, 0.0, 0.0), 40.0, W, H)
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    assert in_frame_share(corners, scale(0.2, 0.2, 0.2), camera) == 1.0
    assert in_frame_share(corners, translate(5.0, 0.0, 0.0) @ scale(0.2, 0.2, 0.2), camera) == 0.0
    # Reaching behind the near plane: its extent is unbounded, so no border penalty. Here a rod from beside the
    # frame, far away, to behind the camera crosses the whole frame although its front vertices project outside it.
    rod = np.eye(4)  # a thin rod from (1.5, 0, -1) to (-1.5, 0, 3); the camera sits at z = 2
    rod[:3, 0], rod[:3, 1], rod[:3, 2], rod[:3, 3] = (0.04, 0.0, 0.03), (0.0, 0.05, 0.0), (-3.0, 0.0, 4.0), (0, 0, 1)
    assert in_frame_share(corners, rod, camera) == 1.0
    assert in_frame_share(corners, translate(0.0, 0.0, 3.0) @ scale(0.2, 0.2, 0.2), camera) == 1.0  # behind
    # Straddling the left border at its centre: half in frame.
    half_width = 2.0 * np.tan(np.radians(20.0)) * W / H
    straddling = in_frame_share(corners, translate(-half_width, 0.0, 0.0) @ scale(0.2, 0.2, 0.001), camera)
    assert abs(straddling - 0.5) < 1e-3  # the slab's depth shows a little in perspective


def test_cue_off_holds_value_fixed(catalog):
    all_on = frozenset(CUES)
    on = [_scene(catalog, i, all_on) for i in range(3)]
    off = [_scene(catalog, i, frozenset()) for i in range(3)]
    assert len({s.camera.position for s in on}) == 3
    assert len({s.camera.position for s in off}) == 1  # viewpoint off: one camera (for one fridge size)
    assert len({s.camera.fov_y_deg for s in off}) == 1
    assert all(o.material.color == (1.0, 1.0, 1.0) for s in off for o in s.labelled)  # colour off
    assert any(o.material.color != (1.0, 1.0, 1.0) for s in on for o in s.labelled)
    assert all(o.material.uv_offset == (0.0, 0.0) for s in off for o in s.labelled)  # texture off
    assert all(o.material.texture_key for s in off for o in s.labelled)  # ...but still textured
    assert len({tuple(s.lights[0].color) for s in off}) == 1  # lighting off
    assert len({tuple(s.lights[0].color) for s in on}) == 3
    assert len({s.post.exposure for s in off}) == 1
    # Off means held, not removed: as many products and lights either way.
    assert [len(s.labelled) > 0 for s in off] == [True] * 3


def test_parse_cues():
    assert parse_cues("all") == frozenset(CUES)
    assert parse_cues("-texture") == frozenset(CUES) - {"texture"}
    assert parse_cues("color,viewpoint") == {"color", "viewpoint"}
    with pytest.raises(ValueError, match="unknown cue"):
        parse_cues("colour")
    with pytest.raises(NotImplementedError, match="needs Blender"):
        get_preset("photoreal")


@pytest.mark.parametrize("body, field", [
    ("  - {name: milk, archetype: blob, size_mm: {width: 60}}", "archetype"),
    ("  - {name: milk, archetype: can, size_mm: {width: -3}}", "size_mm.width"),
    ("  - {name: milk, archetype: can, size_mm: {width: 60}, colors: [[1, 2]]}", "colors[0]"),
    ("  - {name: milk, archetype: can, size_mm: {width: 60}, material: velvet}", "material"),
    ("  - {name: milk, archetype: can, size_mm: {width: 60}, texture: nope.png}", "texture"),
])
def test_catalog_errors_name_file_product_field(tmp_path, body, field):
    path = tmp_path / "cat.yaml"
    path.write_text("products:\n" + body + "\n")
    with pytest.raises(catalog_lib.CatalogError) as error:
        catalog_lib.load_catalog(str(path))
    message = str(error.value)
    assert str(path) in message and "'milk'" in message and field in message


def test_yaml_catalog_with_mesh_file(tmp_path):
    import trimesh
    trimesh.creation.icosphere(subdivisions=1).export(tmp_path / "ball.obj")
    (tmp_path / "cat.yaml").write_text(
        "products:\n  - {name: ball, mesh: ball.obj, size_mm: {width: 80}, colors: [[200, 50, 50]]}\n")
    cat = catalog_lib.load_catalog(str(tmp_path / "cat.yaml"))
    mesh = AssetLibrary(cat).mesh(cat.products[0].key)
    assert np.allclose(mesh.upper - mesh.lower, 0.08, atol=1e-4)
