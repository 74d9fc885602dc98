"""See-through materials in the real renderer: what lies behind clear packs shows, glass panes keep ids.

Rendering runs in a spawned process (no TensorFlow there: Mesa's llvmpipe and TensorFlow must not share one).
"""
from __future__ import annotations

import multiprocessing

import numpy as np

W, H = 160, 120


def _scene_with(objects):
    from tfsynth.generate.scene import Camera, Light, PostEffects, Scene, kelvin_to_rgb
    camera = Camera((0.0, 0.12, 0.6), (0.0, 0.1, 0.0), 30.0, W, H)
    lights = [Light("point", (0.3, 0.8, 0.8), tuple(np.array(kelvin_to_rgb(5000)) * 1.5)),
              Light("area", (-0.5, 0.6, 1.0), tuple(np.array(kelvin_to_rgb(5000)) * 0.6), size=0.4)]
    return Scene(camera, lights, objects, PostEffects(vignette=0.0, noise_sigma=0.0), ambient_sky=(0.5, 0.5, 0.5),
                 ambient_ground=(0.3, 0.3, 0.3), interior=(3, 2, 2), shadow_light=-1)


def _red_wall():
    from tfsynth.generate.scene import Material, SceneObject, scale, translate
    return SceneObject("cube", translate(0, 0.1, -0.15) @ scale(1.0, 1.0, 0.01), Material(color=(0.9, 0.05, 0.05)))


def _render_clear_and_opaque_bottles() -> dict[str, np.ndarray]:
    """The pixels of a clear PET bottle and of the same bottle in white matte plastic, each before a red wall."""
    import os
    os.environ["LP_NUM_THREADS"] = "1"
    from tfsynth.generate.assets import AssetLibrary
    from tfsynth.generate.catalog import Catalog, Product
    from tfsynth.generate.materials import instance_material
    from tfsynth.generate.render_gl import GLRenderer
    from tfsynth.generate.scene import SceneObject
    common = dict(archetype="bottle", size_mm=((70, 70), (220, 220), (70, 70)), colors=((235, 238, 240),),
                  profile="water", fill=(0.9, 0.9))
    products = {"clear": Product(name="clear", material="clear_plastic", **common),
                "opaque": Product(name="opaque", material="matte", **common)}
    renderer = GLRenderer(W, H, "default", AssetLibrary(Catalog(list(products.values()), [])))
    pixels = {}
    try:
        for name, product in products.items():
            material = instance_material(product, np.random.default_rng(0), frozenset())
            bottle = SceneObject(product.key, np.eye(4), material, instance_id=1, class_name=name)
            result = renderer.render(_scene_with([_red_wall(), bottle]), want_ids=True)
            pixels[name] = result.image[result.ids == 1].astype(np.float32)
    finally:
        renderer.release()
    return pixels


def test_a_clear_bottle_shows_what_lies_behind_it():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pixels = pool.apply(_render_clear_and_opaque_bottles)
    assert len(pixels["clear"]) > 300 and len(pixels["opaque"]) > 300  # both drawn, both labelled
    redness = {name: float(np.mean(values[:, 0] - values[:, 1])) for name, values in pixels.items()}
    # The red wall shows through the clear bottle's body; the white matte bottle hides it.
    assert redness["clear"] > redness["opaque"] + 20, redness
    # Most of the clear bottle is tinted by the wall (its label band and cap are not); none of the opaque one.
    tinted = {name: float(np.mean(values[:, 0] - values[:, 1] > 20)) for name, values in pixels.items()}
    assert tinted["clear"] > 0.5 and tinted["opaque"] < 0.05, tinted


def _render_product_behind_glass_pane() -> tuple[int, int]:
    """Visible pixels of a labelled box, alone and behind a see-through glass pane (a shelf or drawer front)."""
    import os
    os.environ["LP_NUM_THREADS"] = "1"
    from tfsynth.generate.assets import AssetLibrary
    from tfsynth.generate.catalog import Catalog
    from tfsynth.generate.fridge import surface
    from tfsynth.generate.render_gl import GLRenderer
    from tfsynth.generate.scene import Material, SceneObject, scale, translate
    renderer = GLRenderer(W, H, "fast", AssetLibrary(Catalog([], [])))
    box = SceneObject("cube", translate(0, 0.1, 0) @ scale(0.1, 0.1, 0.1), Material(color=(0.2, 0.6, 0.2)),
                      instance_id=1, class_name="box")
    pane = SceneObject("cube", translate(0, 0.1, 0.15) @ scale(0.5, 0.5, 0.005),
                       surface((0.8, 0.85, 0.85), "glass", 0.6, 96.0, opacity=0.3), casts_shadow=False)
    try:
        alone = int(renderer.render(_scene_with([box])).stats[1][0])
        behind = int(renderer.render(_scene_with([box, pane])).stats[1][0])
    finally:
        renderer.release()
    return alone, behind


def test_a_product_seen_through_a_glass_pane_keeps_its_label():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        alone, behind = pool.apply(_render_product_behind_glass_pane)
    assert alone > 200
    assert behind == alone  # the pane is drawn over it but does not take its pixels
