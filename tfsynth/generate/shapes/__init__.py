"""Archetype meshes (boxes, cartons, bottles, cans, produce...) as plain vertex arrays, sizes in metres.

Every mesh stands on y = 0 with its footprint centred on x = z = 0. Vertices are float32 rows of
position (3), normal (3), uv (2); triangles are counter-clockwise seen from outside. Surfaces of revolution share
one lathe builder: u runs around the axis, v along the profile from bottom (v = 0) to top (v = 1), so a label
texture (image row 0 is v = 1) wraps the body and its top/bottom rows colour caps and bases.

Closures: a mesh whose cap, lid, foil capsule or crown is a surface region of its own says where it is in v:
Mesh.cap_v (above it: the closure on top) or, for products standing on their cap (squeeze bottles, tubes),
Mesh.base_v (below it: the closure underneath). Builders put these boundaries at CAP_V = 0.88 and BASE_V = 0.12,
the rows a label texture keeps for its cap band, where they can; box-like packs with a cap (brick_carton) and the
net bag's clip sit above 0.94, because their sides or tag use the rows below. Textures and shading read the
values off the mesh, never assume them.
Produce keeps its stem, calyx or net clip in the top rows of its skin (see skins.py).

ARCHETYPE_TRAITS is the one table of what else the generator needs to know about an archetype (produce or not,
may lie on its side, stackable) and which real products it is for; ARCHETYPES is its keys.

The package: mesh.py (the Mesh, merge, the lathe, box and the shared geometry helpers), packs.py (packaged goods),
produce.py (fruit and vegetables), files.py (meshes from the user's files); this module holds the traits table and
build_mesh and re-exports the names callers use, so `from tfsynth.generate import shapes` is all they import.
"""
from __future__ import annotations

import dataclasses

from tfsynth.generate.shapes.files import MeshError, load_mesh_file
from tfsynth.generate.shapes.mesh import BASE_V, CAP_V, LATHE_SEGMENTS, Mesh, box, lathe, merge, sphere_profile
from tfsynth.generate.shapes.packs import (BOTTLE_PROFILES, bottle, brick_carton, cup, cylinder, egg_box,
                                           gable_top_carton, jar, pouch, squeeze_bottle, tray, tube, wrapped_block)
from tfsynth.generate.shapes.produce import (ELONGATED_SQUASH_RATIO, bell_pepper, cluster, ellipsoid, net_bag, onion,
                                             oval, pear, pepper_lobes, squash, tomato)

__all__ = [
    "ARCHETYPES", "ARCHETYPE_TRAITS", "BASE_V", "BOTTLE_PROFILES", "CAP_V", "ELONGATED_SQUASH_RATIO", "LATHE_SEGMENTS",
    "Mesh", "MeshError", "Traits", "bell_pepper", "bottle", "box", "brick_carton", "build_mesh", "cluster", "cup",
    "cylinder", "egg_box", "ellipsoid", "gable_top_carton", "jar", "lathe", "load_mesh_file", "merge", "net_bag",
    "onion", "oval", "pear", "pepper_lobes", "pouch", "sphere_profile", "squash", "squeeze_bottle", "tomato", "tray",
    "tube", "wrapped_block",
]


@dataclasses.dataclass(frozen=True)
class Traits:
    """What the generator needs to know about an archetype besides its mesh."""

    produce: bool  # fruit/vegetables: instances vary in size like real produce; a skin (skins.py), no label
    can_lie: bool  # the sampler may lay it on its side (the mesh's y axis horizontal) now and then
    stackable: bool  # a second one may stand on its flat, level top
    fits: str  # the real products it is for (catalog.py's docstring lists the same, one line each)


ARCHETYPE_TRAITS: dict[str, Traits] = {
    "box": Traits(False, True, True, "card boxes: cereal, tea, cheese slices, chocolates, frozen meals"),
    "carton": Traits(False, True, True, "small cartons and juice boxes (same box, cream/juice proportions)"),
    "gable_top_carton": Traits(False, False, False, "gable-top milk, juice and cream cartons with a roof fin"),
    "can": Traits(False, True, True, "drink and food cans (the top lid is the closure)"),
    "bottle": Traits(False, True, False, "bottles of revolution; `profile` picks water, wine, sparkling, milk, "
                                         "soda, sauce or narrow_neck (hot sauce)"),
    "squeeze_bottle": Traits(False, True, False, "ketchup, mustard, mayonnaise bottles standing on a flip-top cap"),
    "jar": Traits(False, False, True, "jars with a lid: jam, pickles, pasta sauce, peanut butter, baby food"),
    "cup": Traits(False, False, True, "yoghurt and dessert cups: tapered, with a sealed lid"),
    "tub": Traits(False, False, True, "wide tubs: margarine, cream cheese, ice cream, deli salads"),
    "egg_box": Traits(False, False, True, "egg cartons (two rows of domes on a tray)"),
    "tray": Traits(False, False, True, "punnets and meat/berry trays with a film lid"),
    "pouch": Traits(False, True, False, "flexible pouches: shredded cheese, ready meals, sauces"),
    "sphere": Traits(True, False, False, "round fruit: orange, apple, grapefruit, peach, plum, kiwi"),
    "ellipsoid": Traits(True, True, False, "smooth ovoid produce standing up: potato, kiwi, egg-like fruit"),
    "squash": Traits(True, True, False, "squash by proportions: acorn/kabocha (squat), butternut, zucchini"),
    "bell_pepper": Traits(True, True, False, "bell peppers (3-4 lobes, green stem)"),
    "pear": Traits(True, True, False, "pear-shaped produce: pear, avocado (bulb under a narrower neck)"),
    "oval": Traits(True, False, False, "egg-shaped produce lying on its side: mango, papaya, lemon, lime"),
    "tomato": Traits(True, False, False, "tomatoes, persimmons: flattened round fruit with a green calyx"),
    "onion": Traits(True, False, False, "onions, red onions, garlic bulbs, shallots: pointed top, flat root"),
    "cluster": Traits(True, False, False, "vine tomatoes, grape bunches, cherries: 4-7 fruit on a stem"),
    "net_bag": Traits(True, False, False, "net bags of oranges, onions, lemons, potatoes with a clip and tag"),
    "wrapped_block": Traits(False, False, True, "foil- or paper-wrapped blocks: butter, cheese, yeast, tofu"),
    "brick_carton": Traits(False, True, False, "Tetra Brik cartons with a screw cap: 1 L milk, juice, "
                                               "plant drinks"),
    "tube": Traits(False, True, False, "squeeze tubes standing on their cap: mayonnaise, tomato paste, "
                                       "mustard"),
}
ARCHETYPES = tuple(ARCHETYPE_TRAITS)

_BUILDERS = {
    "gable_top_carton": gable_top_carton, "squeeze_bottle": squeeze_bottle, "egg_box": egg_box, "tray": tray,
    "pouch": pouch, "ellipsoid": ellipsoid, "sphere": ellipsoid, "bell_pepper": bell_pepper, "pear": pear,
    "oval": oval, "tomato": tomato, "onion": onion, "cluster": cluster, "net_bag": net_bag,
    "wrapped_block": wrapped_block, "brick_carton": brick_carton, "tube": tube,
}  # archetypes built from (width, height, depth) as they are


def build_mesh(archetype: str, size_m: tuple[float, float, float], profile: str = "water") -> Mesh:
    """The mesh of an archetype with (width, height, depth) in metres (profile: bottles only)."""
    w, h, d = size_m
    if archetype in _BUILDERS:
        return _BUILDERS[archetype](w, h, d)
    if archetype in ("box", "carton"):
        return box(w, h, d)
    if archetype == "can":
        return cylinder(w / 2, h, bevel=0.004)
    if archetype == "bottle":
        return bottle(w / 2, h, profile)
    if archetype == "jar":
        return jar(w / 2, h)
    if archetype in ("cup", "tub"):
        return cup(w / 2, h, w / 2 * (0.78 if archetype == "cup" else 0.9))
    if archetype == "squash":
        return squash(w, h)
    raise ValueError(f"unknown archetype {archetype!r}; expected one of {ARCHETYPES}")
