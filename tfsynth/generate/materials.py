"""How one placed product looks in one render: its Material (colour tint, label variant, shading kind).

The sampler calls this for every product it places; the catalog preview calls it too, so a preview shows what
the renders will show.
"""
from __future__ import annotations

import numpy as np

from tfsynth.generate.catalog import Product
from tfsynth.generate.scene import Material
from tfsynth.generate.textures import is_clear_contents


def instance_material(product: Product, rng: np.random.Generator, cues: frozenset) -> Material:
    """The material of one instance of `product`; the color and texture cues decide what varies."""
    tint = np.ones(3)
    if "color" in cues:
        tint = np.clip(rng.normal(1.0, 0.07, 3) * rng.uniform(0.85, 1.1), 0.6, 1.3)
    kind = product.material
    if kind == "glass" and not is_clear_contents(product.colors[0]):
        # Ketchup or mustard behind glass: the contents' colour, not the shader's pale see-through haze.
        kind = "glossy_glass"
    specular, shininess = {"matte": (0.05, 12.0), "glossy": (0.5, 60.0), "glass": (0.6, 120.0),
                           "glossy_glass": (0.7, 120.0)}[kind]
    material = Material(color=tuple(float(t) for t in tint), texture_key=product.key, specular=specular,
                        shininess=shininess, kind="glossy" if kind == "glossy_glass" else kind)
    if "texture" in cues:
        material.uv_offset = (float(rng.uniform(0, 1)), 0.0)
        material.wear = float(rng.uniform(0.0, 0.3))
    return material
