"""How one placed product looks in one render: its Material (colour tint, label variant, shading kind).

The sampler calls this for every product it places; the catalog preview calls it too, so a preview shows what
the renders will show. Catalog materials (catalog.MATERIALS) map to the renderer's shading kinds:

| catalog material | shading | see-through | closure (cap, lid) |
|---|---|---|---|
| matte, paper | matte, little specular | no | glossy plastic |
| glossy | glossy plastic | no | glossy plastic |
| glass | glass: the rim mirrors the room | yes: contents to the fill level, background above | glossy or metal |
| clear_plastic | glass, thinner and clearer | yes | glossy plastic |
| translucent | glossy, milky | yes, mostly opaque | glossy plastic |
| foil | metal, crumpled facets | no | - |
| metal | metal (cans) | no | metal |
"""
from __future__ import annotations

import numpy as np

from tfsynth.generate.catalog import SEE_THROUGH, Product
from tfsynth.generate.scene import Material
from tfsynth.generate.textures import LABEL_VARIANTS

# (shading kind, specular, shininess) of each catalog material.
_SHADING = {
    "matte": ("matte", 0.05, 12.0),
    "paper": ("matte", 0.02, 8.0),
    "glossy": ("glossy", 0.5, 60.0),
    "glass": ("glass", 0.6, 120.0),
    "clear_plastic": ("glass", 0.5, 90.0),
    "translucent": ("glossy", 0.35, 40.0),
    "foil": ("metal", 0.6, 40.0),
    "metal": ("metal", 0.7, 80.0),
}
_CAPSULE_PROFILES = ("wine", "sparkling")  # bottles whose neck carries a foil capsule


def instance_material(product: Product, rng: np.random.Generator, cues: frozenset) -> Material:
    """The material of one instance of `product`; the color and texture cues decide what varies.

    color: a per-instance tint (print runs, fading, the lamp's cast). texture: which label variant the instance
    wears (textures.LABEL_VARIANTS), where the label sits round the pack, scuffs; off: variant 0, canonical place.
    """
    tint = np.ones(3)
    if "color" in cues:
        tint = np.clip(rng.normal(1.0, 0.07, 3) * rng.uniform(0.85, 1.1), 0.6, 1.3)
    kind, specular, shininess = _SHADING[product.material]
    variant = int(rng.integers(LABEL_VARIANTS)) if "texture" in cues else 0
    material = Material(color=tuple(float(t) for t in tint), texture_key=f"{product.key}#{variant}",
                        specular=specular, shininess=shininess, kind=kind,
                        see_through=product.material in SEE_THROUGH, cap_kind=_closure_kind(product, rng))
    if product.material == "foil":
        material.crinkle = float(rng.uniform(0.25, 0.6))
    if "texture" in cues:
        material.uv_offset = (float(rng.uniform(0, 1)), 0.0)
        material.wear = float(rng.uniform(0.0, 0.3))
    return material


def _closure_kind(product: Product, rng: np.random.Generator) -> str:
    """Caps are plastic; cans, wine capsules and many jar lids are metal."""
    if product.material == "metal" or (product.archetype == "bottle" and product.profile in _CAPSULE_PROFILES):
        return "metal"
    if product.archetype == "jar" and rng.uniform() < 0.5:
        return "metal"
    return "glossy"


def casts_shadow(product: Product) -> bool:
    """A clear pack lets the lamp through: only opaque packs and coloured contents cast a shadow."""
    return not (product.material in SEE_THROUGH and product.clear_contents)
