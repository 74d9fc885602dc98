"""Archetype meshes: sizes, placement, winding, uv and closure regions of every archetype and bottle profile; the
shapes that set archetypes apart; mesh-file errors; the traits table; produce skins; one real render of the new
archetypes (in a spawned process: Mesa's llvmpipe and TensorFlow must not share one)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfsynth.generate import catalog as catalog_lib
from tfsynth.generate import sampler, shapes, skins
from tfsynth.generate.catalog import CatalogError, Product

# A typical size (width, height, depth in mm) per archetype; every archetype must have one.
TYPICAL_MM = {
    "box": (100, 200, 50), "carton": (80, 150, 50), "gable_top_carton": (80, 240, 80), "can": (66, 120, 66),
    "bottle": (75, 300, 75), "squeeze_bottle": (65, 190, 45), "jar": (80, 120, 80), "cup": (75, 90, 75),
    "tub": (120, 80, 120), "egg_box": (150, 70, 100), "tray": (180, 50, 120), "pouch": (120, 170, 30),
    "sphere": (75, 72, 75), "ellipsoid": (60, 90, 60), "squash": (120, 110, 120), "bell_pepper": (85, 95, 85),
    "pear": (70, 110, 70), "oval": (130, 80, 90), "tomato": (70, 58, 70), "onion": (80, 85, 80),
    "cluster": (200, 70, 110), "net_bag": (280, 100, 180), "wrapped_block": (125, 35, 65),
    "brick_carton": (95, 195, 65), "tube": (55, 190, 40),
}
# Which closure region each archetype's mesh has: "cap" (cap_v: lid, cap, capsule, clip), "base" (base_v: a cap
# the product stands on) or None.
CLOSURE = {"can": "cap", "bottle": "cap", "jar": "cap", "cup": "cap", "tub": "cap", "brick_carton": "cap",
           "net_bag": "cap", "squeeze_bottle": "base", "tube": "base"}
NEW_ARCHETYPES = ("bell_pepper", "pear", "oval", "tomato", "onion", "cluster", "net_bag", "wrapped_block",
                  "brick_carton", "tube")
CASES = [(a, "water") for a in shapes.ARCHETYPES if a != "bottle"] + [("bottle", p) for p in shapes.BOTTLE_PROFILES]


def _size_m(archetype: str) -> tuple[float, float, float]:
    return tuple(v / 1000.0 for v in TYPICAL_MM[archetype])  # type: ignore


def _radius_at(mesh: shapes.Mesh, y_fraction: float) -> float:
    """Largest distance from the y axis where the surface crosses height y_fraction (of the mesh's height)."""
    level = y_fraction * float(mesh.upper[1])
    positions = mesh.vertices[:, :3].astype(np.float64)
    triangles = mesh.indices.reshape(-1, 3)
    starts = positions[triangles.ravel()]
    ends = positions[triangles[:, [1, 2, 0]].ravel()]
    crossing = ((starts[:, 1] - level) * (ends[:, 1] - level) <= 0) & (starts[:, 1] != ends[:, 1])
    assert crossing.any(), f"the surface does not reach {y_fraction} of the height"
    a, b = starts[crossing], ends[crossing]
    points = a + ((level - a[:, 1]) / (b[:, 1] - a[:, 1]))[:, None] * (b - a)
    return float(np.hypot(points[:, 0], points[:, 2]).max())


def test_every_archetype_has_a_size_traits_and_a_builder():
    assert set(TYPICAL_MM) == set(shapes.ARCHETYPES) == set(shapes.ARCHETYPE_TRAITS)
    for archetype in NEW_ARCHETYPES:
        assert archetype in shapes.ARCHETYPES
    assert {"sparkling", "narrow_neck", "wine"} <= set(shapes.BOTTLE_PROFILES)
    with pytest.raises(ValueError, match="unknown archetype"):
        shapes.build_mesh("blob", (0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="unknown bottle profile"):
        shapes.build_mesh("bottle", (0.07, 0.3, 0.07), "magnum")


@pytest.mark.parametrize("archetype, profile", CASES, ids=[f"{a}-{p}" if a == "bottle" else a for a, p in CASES])
def test_mesh_is_sized_placed_wound_outward_and_mapped(archetype, profile):
    size = _size_m(archetype)
    mesh = shapes.build_mesh(archetype, size, profile)
    vertices = mesh.vertices
    assert vertices.dtype == np.float32 and vertices.shape[1] == 8 and mesh.indices.dtype == np.uint32
    assert len(mesh.indices) % 3 == 0 and mesh.indices.max() < len(vertices)
    assert np.all(np.isfinite(vertices))
    lower, upper = mesh.lower.astype(np.float64), mesh.upper.astype(np.float64)
    # Extents match the size asked for. Round archetypes are polygons (28-40 sides) and the squat squash has
    # grooves, which take up to about 2.5 % off; everything else (clusters and bags included, which are fitted
    # to the size after they are laid out) matches to a fraction of a millimetre.
    np.testing.assert_allclose(upper - lower, size, rtol=0.03)
    assert lower[1] == pytest.approx(0.0, abs=1e-6)
    assert (lower[0] + upper[0]) / 2 == pytest.approx(0.0, abs=1e-4)
    assert (lower[2] + upper[2]) / 2 == pytest.approx(0.0, abs=1e-4)
    # Winding: counter-clockwise from outside gives a positive signed volume (for every closed part, so for
    # their sum), and the vertex normals agree with the faces they belong to.
    positions = vertices[:, :3].astype(np.float64)
    corners = positions[mesh.indices.reshape(-1, 3)]
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6
    assert volume > 0.2 * np.prod(size), volume
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = np.linalg.norm(face_normals, axis=1)
    vertex_normals = vertices[mesh.indices.reshape(-1, 3)][:, :, 3:6].astype(np.float64).mean(axis=1)
    agree = np.einsum("ij,ij->i", vertex_normals, face_normals) > 0
    assert (area * agree).sum() / area.sum() > 0.97
    np.testing.assert_allclose(np.linalg.norm(vertices[:, 3:6], axis=1), 1.0, atol=1e-3)
    uv = vertices[:, 6:8]
    assert uv.min() >= 0.0 and uv.max() <= 1.0


@pytest.mark.parametrize("archetype, profile", CASES, ids=[f"{a}-{p}" if a == "bottle" else a for a, p in CASES])
def test_closure_region_matches_the_geometry(archetype, profile):
    size = _size_m(archetype)
    mesh = shapes.build_mesh(archetype, size, profile)
    expected = CLOSURE.get(archetype)
    assert (mesh.cap_v is not None) == (expected == "cap")
    assert (mesh.base_v is not None) == (expected == "base")
    v, y = mesh.vertices[:, 7], mesh.vertices[:, 1]
    height = size[1]
    if mesh.cap_v is not None:
        assert 0.0 < mesh.cap_v < 1.0
        closure = v > mesh.cap_v + 1e-6
        assert closure.any() and (~closure).any()
        if archetype == "net_bag":  # lying bag: the clip at the far end of the bag's axis (+x)
            assert mesh.vertices[closure, 0].min() > 0.25 * size[0]
        else:  # a cap, lid or capsule: the top of the product, nothing of it low down
            assert y[closure].min() > 0.5 * height and y[closure].max() == pytest.approx(height, rel=1e-5)
    if mesh.base_v is not None:
        assert 0.0 < mesh.base_v < 1.0
        closure = v < mesh.base_v - 1e-6
        assert closure.any() and y[closure].min() == pytest.approx(0.0, abs=1e-6)
        assert y[closure].max() < 0.2 * height  # standing on its cap: the cap is the bottom


def test_bottle_profiles_differ_where_they_should():
    r, h = 0.0375, 0.3

    def profile_radius(profile: str, fraction: float) -> float:
        return _radius_at(shapes.bottle(r, h, profile), fraction) / r

    # Wine: full body to 0.6 of the height, then a long narrow neck under the capsule.
    assert profile_radius("wine", 0.55) > 0.98
    assert profile_radius("wine", 0.82) < 0.4
    # Sparkling: the shoulder starts lower (heavier-looking body) and the top bulges over the cork.
    assert profile_radius("sparkling", 0.6) < 0.95 * profile_radius("wine", 0.6)
    assert profile_radius("sparkling", 0.965) > 1.2 * profile_radius("sparkling", 0.86)
    assert profile_radius("wine", 0.965) < 1.2 * profile_radius("wine", 0.86)
    # Narrow neck: a long thin neck and a cap wider than it.
    assert profile_radius("narrow_neck", 0.75) < 0.34
    assert profile_radius("narrow_neck", 0.92) > 1.3 * profile_radius("narrow_neck", 0.75)
    # The old wine outline (neck from 0.74 h) is gone: the capsule (cap_v) now starts above 0.8 of the height.
    wine = shapes.bottle(r, h, "wine")
    assert wine.vertices[wine.vertices[:, 7] > wine.cap_v + 1e-6, 1].min() > 0.8 * h
    water = shapes.bottle(r, h, "water")
    assert not np.allclose(_radius_at(wine, 0.7), _radius_at(water, 0.7), rtol=0.05)


def test_produce_shapes_have_their_features():
    pepper = shapes.build_mesh("bell_pepper", _size_m("bell_pepper"))
    ring = np.abs(pepper.vertices[:, 1] - 0.5 * pepper.upper[1]) < 0.01 * pepper.upper[1]
    radius = np.hypot(pepper.vertices[ring, 0], pepper.vertices[ring, 2])
    assert np.ptp(radius) > 0.08 * radius.max()  # lobes and creases
    pear = shapes.build_mesh("pear", _size_m("pear"))
    assert _radius_at(pear, 0.75) < 0.7 * _radius_at(pear, 0.3)  # neck narrower than the bulb
    onion = shapes.build_mesh("onion", _size_m("onion"))
    assert _radius_at(onion, 0.97) < 0.25 * _radius_at(onion, 0.4)  # pointed top
    flat = onion.vertices[onion.vertices[:, 1] < 1e-5]
    assert np.hypot(flat[:, 0], flat[:, 2]).max() > 0.2 * 0.04  # a flat root plate, not a pole
    oval = shapes.build_mesh("oval", _size_m("oval"))
    lengthwise = oval.vertices[:, 7]  # v runs along the fruit, which lies along x
    assert np.corrcoef(lengthwise, oval.vertices[:, 0])[0, 1] > 0.9
    tomato = shapes.build_mesh("tomato", _size_m("tomato"))
    calyx = (tomato.vertices[:, 7] >= 0.9) & (tomato.vertices[:, 7] <= 0.95)
    assert calyx.any() and tomato.vertices[calyx, 1].min() > 0.7 * tomato.upper[1]
    assert np.hypot(tomato.vertices[calyx, 0], tomato.vertices[calyx, 2]).max() > 0.15 * 0.07  # spread sepals


@pytest.mark.parametrize("size_mm, fruit", [((200, 70, 110), (4, 7)), ((150, 60, 60), (4, 7)),
                                            ((180, 120, 100), (4, 7))])
def test_cluster_has_four_to_seven_fruit_on_a_stem(size_mm, fruit):
    size = tuple(v / 1000 for v in size_mm)
    mesh = shapes.build_mesh("cluster", size)
    # Each fruit is a sphere whose bottom pole has v = 0: count the distinct poles.
    poles = np.unique(np.round(mesh.vertices[mesh.vertices[:, 7] == 0.0, :3] * 1e5), axis=0)
    assert fruit[0] <= len(poles) <= fruit[1]
    stems = mesh.vertices[:, 7] > 0.93
    assert stems.any() and mesh.vertices[stems, 1].max() > 0.8 * size[1]
    np.testing.assert_allclose(mesh.upper - mesh.lower, size, rtol=1e-4)


def test_net_bag_stands_or_lies_by_its_proportions():
    lying = shapes.build_mesh("net_bag", (0.28, 0.1, 0.18))
    standing = shapes.build_mesh("net_bag", (0.16, 0.3, 0.14))
    for mesh, axis in ((lying, 0), (standing, 1)):
        clip = mesh.vertices[mesh.vertices[:, 7] > mesh.cap_v + 1e-6]
        extent = float(mesh.upper[axis] - mesh.lower[axis])
        assert clip[:, axis].min() > mesh.lower[axis] + 0.6 * extent  # the knot at the far end of the axis


def _write(path, data) -> str:
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as handle:
        handle.write(data)
    return str(path)


def _truncated_ply(tmp_path) -> str:
    import trimesh
    good = tmp_path / "good.ply"
    trimesh.creation.icosphere(subdivisions=1).export(good)
    data = good.read_bytes()
    return _write(tmp_path / "truncated.ply", data[:len(data) // 2])


@pytest.mark.parametrize("make, reason", [
    (lambda tmp: _write(tmp / "garbage.obj", "this is not a mesh\nfoo bar baz\n"), "no faces"),
    (lambda tmp: _write(tmp / "random.glb", np.random.default_rng(0).bytes(300)), "unreadable"),
    (lambda tmp: _write(tmp / "points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n"), "not a triangle mesh"),
    (lambda tmp: _write(tmp / "nofaces.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\n# no f lines\n"),
     "not a triangle mesh"),
    (_truncated_ply, "unreadable"),
    (lambda tmp: _write(tmp / "flat.obj", "v 0 0 0\nv 1 0 0\nv 0 0 1\nf 1 2 3\n"), "zero extent along y"),
    (lambda tmp: str(tmp / "missing.obj"), "does not exist"),
    (lambda tmp: _write(tmp / "dangling.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n"),
     "unreadable mesh file; expected a triangle mesh as OBJ, GLB/glTF or PLY whose faces index existing vertices"),
    (lambda tmp: str(tmp), "a folder; expected a mesh file"),
])
def test_broken_mesh_files_raise_mesh_error_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(shapes.MeshError) as error:
        shapes.load_mesh_file(path, (0.08, 0.08, 0.08))
    assert isinstance(error.value, ValueError)
    assert path in str(error.value) and reason in str(error.value)


def test_catalog_names_product_field_and_file_of_a_broken_mesh(tmp_path):
    import trimesh
    trimesh.creation.icosphere(subdivisions=1).export(tmp_path / "ball.obj")
    _write(tmp_path / "bad.glb", b"glTF" + bytes(40))
    path = _write(tmp_path / "cat.yaml", "products:\n"
                  "  - {name: ball, mesh: ball.obj, size_mm: {width: 80}}\n"
                  "  - {name: melon, mesh: bad.glb, size_mm: {width: 150}}\n")
    with pytest.raises(CatalogError) as error:
        catalog_lib.load_catalog(path)
    message = str(error.value)
    assert path in message and "('melon')" in message and "field 'mesh'" in message
    assert str(tmp_path / "bad.glb") in message and "unreadable" in message
    products = catalog_lib.read_catalog(path).catalog.products
    assert catalog_lib.check_mesh(products[0]) == []
    problems = catalog_lib.check_mesh(products[1])
    assert len(problems) == 1 and str(tmp_path / "bad.glb") in problems[0]
    # A scene of several meshes (GLB nodes) loads as one mesh of the asked size.
    scene = trimesh.Scene([trimesh.creation.box(), trimesh.creation.icosphere().apply_translation([2, 0, 0])])
    scene.export(tmp_path / "two.glb")
    mesh = shapes.load_mesh_file(str(tmp_path / "two.glb"), (0.2, 0.1, 0.1))
    np.testing.assert_allclose(mesh.upper - mesh.lower, (0.2, 0.1, 0.1), rtol=1e-5)


def test_default_catalog_uses_every_archetype_and_bottle_profile():
    catalog = catalog_lib.default_catalog()
    assert len(catalog.products) == 150 and len(catalog.distractors) == 25
    assert {p.archetype for p in catalog.products} == set(shapes.ARCHETYPES)
    assert {p.profile for p in catalog.products if p.archetype == "bottle"} == set(shapes.BOTTLE_PROFILES)
    assert all(p.material in catalog_lib.MATERIALS for p in catalog.products + catalog.distractors)
    assert {p.material for p in catalog.products} == set(catalog_lib.MATERIALS)  # every material in use
    assert {p.archetype for p in catalog.distractors} == set(shapes.ARCHETYPES)  # distractors of every kind
    by_archetype = {}
    for product in catalog.products:
        by_archetype.setdefault(product.archetype, product)
    width, height, depth = by_archetype["oval"].fixed_size_m()
    assert width > height and width > depth  # lies along its width
    w, h, d = by_archetype["wrapped_block"].fixed_size_m()
    assert h < d < w
    for name in shapes.ARCHETYPES:  # the docstring tells users which archetype fits which product
        assert f"\n    {name} " in catalog_lib.__doc__


def test_traits_table_drives_produce_lying_and_stacking():
    assert set(catalog_lib.PRODUCE) == {"sphere", "ellipsoid", "squash", "bell_pepper", "pear", "oval", "tomato",
                                        "onion", "cluster", "net_bag"}
    # The sampler's sets come from the table: the old members stay, the new archetypes are sorted in.
    assert {"can", "bottle", "squeeze_bottle", "box", "carton", "pouch", "ellipsoid", "squash", "tube",
            "brick_carton", "pear"} <= sampler._LYING_OK
    assert not {"oval", "net_bag", "cluster", "jar", "gable_top_carton"} & sampler._LYING_OK
    assert {"box", "carton", "can", "cup", "tub", "egg_box", "tray", "jar", "wrapped_block"} <= sampler._STACKABLE
    assert not {"brick_carton", "tube", "tomato", "bottle"} & sampler._STACKABLE


def _produce(archetype: str, colors, seed: int = 3) -> Product:
    w, h, d = TYPICAL_MM[archetype]
    return Product(archetype, archetype, ((w, w), (h, h), (d, d)), tuple(colors), design_seed=seed)


def _skin(product: Product, seed: int = 3) -> np.ndarray:
    return skins.produce_skin(product, np.random.default_rng(seed), 128).astype(np.float64)


def test_produce_skins_paint_the_parts_their_meshes_map():
    red, green = (210, 40, 30), (50, 120, 40)
    tomato = _skin(_produce("tomato", [red]))
    assert np.array_equal(tomato, _skin(_produce("tomato", [red])))  # deterministic
    calyx = tomato[int(0.06 * 128):int(0.09 * 128)].mean(axis=(0, 1))  # v 0.91-0.94
    assert calyx[1] > calyx[0]  # default green calyx over a red fruit
    body = tomato[64:].mean(axis=(0, 1))
    assert body[0] > 2 * body[1]
    pepper = _skin(_produce("bell_pepper", [red, green]))
    stem = pepper[:int(0.07 * 128)].mean(axis=(0, 1))
    assert abs(stem - np.array(green)).max() < 30  # the last colour paints the stem
    onion = _skin(_produce("onion", [(180, 120, 60)]))
    middle = onion[30:100].mean(axis=2)
    assert middle.mean(axis=0).std() > 2 * middle.mean(axis=1).std()  # streaks run along v, not across
    bag = _skin(_produce("net_bag", [(245, 140, 20), (220, 30, 30)]))
    fruit_rows = bag[int(0.3 * 128):int(0.9 * 128)].reshape(-1, 3)
    is_net = np.abs(fruit_rows - np.array([220, 30, 30])).max(axis=1) < 25
    assert 0.05 < is_net.mean() < 0.6  # a lattice: some strands, mostly fruit
    tag = bag[int(0.07 * 128):int(0.11 * 128)]
    assert tag.max() > 200  # the light card of the tag
    cluster = _skin(_produce("cluster", [red]))
    vine = cluster[:int(0.07 * 128)].mean(axis=(0, 1))
    assert vine[1] > vine[0]
    # Avocado-dark pears are pebbled: much more fine-grained relief than a smooth yellow pear.
    avocado = _skin(_produce("pear", [(45, 60, 30)]))[20:110].mean(axis=2)
    smooth = _skin(_produce("pear", [(200, 190, 60)]))[20:110].mean(axis=2)

    def roughness(image):
        return np.abs(np.diff(image, axis=1)).mean() / image.mean()

    assert roughness(avocado) > 2 * roughness(smooth)


# --- one real render of the new archetypes -----------------------------------------------------------------

RENDER_W, RENDER_H = 480, 200


def _render_new_archetypes() -> dict:
    """In a spawned process: every new archetype (and the new bottle profiles) in a row on a floor, rendered
    and labelled; returns ({product name: (xmin, ymin, xmax, ymax)}, the names placed left to right)."""
    os.environ["LP_NUM_THREADS"] = "1"
    from tfsynth.generate.assets import AssetLibrary
    from tfsynth.generate.catalog import Catalog
    from tfsynth.generate.labeller import LabelPolicy, label_objects
    from tfsynth.generate.materials import instance_material
    from tfsynth.generate.render_gl import GLRenderer
    from tfsynth.generate.scene import (Camera, Light, Material, PostEffects, Scene, SceneObject, kelvin_to_rgb,
                                        scale, translate)
    cases = [(a, "water") for a in NEW_ARCHETYPES] + [("bottle", p) for p in ("wine", "sparkling", "narrow_neck")]
    products = []
    for index, (archetype, profile) in enumerate(cases):
        w, h, d = TYPICAL_MM[archetype]
        products.append(Product(f"{archetype}_{profile}", archetype, ((w, w), (h, h), (d, d)),
                                ((200, 60 + 12 * index, 40), (60, 120, 40), (240, 240, 230)),
                                material="glass" if archetype == "bottle" else "glossy", profile=profile,
                                design_seed=100 + index))
    assets = AssetLibrary(Catalog(products, []))
    renderer = GLRenderer(RENDER_W, RENDER_H, "fast", assets)
    objects = [SceneObject("cube", translate(0, -0.005, 0) @ scale(3, 0.01, 1), Material(color=(0.8, 0.8, 0.8)))]
    x = 0.0
    for index, product in enumerate(products):
        width = product.fixed_size_m()[0]
        x += width / 2
        objects.append(SceneObject(product.key, translate(x, 0, 0),
                                   instance_material(product, np.random.default_rng(index), frozenset()),
                                   instance_id=index + 1, class_name=product.name))
        x += width / 2 + 0.03
    centre = x / 2
    camera = Camera((centre, 0.6, 1.6), (centre, 0.08, 0.0), 35.0, RENDER_W, RENDER_H)
    lights = [Light("point", (centre, 1.0, 0.8), tuple(np.array(kelvin_to_rgb(5000)) * 1.5)),
              Light("area", (centre - 0.5, 0.8, 1.0), tuple(np.array(kelvin_to_rgb(5000)) * 0.5), size=0.5)]
    scene = Scene(camera, lights, objects, PostEffects(vignette=0.0), ambient_sky=(0.4, 0.4, 0.4),
                  ambient_ground=(0.2, 0.2, 0.2), background=(0.8, 0.8, 0.8), interior=(3, 2, 2), shadow_light=-1)
    try:
        result = renderer.render(scene, want_ids=True)
        labels = label_objects(scene, result.stats, result.ids, RENDER_W, RENDER_H, LabelPolicy(), assets.positions)
    finally:
        renderer.release()
    return {a.class_name: (a.xmin, a.ymin, a.xmax, a.ymax) for a in labels}, [p.name for p in products]


def test_new_archetypes_render_and_are_labelled():
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        boxes, names = pool.apply(_render_new_archetypes)
    assert len(names) == len(NEW_ARCHETYPES) + 3
    assert set(boxes) == set(names)
    for name, (xmin, ymin, xmax, ymax) in boxes.items():
        assert 0 <= xmin < xmax <= RENDER_W and 0 <= ymin < ymax <= RENDER_H, name
        assert (xmax - xmin) >= 4 and (ymax - ymin) >= 4, name
    # Left to right in the order they were placed.
    centres = [(boxes[n][0] + boxes[n][2]) / 2 for n in names]
    assert centres == sorted(centres)


def test_catalog_says_a_folder_given_for_a_mesh_is_a_folder(tmp_path):
    (tmp_path / "models").mkdir()
    path = _write(tmp_path / "cat.yaml", "products:\n  - {name: melon, mesh: models, size_mm: {width: 150}}\n")
    with pytest.raises(CatalogError, match=r"products\[0\] \('melon'\).*field 'mesh': .*models' is a folder; "
                                           r"expected a file"):
        catalog_lib.load_catalog(path)
