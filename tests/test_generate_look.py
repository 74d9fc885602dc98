"""The look of the renders: phone-photo framing, squash shapes, glass textures (no rendering needed)."""
import math

import numpy as np
import pytest

from tfsynth.generate import shapes, textures
from tfsynth.generate.catalog import load_catalog
from tfsynth.generate.sampler import CUES, SamplerConfig, sample_scene

CATALOG = "configs/fridge_us_catalog.yaml"


@pytest.fixture(scope="module")
def fridge_catalog():
    return load_catalog(CATALOG)


@pytest.mark.parametrize("width, height", [(480, 640), (640, 480)])
def test_camera_frames_the_interior_from_phone_distance(fridge_catalog, width, height):
    for index in range(20):
        scene = sample_scene(fridge_catalog, SamplerConfig(width, height, products_per_image=(2, 2)), 3, 0, index)
        camera = scene.camera
        eye, target = np.array(camera.position), np.array(camera.target)
        half_w, fridge_h, depth = scene.interior
        assert 0.6 - 1e-6 <= eye[2] <= 1.5 + 1e-6  # metres in front of the opening
        assert abs(target[0]) < half_w and 0 < target[1] < fridge_h and -depth < target[2] < 0
        look = (target - eye) / np.linalg.norm(target - eye)
        assert -math.sin(math.radians(16)) <= look[1] <= math.sin(math.radians(5))  # level or from above
        long_fov = camera.fov_y_deg if height >= width else math.degrees(
            2 * math.atan(math.tan(math.radians(camera.fov_y_deg / 2)) * width / height))
        assert 62.9 <= long_fov <= 72.1


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
    assert textures.is_clear_contents((200, 225, 240)) and not textures.is_clear_contents((150, 15, 15))
