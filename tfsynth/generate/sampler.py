"""Randomized fridge scenes: the cues of Rajpura et al. 2017 decide what varies between images.

Cues (each on/off; off holds it at a fixed value, nothing is removed):
- color: per-instance tint and fridge colour variants; off: catalog colours, white fridge.
- texture: label placement (rotation about the axis, slight wear) and textured fridge surfaces; off: each
  label at its canonical placement, plain surfaces.
- viewpoint: camera distance, height, yaw, pitch, roll, field of view, and product yaw; off: one fixed camera
  framing the fridge, products facing it.
- lighting: lamp position, colour temperature, intensity, extra lights, exposure and white balance; off: a fixed
  4500 K lamp and room light.
Products per image and distractors per image are (min, max) ranges; equal bounds hold them fixed.
Every image's random stream comes from (seed, split, index) alone, so any worker makes the same scene.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from tfsynth.generate.catalog import PRODUCE, Catalog, Product
from tfsynth.generate.materials import instance_material
from tfsynth.generate.scene import (Camera, Light, Material, PostEffects, Scene, SceneObject, kelvin_to_rgb,
                                    rotate_x, rotate_y, scale, translate)
from tfsynth.generate.shapes import ELONGATED_SQUASH_RATIO

CUES = ("color", "texture", "viewpoint", "lighting")
_LYING_OK = {"can", "bottle", "squeeze_bottle", "box", "carton", "pouch", "ellipsoid", "squash"}
_STACKABLE = {"box", "carton", "can", "cup", "tub", "egg_box", "tray", "jar"}


def parse_cues(text: str) -> frozenset[str]:
    """'color,texture' -> those cues on; '-texture' (every term negative) -> all cues but texture; 'all'/'none'."""
    text = (text or "").strip()
    if text in ("", "all"):
        return frozenset(CUES)
    if text == "none":
        return frozenset()
    terms = [t.strip() for t in text.split(",") if t.strip()]
    negative = [t for t in terms if t.startswith("-")]
    if negative and len(negative) != len(terms):
        raise ValueError(f"--cues {text!r}: mix of on and -off terms; give either the cues to keep on or "
                         f"only -cue terms to turn off")
    names = [t.lstrip("-+") for t in terms]
    unknown = sorted(set(names) - set(CUES))
    if unknown:
        raise ValueError(f"--cues {text!r}: unknown cue(s) {unknown}; expected some of {list(CUES)}")
    return frozenset(CUES) - frozenset(names) if negative else frozenset(names)


def parse_range(text: str, name: str) -> tuple[int, int]:
    """'12' -> (12, 12); '8,30' or '8-30' -> (8, 30)."""
    parts = str(text).replace("-", ",").split(",")
    try:
        values = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise ValueError(f"--{name} {text!r}: expected N or MIN,MAX (integers)") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] < 0 or values[1] < values[0]:
        raise ValueError(f"--{name} {text!r}: expected N or MIN,MAX with 0 <= MIN <= MAX")
    return values[0], values[1]


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    width: int = 640
    height: int = 480
    cues: frozenset = frozenset(CUES)
    products_per_image: tuple[int, int] = (6, 24)
    distractors: tuple[int, int] = (0, 4)


@dataclasses.dataclass
class Support:
    """A horizontal surface products stand on, in its own frame (y = 0 is the surface)."""

    frame: np.ndarray  # 4x4 local -> world
    x_range: tuple[float, float]
    z_range: tuple[float, float]
    clearance: float
    kind: str  # shelf | floor | drawer | door


@dataclasses.dataclass
class _Fridge:
    half_width: float
    height: float
    depth: float
    objects: list[SceneObject]
    supports: list[Support]
    lamp_position: tuple[float, float, float]


def _mat(color, kind="matte", specular=0.04, shininess=16.0, texture_key=None, emission=0.0) -> Material:
    return Material(color=tuple(float(c) for c in color), texture_key=texture_key, specular=specular,
                    shininess=shininess, kind=kind, emission=emission)


def _slab(objects: list, center, size, material: Material, casts_shadow: bool = True, frame=None) -> None:
    model = translate(*center) @ scale(*size)
    if frame is not None:
        model = frame @ model
    objects.append(SceneObject("cube", model, material, casts_shadow=casts_shadow))


def _build_fridge(rng: np.random.Generator, cues: frozenset) -> _Fridge:
    hw = float(rng.uniform(0.27, 0.38))
    height = float(rng.uniform(0.95, 1.3))
    depth = float(rng.uniform(0.42, 0.58))
    if "color" in cues:
        variant = rng.choice(["white", "white", "grey", "cream", "steel"])
    else:
        variant = "white"
    interior = {"white": (0.86, 0.87, 0.88), "grey": (0.62, 0.64, 0.66), "cream": (0.86, 0.83, 0.74),
                "steel": (0.8, 0.81, 0.82)}[variant]
    outside = {"white": (0.8, 0.8, 0.8), "grey": (0.35, 0.36, 0.38), "cream": (0.8, 0.77, 0.7),
               "steel": (0.45, 0.46, 0.48)}[variant]
    plain = "texture" not in cues
    wall = _mat(interior, "matte", 0.08, 24.0, texture_key=None if plain else "wall")
    objects: list[SceneObject] = []
    t = 0.02
    _slab(objects, (0, height / 2, -depth - t / 2), (2 * hw + 2 * t, height + 2 * t, t), wall)  # back
    _slab(objects, (-hw - t / 2, height / 2, -depth / 2), (t, height, depth), wall)  # left
    _slab(objects, (hw + t / 2, height / 2, -depth / 2), (t, height, depth), wall)  # right
    _slab(objects, (0, height + t / 2, -depth / 2), (2 * hw, t, depth), wall)  # ceiling
    _slab(objects, (0, -t / 2, -depth / 2), (2 * hw, t, depth), wall)  # floor
    # Cabinet around the opening and the room behind it (dark, so the lit interior dominates).
    frame_mat = _mat(outside, "glossy" if variant == "steel" else "matte", 0.3 if variant == "steel" else 0.06,
                     48.0)
    f = 0.05
    _slab(objects, (-hw - f / 2 - t, height / 2, 0.02), (f, height + 0.9, 0.06), frame_mat)
    _slab(objects, (hw + f / 2 + t, height / 2, 0.02), (f, height + 0.9, 0.06), frame_mat)
    _slab(objects, (0, height + t + 0.04, 0.02), (2 * hw + 2 * f + 2 * t, 0.08, 0.06), frame_mat)
    _slab(objects, (0, -t - 0.35, 0.02), (2 * hw + 2 * f + 2 * t, 0.7, 0.06), frame_mat)  # freezer / base
    room = float(rng.uniform(0.08, 0.25))
    _slab(objects, (0, 0.3, -depth - 0.4), (6.0, 4.0, 0.05),
          _mat((room, room * 0.95, room * 0.9), "matte"), casts_shadow=False)
    _slab(objects, (0, -0.75, 0.5), (6.0, 0.05, 3.0), _mat((room * 0.7,) * 3, "matte"), casts_shadow=False)
    supports: list[Support] = []
    # Crisper drawers along the bottom, with a glass lid that is also a shelf.
    drawer_h = float(rng.uniform(0.17, 0.23)) if rng.uniform() < 0.85 else 0.0
    glass = _mat((0.75, 0.82, 0.82), "glass", 0.6, 96.0)
    trim = _mat(interior if rng.uniform() < 0.6 else (0.3, 0.3, 0.32), "glossy", 0.2, 40.0)
    if drawer_h > 0:
        n_drawers = int(rng.integers(1, 3))
        dw = 2 * hw / n_drawers
        for k in range(n_drawers):
            x0 = -hw + k * dw
            cx = x0 + dw / 2
            _slab(objects, (cx, drawer_h * 0.55, -0.015), (dw - 0.02, drawer_h * 0.9, 0.006), glass,
                  casts_shadow=False)  # clear front
            _slab(objects, (cx, drawer_h * 0.92, -0.012), (dw - 0.02, 0.025, 0.02), trim)  # handle lip
            _slab(objects, (x0 + 0.006, drawer_h / 2, -depth / 2), (0.008, drawer_h, depth - 0.04), glass,
                  casts_shadow=False)
            supports.append(Support(translate(0, 0.004, 0), (x0 + 0.03, x0 + dw - 0.03),
                                    (-depth + 0.05, -0.05), drawer_h - 0.02, "drawer"))
        _slab(objects, (0, drawer_h + 0.004, -depth / 2), (2 * hw, 0.006, depth), glass, casts_shadow=False)
        _slab(objects, (0, drawer_h + 0.004, -0.01), (2 * hw, 0.02, 0.02), trim)
    else:
        supports.append(Support(np.eye(4), (-hw + 0.03, hw - 0.03), (-depth + 0.05, -0.04), 0.3, "floor"))
    # Shelves at random heights (glass or wire) above the drawers.
    bottom = drawer_h + 0.006
    n_shelves = int(rng.integers(2, 4))
    usable = height - bottom - 0.05
    gaps = rng.dirichlet(np.ones(n_shelves + 1) * 4) * usable
    gaps = np.maximum(gaps, 0.16)
    gaps = gaps / gaps.sum() * usable
    levels = [bottom]
    for g in gaps[:-1]:
        levels.append(levels[-1] + float(g))
    wire = rng.uniform() < 0.3
    for i, y in enumerate(levels):
        clearance = (levels[i + 1] if i + 1 < len(levels) else height) - y - 0.02
        if i > 0:
            if wire:
                rods = 14
                for r in range(rods):
                    x = -hw + (r + 0.5) * 2 * hw / rods
                    _slab(objects, (x, y, -depth / 2), (0.005, 0.005, depth - 0.02),
                          _mat((0.85, 0.85, 0.87), "glossy", 0.5, 64.0))
                _slab(objects, (0, y, -0.015), (2 * hw, 0.012, 0.012), _mat((0.85, 0.85, 0.87), "glossy", .5, 64.))
            else:
                _slab(objects, (0, y, -depth / 2), (2 * hw, 0.006, depth - 0.01), glass, casts_shadow=False)
                _slab(objects, (0, y - 0.005, -0.012), (2 * hw, 0.028, 0.022), trim)  # front trim
        if i > 0 or drawer_h > 0:
            supports.append(Support(translate(0, y + 0.004, 0), (-hw + 0.03, hw - 0.03), (-depth + 0.05, -0.04),
                                    clearance, "shelf"))
    # The lamp: a bright box under the ceiling (front-centre, back or side).
    lamp_kind = int(rng.integers(3)) if "lighting" in cues else 0
    if lamp_kind == 0:
        lamp = (0.0, height - 0.04, -depth * 0.35)
    elif lamp_kind == 1:
        lamp = (0.0, height - 0.04, -depth + 0.06)
    else:
        lamp = (float(rng.choice([-1, 1])) * (hw - 0.04), height - 0.12, -depth * 0.4)
    _slab(objects, (lamp[0], lamp[1] + 0.015, lamp[2]), (0.12, 0.03, 0.07),
          _mat((1.0, 0.97, 0.9), "emissive", emission=6.0), casts_shadow=False)
    return _Fridge(hw, height, depth, objects, supports, lamp)


def _door(rng: np.random.Generator, fridge: _Fridge, objects: list, supports: list, interior) -> None:
    """An open door at the right with two bins; seen at the image edge when the camera looks that way."""
    hw, h = fridge.half_width, fridge.height
    # angle 180 would close the door over the opening; 50-90 is a door opened 90-130 degrees, swung out of the
    # way to the right (larger angles swing it back in front of the interior, where it hid whole frames).
    angle = float(rng.uniform(50, 90))
    hinge = translate(hw + 0.07, 0, 0.05) @ rotate_y(-angle)  # door local: x from hinge outwards, z up-facing
    door_w = 2 * hw + 0.1
    panel = _mat(interior, "matte", 0.06, 16.0)
    _slab(objects, (door_w / 2 + 0.0, h / 2, -0.03), (door_w, h + 0.4, 0.05), panel, frame=hinge)
    for level in (0.12, 0.5, 0.85):
        y = level * h
        _slab(objects, (door_w / 2, y, -0.11), (door_w - 0.06, 0.01, 0.13), panel, frame=hinge)
        _slab(objects, (door_w / 2, y + 0.035, -0.175), (door_w - 0.06, 0.07, 0.006),
              _mat((0.8, 0.85, 0.86), "glass", 0.5, 80.0), casts_shadow=False, frame=hinge)
        supports.append(Support(hinge @ translate(0, y + 0.005, 0), (0.05, door_w - 0.05), (-0.16, -0.07),
                                0.3, "door"))


@dataclasses.dataclass
class _Placed:
    product: Product
    model: np.ndarray


def _pose(rng: np.random.Generator, product: Product, size: np.ndarray, cues: frozenset,
          lying: bool) -> tuple[np.ndarray, float, float]:
    """Local transform (object centred on its footprint, resting on y = 0), footprint radius, height."""
    w, h, d = size
    yaw = float(rng.uniform(-180, 180)) if "viewpoint" in cues else 0.0
    if lying:
        # Lie on its side: the mesh axis (y) turns into z, then the whole thing turns about y.
        local = rotate_y(yaw + 90.0) @ translate(0, d / 2, -h / 2) @ rotate_x(90.0)
        return local, 0.5 * math.hypot(w, h), d
    return rotate_y(yaw), 0.5 * math.hypot(w, d), h


def _lying_chance(product: Product, size: np.ndarray, support: Support) -> float:
    """How often a product lies on its side: long produce (zucchini, butternut) nearly always, bottles and boxes
    now and then, nothing in the narrow door bins."""
    if support.kind == "door":
        return 0.0
    if product.archetype == "squash" and size[1] >= ELONGATED_SQUASH_RATIO * size[0]:
        return 0.9
    return 0.25


def _place_on(rng: np.random.Generator, support: Support, wanted: list[Product], sizes: dict,
              cues: frozenset, placed: list, circles: list) -> None:
    x0, x1 = support.x_range
    z0, z1 = support.z_range
    for product in wanted:
        size = sizes[product.key]
        if product.archetype in PRODUCE:
            size = size * float(rng.uniform(0.9, 1.1))
        lying = product.archetype in _LYING_OK and rng.uniform() < _lying_chance(product, size, support)
        local, radius, height = _pose(rng, product, size, cues, lying)
        if height > support.clearance or 2 * radius > min(x1 - x0, z1 - z0) + 0.05:
            local, radius, height = _pose(rng, product, size, cues, False)
            if height > support.clearance:
                continue
        if x1 - x0 < 1.4 * radius or z1 - z0 < 1.4 * radius:
            continue  # wider than this support (an egg box on a narrow door shelf)
        for _ in range(12):
            x = float(rng.uniform(x0 + radius * 0.7, x1 - radius * 0.7))
            # Prefer the front half of the shelf, as people do.
            z = float(z1 - abs(rng.normal(0, 0.45)) * (z1 - z0)) if support.kind != "door" else \
                float(rng.uniform(z0, z1))
            z = min(max(z, z0 + radius * 0.7), z1 - radius * 0.7)
            if all((x - cx) ** 2 + (z - cz) ** 2 >= (radius + r) ** 2 for cx, cz, r in circles):
                break
        else:
            continue
        circles.append((x, z, radius))
        scale_m = np.eye(4)
        if product.archetype in PRODUCE:
            base = product.fixed_size_m()
            scale_m = scale(*(np.asarray(size) / np.asarray(base)))
        model = support.frame @ translate(x, 0, z) @ local @ scale_m
        placed.append(_Placed(product, model))
        if (product.archetype in _STACKABLE and not lying and rng.uniform() < 0.2
                and 2 * height + 0.01 < support.clearance):
            placed.append(_Placed(product, support.frame @ translate(x, height + 0.001, z) @ local @ scale_m))


# A phone's main camera sees about 63-72 degrees across the long side of its 4:3 frame.
_PHONE_LONG_FOV = (63.0, 72.0)
_FIXED_LONG_FOV = 67.0


def _fov_y(long_side_fov: float, width: int, height: int) -> float:
    """Vertical field of view of a frame whose long side spans `long_side_fov` degrees (portrait or landscape)."""
    if height >= width:
        return long_side_fov
    half = math.radians(long_side_fov / 2)
    return math.degrees(2 * math.atan(math.tan(half) * height / width))


def _fit_distance(half_w: float, half_h: float, fov_y: float, aspect: float) -> float:
    """Distance at which a half_w x half_h rectangle just fills the frame (the tighter side decides)."""
    tan_y = math.tan(math.radians(fov_y / 2))
    return max(half_h / tan_y, half_w / (tan_y * aspect))


def _camera(rng: np.random.Generator, fridge: _Fridge, config: SamplerConfig) -> Camera:
    """A person photographing the open fridge: the whole interior framed (mostly), 0.6-1.5 m from the opening,
    roughly level or slightly from above, a few degrees of yaw and roll."""
    hw, h, d = fridge.half_width, fridge.height, fridge.depth
    aspect = config.width / config.height
    if "viewpoint" not in config.cues:
        # One camera for every image: level, centred, framing the largest interior the sampler makes.
        fov = _fov_y(_FIXED_LONG_FOV, config.width, config.height)
        dist = min(max(_fit_distance(0.42, 0.72, fov, aspect), 0.6), 1.5)
        return Camera((0.0, 0.68, dist), (0.0, 0.62, -0.25), fov, config.width, config.height)
    fov = _fov_y(float(rng.uniform(*_PHONE_LONG_FOV)), config.width, config.height)
    if rng.uniform() < 0.8:  # the whole interior (and a margin of cabinet) in view
        target = np.array([rng.normal(0, 0.03), h * rng.uniform(0.45, 0.55), -d * 0.3])
        fill = float(rng.uniform(0.85, 1.2))  # >1: a margin around the opening; <1: its edges just cut
        dist = _fit_distance(hw + 0.06, h / 2 + 0.06, fov, aspect) * fill
    else:  # closer: two or three shelves fill the frame
        target = np.array([rng.uniform(-hw * 0.3, hw * 0.3), h * rng.uniform(0.3, 0.7), -d * 0.3])
        dist = float(rng.uniform(0.6, 0.85))
    dist = min(max(dist, 0.6), 1.5)  # from the opening (z = 0) to the phone
    yaw = math.radians(rng.uniform(-10, 10))
    pitch = math.radians(rng.uniform(-15, 4))  # negative: held a little above, looking down
    direction = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    eye = target + direction * (dist - target[2]) / max(direction[2], 0.5)
    return Camera(tuple(float(c) for c in eye), tuple(float(c) for c in target), fov, config.width,
                  config.height, roll_deg=float(rng.normal(0, 2.0)))


def _lights(rng: np.random.Generator, fridge: _Fridge, camera: Camera, cues: frozenset) -> list[Light]:
    hw, h, d = fridge.half_width, fridge.height, fridge.depth
    lamp = fridge.lamp_position
    if "lighting" not in cues:
        warm = kelvin_to_rgb(4500)
        return [Light("spot", (lamp[0], lamp[1] - 0.03, lamp[2]), tuple(c * 2.2 for c in warm), (0, -1, 0.15),
                      0.3, -0.2, 0.05),
                Light("area", (0.0, h + 0.4, 1.2), tuple(c * 0.8 for c in kelvin_to_rgb(5000)), size=0.5)]
    # Fridge lamps are 3000-6500 K (incandescent to LED) and bright enough to blow out near the bulb.
    kelvin = float(rng.uniform(3000, 6500))
    lamp_color = np.array(kelvin_to_rgb(kelvin)) * rng.uniform(1.4, 3.0)
    lights = [Light("spot", (lamp[0], lamp[1] - 0.03, lamp[2]), tuple(lamp_color),
                    (float(rng.uniform(-.2, .2)), -1.0, float(rng.uniform(0, .4))), 0.3, -0.3, 0.05)]
    room = np.array(kelvin_to_rgb(float(rng.uniform(2700, 6500)))) * rng.uniform(0.2, 1.2)
    lights.append(Light("area", (float(rng.uniform(-1, 1)), h + rng.uniform(0.2, 1.0), float(rng.uniform(0.8, 2.0))),
                        tuple(room), size=float(rng.uniform(0.2, 0.8))))
    for _ in range(int(rng.integers(0, 3))):  # LED strips / extra lamps inside
        pos = (float(rng.choice([-1, 1]) * (hw - 0.03)), float(rng.uniform(0.2, h - 0.1)), float(-d * rng.uniform(.2, .8)))
        color = np.array(kelvin_to_rgb(float(rng.uniform(3500, 7000)))) * rng.uniform(0.1, 0.5)
        lights.append(Light("point", pos, tuple(color), size=0.05))
    return lights


def sample_scene(catalog: Catalog, config: SamplerConfig, seed: int, split: int, index: int) -> Scene:
    """The scene of image `index` of `split` (0 train, 1 validation); a pure function of its arguments."""
    rng = np.random.default_rng([seed, split, index])
    cues = config.cues
    fridge = _build_fridge(rng, cues)
    objects = list(fridge.objects)
    supports = list(fridge.supports)
    interior = (0.86, 0.87, 0.88)
    if rng.uniform() < 0.5:
        _door(rng, fridge, objects, supports, interior)
    count = int(rng.integers(config.products_per_image[0], config.products_per_image[1] + 1))
    n_distract = int(rng.integers(config.distractors[0], config.distractors[1] + 1)) if catalog.distractors else 0
    chosen = [catalog.products[int(i)] for i in rng.integers(len(catalog.products), size=count)]
    chosen += [catalog.distractors[int(i)] for i in rng.integers(len(catalog.distractors), size=n_distract)]
    rng.shuffle(chosen)
    sizes = {p.key: np.array(p.fixed_size_m()) for p in chosen}
    # Spread products over supports in proportion to their area; door bins get a smaller share since the
    # framed interior shows the door only at the image edge, if at all.
    areas = np.array([(s.x_range[1] - s.x_range[0]) * (s.z_range[1] - s.z_range[0]) * (0.3 if s.kind == "door"
                                                                                       else 1.0)
                      for s in supports])
    assignment = rng.choice(len(supports), size=len(chosen), p=areas / areas.sum())
    placed: list[_Placed] = []
    for k, support in enumerate(supports):
        wanted = [p for p, a in zip(chosen, assignment) if a == k]
        _place_on(rng, support, wanted, sizes, cues, placed, [])
    next_id = 1
    for item in placed:
        product = item.product
        material = instance_material(product, rng, cues)
        if product.is_distractor:
            objects.append(SceneObject(product.key, item.model, material))
        else:
            objects.append(SceneObject(product.key, item.model, material, instance_id=next_id,
                                       class_name=product.label))
            next_id += 1
    camera = _camera(rng, fridge, config)
    lights = _lights(rng, fridge, camera, cues)
    lit = "lighting" in cues
    post = PostEffects(
        # Phones expose for the lit interior, which fills most of the frame: bright, often clipping the lamp.
        exposure=float(2 ** rng.uniform(-0.3, 0.6)) if lit else 1.2,
        white_balance=tuple(float(g) for g in rng.normal(1.0, 0.04, 3)) if lit else (1.0, 1.0, 1.0),
        noise_sigma=float(rng.uniform(0.003, 0.025)),
        blur_px=float(rng.uniform(0.3, 1.3)) if rng.uniform() < 0.3 else 0.0,
        vignette=float(rng.uniform(0.1, 0.4)),
        jpeg_quality=int(rng.integers(70, 96)),
        noise_seed=int(rng.integers(2 ** 31)))
    # Light bounced about a white box: strong, even, from every side (the shader dims it towards the back).
    ambient = np.array(kelvin_to_rgb(5000)) * (rng.uniform(0.55, 0.95) if lit else 0.75)
    return Scene(camera=camera, lights=lights, objects=objects, post=post, ambient_sky=tuple(ambient),
                 ambient_ground=tuple(ambient * 0.6), interior=(fridge.half_width, fridge.height, fridge.depth),
                 shadow_light=0)
