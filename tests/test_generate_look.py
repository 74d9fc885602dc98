"""The look of the renders: phone-photo framing, squash shapes, glass textures (no rendering needed)."""
import numpy as np
import pytest

from tfsynth.generate import shapes, textures
from tfsynth.generate.catalog import load_catalog
from tfsynth.generate.sampler import CUES, SamplerConfig, sample_scene

CATALOG = "configs/fridge_us_catalog.yaml"


@pytest.fixture(scope="module")
def fridge_catalog():
    return load_catalog(CATALOG)


def _projected_height_fraction(scene, obj, size_m) -> float:
    """The product's height in the frame as a fraction of the frame height (its 8 box corners projected)."""
    w, h, d = size_m
    corners = np.array([[x, y, z, 1.0] for x in (-w / 2, w / 2) for y in (0.0, h) for z in (-d / 2, d / 2)])
    clip = (scene.camera.projection_matrix() @ scene.camera.view_matrix() @ obj.model @ corners.T).T
    if (clip[:, 3] <= 0).any():
        return 0.0
    ndc_y = np.clip(clip[:, 1] / clip[:, 3], -1, 1)
    return float(ndc_y.max() - ndc_y.min()) / 2


def test_shots_span_whole_fridge_to_close_ups_in_both_orientations(fridge_catalog):
    """Products must appear from a few percent of the frame height to over half of it (issue 18)."""
    sizes = {p.key: p.fixed_size_m() for p in fridge_catalog.products}
    fractions, orientations, distances = [], set(), []
    for index in range(80):
        scene = sample_scene(fridge_catalog, SamplerConfig(640, 480), 11, 0, index)
        camera = scene.camera
        orientations.add("portrait" if camera.height > camera.width else "landscape")
        eye, target = np.array(camera.position), np.array(camera.target)
        distances.append(float(np.linalg.norm(target - eye)))
        half_w, fridge_h, depth = scene.interior
        assert abs(target[0]) <= half_w + 0.1 and -0.05 <= target[1] <= fridge_h + 0.05 and target[2] <= 0.05
        assert eye[2] >= -0.05  # never inside the fridge beyond a webcam under its ceiling at the front
        assert 30 <= camera.fov_y_deg <= 106
        for obj in scene.labelled:
            fraction = _projected_height_fraction(scene, obj, sizes[obj.mesh_key])
            if 0 < fraction:
                fractions.append(fraction)
    fractions = np.array(fractions)
    assert orientations == {"portrait", "landscape"}
    assert min(distances) < 0.4 and max(distances) > 1.0
    assert (fractions < 0.08).mean() > 0.1  # whole-fridge shots: small products
    assert (fractions > 0.5).sum() >= 10  # close-ups: a product over half the frame height


def test_viewpoint_off_is_one_level_camera(fridge_catalog):
    cameras = {sample_scene(fridge_catalog, SamplerConfig(480, 640, cues=frozenset(CUES) - {"viewpoint"}), 0, 0,
                            i).camera.position for i in range(4)}
    assert len(cameras) == 1
    assert 0.6 <= next(iter(cameras))[2] <= 1.5


def test_elongated_squash_has_a_neck_and_squat_squash_stays_round():
    long = shapes.squash(0.1, 0.26)
    lower, upper = long.lower, long.upper
    assert lower[1] == pytest.approx(0.0, abs=1e-6) and upper[1] == pytest.approx(0.26, abs=1e-6)
    assert (lower[0] + upper[0]) / 2 == pytest.approx(0.0, abs=1e-6)  # footprint centred after the bend

    def radius_at(mesh, y_fraction):
        rows = np.abs(mesh.vertices[:, 1] - y_fraction * mesh.upper[1]) < 0.02 * mesh.upper[1]
        return float(np.ptp(mesh.vertices[rows, 2])) / 2

    assert radius_at(long, 0.75) < 0.75 * radius_at(long, 0.2)  # butternut: neck narrower than the bulb
    zucchini = shapes.squash(0.05, 0.21)
    assert radius_at(zucchini, 0.75) > 0.8 * radius_at(zucchini, 0.2)  # zucchini: nearly even
    squat = shapes.squash(0.12, 0.11)
    assert np.ptp(squat.vertices[:, 0]) > np.ptp(squat.vertices[:, 1])


def test_long_squash_mostly_lies_on_its_side(fridge_catalog):
    lying = standing = 0
    for index in range(12):
        scene = sample_scene(fridge_catalog, SamplerConfig(64, 48, products_per_image=(20, 20)), 5, 0, index)
        for obj in scene.objects:
            if obj.mesh_key in ("p:squash_zucchini", "p:squash_butternut", "p:squash_yellow"):
                axis = obj.model[:3, 1] / np.linalg.norm(obj.model[:3, 1])  # the mesh's long axis in the world
                lying += abs(axis[1]) < 0.5
                standing += abs(axis[1]) >= 0.5
    assert lying > 3 * standing and lying > 0


def test_glass_textures_clear_versus_coloured_contents(fridge_catalog):
    by_name = {p.name: p for p in fridge_catalog.products}
    water = textures.label_texture(by_name["water_500ml"]).astype(np.float32)
    ketchup = textures.label_texture(by_name["ketchup_glass"]).astype(np.float32)
    body = slice(int(0.75 * textures.TEXTURE_SIZE), int(0.9 * textures.TEXTURE_SIZE))  # below the label band
    assert water[body].mean() > 150 and np.ptp(water[body].mean(axis=(0, 2))) > 10  # pale, streaked
    red = ketchup[body].mean(axis=(0, 1))
    assert red[0] > 2 * red[1]  # the sauce's colour, not a pale tint
    assert by_name["water_500ml"].clear_contents and not by_name["ketchup_glass"].clear_contents


def test_a_users_face_image_lands_on_its_face_and_variants_differ(tmp_path):
    from PIL import Image
    from tfsynth.generate.catalog import load_catalog as load
    Image.new("RGB", (40, 30), (255, 0, 255)).save(tmp_path / "front.png")
    (tmp_path / "c.yaml").write_text(
        "products:\n"
        "  - {name: oat_drink, archetype: box, size_mm: {width: 100, height: 200, depth: 100},\n"
        "     colors: [[40, 90, 170], [250, 250, 240]], texture: {front: front.png}}\n")
    product = load(str(tmp_path / "c.yaml")).products[0]
    texture = textures.label_texture(product, 0, cap_v=0.88, base_v=0.12).astype(np.int32)
    size = textures.TEXTURE_SIZE
    magenta = (texture[..., 0] > 240) & (texture[..., 1] < 20) & (texture[..., 2] > 240)
    rows, cols = np.nonzero(magenta)
    # A square box wraps front, right, back, left over u: the front is the first quarter, between the caps' rows.
    assert cols.min() == 0 and abs(cols.max() - size // 4) <= 2
    assert abs(rows.min() - round(0.12 * size)) <= 2 and abs(rows.max() - round(0.88 * size)) <= 2
    others = [textures.label_texture(product, v, cap_v=0.88, base_v=0.12) for v in range(1, textures.LABEL_VARIANTS)]
    assert all(np.abs(o.astype(np.int32) - texture).mean() > 1 for o in others)  # the rest of the art varies
    assert all((o[magenta] == texture[magenta]).all() for o in others)  # the user's face stays as given
