"""The furniture of a scene: a fridge (walls, shelves, crisper drawers, door bins, lamp) and the kitchen around it.

World units are metres, y up; the fridge opening faces +z, its interior spans x in [-half_width, half_width],
y in [0, height], z in [-depth, 0]. Products stand on Supports (shelves, drawer floors, door bins), which the
scene sampler fills. Everything here is drawn from the scene's random stream, so a scene is a pure function of
its seed.

What varies (and why) when the cues vary:
- interior (color cue): white plastic in most fridges, also grey, cream, light blue, stainless or black panels;
  matte or glossy (texture cue: ribbed, speckled or brushed surfaces).
- shelves: glass (see-through, tinted edge trims) or wire racks; two to four of them at random heights.
- crisper drawers (85 %): one or two, translucent fronts; a drawer may be pulled out.
- doors (always in view of wide shots, at the image edge of close ones): a right, left or French pair, opened
  90-130 degrees, each with three bins that hold products.
- lamp (lighting cue): a ceiling box at the front or back, or a side lamp.
- kitchen (color and texture cues): wall, tiled splash-back, counters and cabinets beside the fridge, a floor,
  in colours and materials of real kitchens, so that wide shots show a room and not a void.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tfsynth.generate.scene import Material, SceneObject, rotate_y, scale, translate

_INTERIORS = {  # name: (interior colour, outside colour, interior shading)
    "white": ((0.86, 0.87, 0.88), (0.82, 0.82, 0.82), "glossy"),
    "warm_white": ((0.88, 0.86, 0.82), (0.85, 0.84, 0.8), "matte"),
    "grey": ((0.62, 0.64, 0.66), (0.35, 0.36, 0.38), "matte"),
    "cream": ((0.86, 0.83, 0.74), (0.8, 0.77, 0.7), "matte"),
    "light_blue": ((0.78, 0.84, 0.9), (0.82, 0.82, 0.84), "glossy"),
    "steel": ((0.72, 0.73, 0.75), (0.45, 0.46, 0.48), "metal"),
    "black": ((0.12, 0.12, 0.13), (0.1, 0.1, 0.11), "glossy"),
}
_INTERIOR_WEIGHTS = {"white": 5, "warm_white": 2, "grey": 1, "cream": 1, "light_blue": 1, "steel": 1, "black": 0.6}
_WALL_TEXTURES = ("surface:ribbed", "surface:speckle", "surface:plain")
_KITCHEN_FRONTS = ((0.93, 0.93, 0.9), (0.2, 0.22, 0.25), (0.55, 0.38, 0.24), (0.4, 0.5, 0.45), (0.72, 0.7, 0.66),
                   (0.15, 0.25, 0.4), (0.85, 0.8, 0.7))


@dataclasses.dataclass
class Support:
    """A horizontal surface products stand on, in its own frame (y = 0 is the surface)."""

    frame: np.ndarray  # 4x4 local -> world
    x_range: tuple[float, float]
    z_range: tuple[float, float]
    clearance: float
    kind: str  # shelf | floor | drawer | door


@dataclasses.dataclass
class Fridge:
    """The furniture of one scene and what the sampler needs to know about it."""

    half_width: float
    height: float
    depth: float
    objects: list[SceneObject]
    supports: list[Support]
    lamp_position: tuple[float, float, float]


def surface(color, kind: str = "matte", specular: float = 0.04, shininess: float = 16.0, texture_key=None,
            emission: float = 0.0, opacity: float = 1.0, uv_scale=(1.0, 1.0)) -> Material:
    """A plain material for furniture (walls, shelves, trims); uv_scale repeats a tiling texture."""
    return Material(color=tuple(float(c) for c in color), texture_key=texture_key, specular=specular,
                    shininess=shininess, kind=kind, emission=emission, opacity=opacity,
                    uv_scale=(float(uv_scale[0]), float(uv_scale[1])))


def slab(objects: list, center, size, material: Material, casts_shadow: bool = True, frame=None) -> None:
    """Appends a box of `size` centred at `center` (optionally in another frame)."""
    model = translate(*center) @ scale(*size)
    if frame is not None:
        model = frame @ model
    objects.append(SceneObject("cube", model, material, casts_shadow=casts_shadow))


def _interior(rng: np.random.Generator, cues: frozenset) -> tuple[str, Material, Material]:
    if "color" in cues:
        names = list(_INTERIOR_WEIGHTS)
        weights = np.array([_INTERIOR_WEIGHTS[n] for n in names])
        variant = str(rng.choice(names, p=weights / weights.sum()))
    else:
        variant = "white"
    inside, outside, shading = _INTERIORS[variant]
    texture = None if "texture" not in cues else str(rng.choice(_WALL_TEXTURES))
    specular, shininess = {"matte": (0.08, 24.0), "glossy": (0.3, 48.0), "metal": (0.5, 40.0)}[shading]
    wall = surface(inside, shading, specular, shininess, texture_key=texture, uv_scale=(4.0, 2.0))
    frame = surface(outside, "metal" if variant == "steel" else "glossy", 0.3, 48.0)
    return variant, wall, frame


def build_fridge(rng: np.random.Generator, cues: frozenset) -> Fridge:
    """A fridge with its shelves, drawers and lamp, standing in a kitchen; doors are added by add_doors."""
    hw = float(rng.uniform(0.27, 0.4))
    height = float(rng.uniform(0.95, 1.35))
    depth = float(rng.uniform(0.42, 0.6))
    _, wall, frame_mat = _interior(rng, cues)
    objects: list[SceneObject] = []
    t = 0.02
    slab(objects, (0, height / 2, -depth - t / 2), (2 * hw + 2 * t, height + 2 * t, t), wall)  # back
    slab(objects, (-hw - t / 2, height / 2, -depth / 2), (t, height, depth), wall)  # left
    slab(objects, (hw + t / 2, height / 2, -depth / 2), (t, height, depth), wall)  # right
    slab(objects, (0, height + t / 2, -depth / 2), (2 * hw, t, depth), wall)  # ceiling
    slab(objects, (0, -t / 2, -depth / 2), (2 * hw, t, depth), wall)  # floor
    # Cabinet around the opening: sides, top, and the freezer drawer or base below.
    f = 0.05
    slab(objects, (-hw - f / 2 - t, height / 2, 0.02), (f, height + 0.9, 0.06), frame_mat)
    slab(objects, (hw + f / 2 + t, height / 2, 0.02), (f, height + 0.9, 0.06), frame_mat)
    slab(objects, (0, height + t + 0.04, 0.02), (2 * hw + 2 * f + 2 * t, 0.08, 0.06), frame_mat)
    slab(objects, (0, -t - 0.35, 0.02), (2 * hw + 2 * f + 2 * t, 0.7, 0.06), frame_mat)
    _kitchen(rng, cues, objects, hw + f + t, height, depth)
    supports: list[Support] = []
    glass = surface((0.78, 0.86, 0.86), "glass", 0.6, 96.0, opacity=float(rng.uniform(0.15, 0.35)))
    trim_color = wall.color if rng.uniform() < 0.5 else tuple(rng.choice([(0.3, 0.3, 0.32), (0.75, 0.77, 0.8),
                                                                          (0.55, 0.65, 0.8)]))
    trim = surface(trim_color, "glossy", 0.3, 40.0)
    drawer_h = _drawers(rng, objects, supports, hw, depth, glass, trim, wall)
    bottom = drawer_h + 0.006
    n_shelves = int(rng.integers(2, 5))
    usable = height - bottom - 0.05
    gaps = rng.dirichlet(np.ones(n_shelves + 1) * 4) * usable
    gaps = np.maximum(gaps, 0.16)
    gaps = gaps / gaps.sum() * usable
    levels = [bottom]
    for g in gaps[:-1]:
        levels.append(levels[-1] + float(g))
    wire = rng.uniform() < 0.25
    rod = surface((0.85, 0.85, 0.87), "metal", 0.5, 64.0)
    for i, y in enumerate(levels):
        clearance = (levels[i + 1] if i + 1 < len(levels) else height) - y - 0.02
        if i > 0:
            if wire:
                rods = int(rng.integers(10, 20))
                for r in range(rods):
                    x = -hw + (r + 0.5) * 2 * hw / rods
                    slab(objects, (x, y, -depth / 2), (0.005, 0.005, depth - 0.02), rod)
                slab(objects, (0, y, -0.015), (2 * hw, 0.012, 0.012), rod)
            else:
                slab(objects, (0, y, -depth / 2), (2 * hw, 0.006, depth - 0.01), glass, casts_shadow=False)
                slab(objects, (0, y - 0.005, -0.012), (2 * hw, 0.028, 0.022), trim)  # front trim
        if i > 0 or drawer_h > 0:
            supports.append(Support(translate(0, y + 0.004, 0), (-hw + 0.03, hw - 0.03), (-depth + 0.05, -0.04),
                                    clearance, "shelf"))
    lamp = _lamp(rng, cues, objects, hw, height, depth)
    return Fridge(hw, height, depth, objects, supports, lamp)


def _drawers(rng: np.random.Generator, objects: list, supports: list, hw: float, depth: float, glass: Material,
             trim: Material, wall: Material) -> float:
    """Crisper drawers along the bottom (85 %) under a glass lid that is also a shelf; returns their height."""
    drawer_h = float(rng.uniform(0.17, 0.24)) if rng.uniform() < 0.85 else 0.0
    if drawer_h <= 0:
        supports.append(Support(np.eye(4), (-hw + 0.03, hw - 0.03), (-depth + 0.05, -0.04), 0.3, "floor"))
        return 0.0
    front = surface(tuple(0.5 * c + 0.45 for c in wall.color), "glossy", 0.4, 60.0,
                    opacity=float(rng.uniform(0.3, 0.7)))  # clear or frosted plastic
    n_drawers = int(rng.integers(1, 3))
    dw = 2 * hw / n_drawers
    for k in range(n_drawers):
        x0 = -hw + k * dw
        cx = x0 + dw / 2
        pulled = float(rng.uniform(0.1, 0.3)) if rng.uniform() < 0.2 else 0.0  # pulled out towards the camera
        slab(objects, (cx, drawer_h * 0.5, -0.015 + pulled), (dw - 0.02, drawer_h * 0.9, 0.006), front,
             casts_shadow=False)
        slab(objects, (cx, drawer_h * 0.92, -0.012 + pulled), (dw - 0.02, 0.025, 0.02), trim)  # handle lip
        slab(objects, (x0 + 0.006, drawer_h / 2, -depth / 2), (0.008, drawer_h, depth - 0.04), front,
             casts_shadow=False)
        supports.append(Support(translate(0, 0.004, pulled), (x0 + 0.03, x0 + dw - 0.03), (-depth + 0.05, -0.05),
                                drawer_h - 0.02, "drawer"))
    slab(objects, (0, drawer_h + 0.004, -depth / 2), (2 * hw, 0.006, depth), glass, casts_shadow=False)
    slab(objects, (0, drawer_h + 0.004, -0.01), (2 * hw, 0.02, 0.02), trim)
    return drawer_h


def _lamp(rng: np.random.Generator, cues: frozenset, objects: list, hw: float, height: float,
          depth: float) -> tuple[float, float, float]:
    """The lamp: a bright box under the ceiling at the front or back, or on a side wall."""
    kind = int(rng.integers(3)) if "lighting" in cues else 0
    if kind == 0:
        lamp = (0.0, height - 0.04, -depth * 0.35)
    elif kind == 1:
        lamp = (0.0, height - 0.04, -depth + 0.06)
    else:
        lamp = (float(rng.choice([-1, 1])) * (hw - 0.04), height - 0.12, -depth * 0.4)
    slab(objects, (lamp[0], lamp[1] + 0.015, lamp[2]), (0.12, 0.03, 0.07),
         surface((1.0, 0.97, 0.9), "emissive", emission=6.0), casts_shadow=False)
    return lamp


def _kitchen(rng: np.random.Generator, cues: frozenset, objects: list, outer_half_width: float, height: float,
             depth: float) -> None:
    """The room around the fridge: wall with a splash-back, counters and cabinets on either side, a floor."""
    vary = "color" in cues
    floor_y = -0.75
    wall_color = rng.uniform(0.35, 0.9, 3) if vary else np.array([0.6, 0.58, 0.55])
    wall_color = wall_color * 0.6 + wall_color.mean() * 0.4  # real walls are muted
    textured = "texture" in cues
    slab(objects, (0, 0.8, -depth - 0.12), (7.0, 4.0, 0.05), surface(wall_color * rng.uniform(0.25, 0.6)),
         casts_shadow=False)
    slab(objects, (0, floor_y, 0.5), (7.0, 0.05, 3.5),
         surface(rng.uniform(0.15, 0.6, 3) if vary else (0.3, 0.3, 0.3), "glossy", 0.2, 30.0,
                 texture_key="surface:tiles" if textured else None, uv_scale=(6.0, 3.0)), casts_shadow=False)
    fronts = _KITCHEN_FRONTS[int(rng.integers(len(_KITCHEN_FRONTS)))] if vary else _KITCHEN_FRONTS[0]
    front = surface(np.array(fronts) * rng.uniform(0.4, 0.7), "glossy", 0.2, 30.0,
                    texture_key="surface:wood" if textured and rng.uniform() < 0.4 else None)
    top = surface(rng.uniform(0.1, 0.45, 3) * rng.uniform(0.5, 0.9) if vary else (0.2, 0.2, 0.2), "glossy", 0.4,
                  60.0, texture_key="surface:speckle" if textured else None)
    splash = surface(rng.uniform(0.4, 0.95, 3) * 0.6, "glossy", 0.3, 50.0,
                     texture_key="surface:tiles" if textured else None, uv_scale=(10.0, 1.0))
    counter_depth = min(0.6, depth + 0.1)
    for side in (-1, 1):
        if rng.uniform() < 0.2:
            continue  # a fridge standing at the end of a run, or alone
        x_in, x_out = outer_half_width + 0.01, outer_half_width + 1.6
        cx, width = side * (x_in + x_out) / 2, x_out - x_in
        z_front = 0.04
        z_mid = z_front - counter_depth / 2
        slab(objects, (cx, floor_y + 0.45, z_mid), (width, 0.88, counter_depth), front, casts_shadow=False)
        slab(objects, (cx, floor_y + 0.9, z_mid + 0.01), (width, 0.04, counter_depth + 0.02), top,
             casts_shadow=False)
        slab(objects, (cx, floor_y + 1.2, z_mid - counter_depth / 2 + 0.01), (width, 0.56, 0.02), splash,
             casts_shadow=False)
        slab(objects, (cx, floor_y + 1.85, z_mid - counter_depth / 4), (width, 0.72, counter_depth / 2), front,
             casts_shadow=False)  # wall cabinets


def add_doors(rng: np.random.Generator, fridge: Fridge, objects: list, supports: list, cues: frozenset) -> None:
    """Open doors with bins: a right- or left-hinged door, or a French pair; products go into their bins."""
    hw, h = fridge.half_width, fridge.height
    style = str(rng.choice(["right", "left", "french"], p=[0.45, 0.3, 0.25]))
    sides = [1, -1] if style == "french" else [1 if style == "right" else -1]
    door_w = (2 * hw + 0.1) / len(sides)
    panel = surface(objects[0].material.color, "glossy", 0.2, 30.0)
    bin_front = surface((0.82, 0.86, 0.88), "glass", 0.5, 80.0, opacity=float(rng.uniform(0.25, 0.6)))
    for side in sides:
        # 50-90 degrees swings a door opened 90-130 degrees out of the way; larger angles hide the interior.
        angle = float(rng.uniform(50, 90))
        frame = translate(side * (hw + 0.07), 0, 0.05) @ rotate_y(-side * angle)
        # Door local frame: x runs from the hinge along the door (to -x for a left door), +z is the side that
        # faces the interior when closed, where the bins are.
        mid = side * door_w / 2
        slab(objects, (mid, h / 2, -0.025), (door_w, h + 0.4, 0.05), panel, frame=frame)
        for level in (0.12, 0.5, 0.85):
            y = level * h
            slab(objects, (mid, y, 0.065), (door_w - 0.06, 0.01, 0.13), panel, frame=frame)
            slab(objects, (mid, y + 0.035, 0.13), (door_w - 0.06, 0.07, 0.006), bin_front, casts_shadow=False,
                 frame=frame)
            inner = (0.05, door_w - 0.05) if side > 0 else (-(door_w - 0.05), -0.05)
            supports.append(Support(frame @ translate(0, y + 0.005, 0), inner, (0.02, 0.115), 0.3, "door"))
