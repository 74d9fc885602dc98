"""Randomized fridge scenes: the cues of Rajpura et al. 2017 decide what varies between images.

A scene is furniture (fridge.py: the fridge, its shelves, drawers, doors and lamp, and the kitchen around it),
products placed on its supports (here), a camera (cameras.py) and lights. Cues (each on/off; off holds it at a
fixed value, nothing is removed):
- color: per-instance tint, fridge interior colour (white, warm white, grey, cream, light blue, steel, black),
  kitchen colours; off: catalog colours, white fridge, a grey kitchen.
- texture: which label variant each instance wears (textures.LABEL_VARIANTS), where the label sits round the pack,
  scuffs, and textured surfaces (ribbed or speckled walls, tiles, wood); off: variant 0 at its canonical place,
  plain surfaces.
- viewpoint: the shot (whole fridge, one or two shelves, a close-up of a few products, or a fixed webcam; see
  cameras.py for the shares and why), portrait or landscape, distance, height, yaw, pitch, roll, field of view,
  and product yaw; off: one fixed landscape camera framing the fridge, products facing it.
- lighting: lamp position, colour temperature, intensity, extra lights, exposure and white balance; off: a fixed
  4500 K lamp and room light.
Products per image (default 4-36: a nearly empty fridge to a crowded one) and distractors per image are (min, max)
ranges; equal bounds hold them fixed. Classes appear equally often: a class is drawn first, then one of its looks.
Products stand, lie on their side (long produce nearly always, other packs that can lie a quarter of the time),
stack (a fifth of stackable packs), hide behind each other and are cut by the image border as shots come closer.
Every image's random stream comes from (seed, split, index) alone, so any worker makes the same scene.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfsynth.generate.cameras import sample_camera
from tfsynth.generate.catalog import PRODUCE, Catalog, Product
from tfsynth.generate.fridge import Fridge, Support, add_doors, build_fridge
from tfsynth.generate.materials import casts_shadow, instance_material
from tfsynth.generate.scene import (Camera, Light, PostEffects, Scene, SceneObject, kelvin_to_rgb, rotate_x,
                                    rotate_y, scale, translate)
from tfsynth.generate.shapes import ARCHETYPE_TRAITS, ELONGATED_SQUASH_RATIO

CUES = ("color", "texture", "viewpoint", "lighting")
_LYING_OK = {name for name, traits in ARCHETYPE_TRAITS.items() if traits.can_lie}
_STACKABLE = {name for name, traits in ARCHETYPE_TRAITS.items() if traits.stackable}


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
    """'12' -> (12, 12); '8,30' or '8-30' -> (8, 30). A leading '-' is a negative number, refused (it once read
    as a range separator, so '-1' became 1)."""
    text = str(text).strip()
    if text.startswith("-"):
        raise ValueError(f"--{name} {text!r}: expected N or MIN,MAX with 0 <= MIN <= MAX")
    parts = text.replace("-", ",").split(",")
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
    """What the sampler draws from: frame size (landscape; portrait shots swap it), cues, counts per image."""

    width: int = 640
    height: int = 480
    cues: frozenset = frozenset(CUES)
    products_per_image: tuple[int, int] = (4, 36)
    distractors: tuple[int, int] = (0, 4)


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


def _lights(rng: np.random.Generator, fridge: Fridge, camera: Camera, cues: frozenset) -> list[Light]:
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
        pos = (float(rng.choice([-1, 1]) * (hw - 0.03)), float(rng.uniform(0.2, h - 0.1)),
               float(-d * rng.uniform(.2, .8)))
        color = np.array(kelvin_to_rgb(float(rng.uniform(3500, 7000)))) * rng.uniform(0.1, 0.5)
        lights.append(Light("point", pos, tuple(color), size=0.05))
    return lights


def _choose_products(rng: np.random.Generator, products: list[Product], count: int) -> list[Product]:
    """`count` products: a class uniformly, then one of its looks uniformly, so a class with three looks in the
    catalog appears as often as a class with one."""
    by_class: dict[str, list[Product]] = {}
    for product in products:
        by_class.setdefault(product.label, []).append(product)
    classes = list(by_class)
    chosen = []
    for class_index in rng.integers(len(classes), size=count):
        looks = by_class[classes[int(class_index)]]
        chosen.append(looks[int(rng.integers(len(looks)))])
    return chosen


def sample_scene(catalog: Catalog, config: SamplerConfig, seed: int, split: int, index: int) -> Scene:
    """The scene of image `index` of `split` (0 train, 1 validation); a pure function of its arguments."""
    rng = np.random.default_rng([seed, split, index])
    cues = config.cues
    fridge = build_fridge(rng, cues)
    objects = list(fridge.objects)
    supports = list(fridge.supports)
    if rng.uniform() < 0.8:  # a photo of an open fridge: its door is open, in view or just outside the frame
        add_doors(rng, fridge, objects, supports, cues)
    count = int(rng.integers(config.products_per_image[0], config.products_per_image[1] + 1))
    n_distract = int(rng.integers(config.distractors[0], config.distractors[1] + 1)) if catalog.distractors else 0
    chosen = _choose_products(rng, catalog.products, count)
    chosen += [catalog.distractors[int(i)] for i in rng.integers(len(catalog.distractors), size=n_distract)]
    rng.shuffle(chosen)
    sizes = {p.key: np.array(p.fixed_size_m()) for p in chosen}
    # Spread products over supports in proportion to their area; door bins get a smaller share since most
    # shots show the door at the image edge, if at all.
    areas = np.array([(s.x_range[1] - s.x_range[0]) * (s.z_range[1] - s.z_range[0]) * (0.5 if s.kind == "door"
                                                                                       else 1.0)
                      for s in supports])
    assignment = rng.choice(len(supports), size=len(chosen), p=areas / areas.sum())
    placed: list[_Placed] = []
    for k, support in enumerate(supports):
        wanted = [p for p, a in zip(chosen, assignment) if a == k]
        _place_on(rng, support, wanted, sizes, cues, placed, [])
    next_id = 1
    centres = []
    for item in placed:
        product = item.product
        material = instance_material(product, rng, cues)
        shadow = casts_shadow(product)
        if product.is_distractor:
            objects.append(SceneObject(product.key, item.model, material, casts_shadow=shadow))
        else:
            objects.append(SceneObject(product.key, item.model, material, instance_id=next_id,
                                       class_name=product.label, casts_shadow=shadow))
            centres.append(item.model[:3, 3] + item.model[:3, 1] * sizes[product.key][1] / 2)
            next_id += 1
    camera = sample_camera(rng, fridge, centres, config.width, config.height, "viewpoint" in cues)
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
