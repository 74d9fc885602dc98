"""Meshes of fruit and vegetables: ellipsoids and spheres, squash, bell peppers, pears, ovals, tomatoes, onions,
clusters on a stem and net bags. Their stems, calyxes and clips take the top rows of the skin (skins.py)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from tfsynth.generate.shapes.mesh import (Mesh, _ball, _fit, _move, _rod, _smooth_normals, _smoothstep, _spline,
                                          _transform, _v_range, box, lathe, merge, sphere_profile)

def ellipsoid(width: float, height: float, depth: float) -> Mesh:
    """Produce-like ellipsoid (sphere when all three sizes agree)."""
    return lathe([sphere_profile(width / 2, height, 12)], scale_z=depth / width)


ELONGATED_SQUASH_RATIO = 1.4  # height / width above which a squash is a zucchini, summer squash or butternut


def squash(width: float, height: float, ribs: int = 10) -> Mesh:
    """A squash, its kind read from its proportions (the catalog gives sizes only).

    Squat (height < 1.4 x width): a ribbed bulb with grooves and a stem (acorn, kabocha). Elongated: a long body
    with a rounded blossom end at the bottom and a stem at the top, its neck narrower than the bulb: about
    0.6 of it for butternut and summer squash (height/width up to about 3.3), near 0.9 for a zucchini
    (4 and more); the body bends a little to one side, more the longer it is. Axis along y, standing on y = 0.
    """
    if height < ELONGATED_SQUASH_RATIO * width:
        return _squat_squash(width, height, ribs)
    ratio = height / width
    neck = 0.6 + 0.3 * _smoothstep(3.2, 4.0, ratio)
    stem_h = height * 0.04
    body_h = height - stem_h
    rows = 24
    profile = []
    for t in np.linspace(0.0, 1.0, rows):
        bottom = math.sin(math.pi / 2 * min(1.0, t / 0.14)) ** 0.6  # rounded blossom end
        top = math.sin(math.pi / 2 * min(1.0, (1.0 - t) / 0.08)) ** 0.5  # rounded towards the stem
        waist = 1.0 - (1.0 - neck) * _smoothstep(0.25, 0.6, t)  # bulb -> neck
        profile.append((width / 2 * bottom * top * waist, body_h * t))
    profile[0] = (0.0, 0.0)
    stem_r = width * 0.07 * neck
    mesh = lathe([profile, [(stem_r, body_h * 0.97), (stem_r * 0.8, height)], [(stem_r * 0.8, height), (0, height)]],
                 segments=32)
    # Bend along x, growing towards the stem end; then centre the footprint again.
    bend = width * min(0.15 + 0.1 * (ratio - ELONGATED_SQUASH_RATIO), 0.5)
    mesh.vertices[:, 0] += bend * (mesh.vertices[:, 1] / height) ** 2
    lower, upper = mesh.lower, mesh.upper
    mesh.vertices[:, 0] -= (lower[0] + upper[0]) / 2
    return mesh


def _squat_squash(width: float, height: float, ribs: int) -> Mesh:
    """Ribbed acorn squash: squat bulb with grooves and a stem."""
    rows = 12
    t = np.linspace(0, 1, rows)
    profile = [(width / 2 * math.sin(math.pi * (0.1 + 0.85 * ti)) ** 0.8, height * 0.9 * ti) for ti in t]
    profile[0] = (0.0, 0.0)
    mesh = lathe([profile, [(width * .05, height * .9), (width * .045, height)],
                  [(width * .045, height), (0, height)]], segments=40)
    # Grooves: pull the radius in along `ribs` meridians.
    angle = np.arctan2(mesh.vertices[:, 2], mesh.vertices[:, 0])
    body = mesh.vertices[:, 1] < height * 0.9
    factor = 1 - 0.08 * np.abs(np.cos(angle * ribs / 2)) ** 6 * body
    mesh.vertices[:, 0] *= factor
    mesh.vertices[:, 2] *= factor
    return mesh


def _lobe_crease(u: np.ndarray, lobes: int, sharpness: float = 0.7) -> np.ndarray:
    """0 at the middle of each of `lobes` lobes around the axis, 1 in the creases between them (u in 0..1)."""
    return 1.0 - np.abs(np.cos(lobes * math.pi * u)) ** sharpness


def pepper_lobes(width: float, depth: float) -> int:
    """How many lobes a bell pepper of this footprint has: 3 when small or narrow, else 4 (skins darken the
    creases between them)."""
    return 3 if min(width, depth) < 0.07 else 4


def bell_pepper(width: float, height: float, depth: float) -> Mesh:
    """Bell pepper: 3-4 lobes with creases between them, a little narrower towards the bottom, standing on the
    lobes' tips, with a short green stem in a cavity on top (skin rows above v = 0.92).

    Small or narrow peppers get 3 lobes, others 4 (pepper_lobes).
    """
    lobes = pepper_lobes(width, depth)
    r, body_h = width / 2, height * 0.88
    control = [(0, .07), (.22, .02), (.5, 0), (.75, .07), (.87, .25), (.95, .5), (1, .75), (.94, .9), (.72, .99),
               (.42, .99), (.2, .9), (.1, .86)]
    profile = _spline([(cr * r, cy * body_h) for cr, cy in control])
    body = lathe([profile, [profile[-1], (0.0, profile[-1][1])]], segments=48, v_stops=[0.0, 0.88, 0.9])
    u = body.vertices[:, 6].astype(np.float64)
    s = body.vertices[:, 1] / body_h
    crease = _lobe_crease(u, lobes)
    # Creases pull in around the sides; near the bottom they lift, so the pepper stands on its lobes' tips,
    # and near the top they dip between the shoulders.
    factor = 1.0 - 0.13 * crease
    body.vertices[:, 0] *= factor
    body.vertices[:, 2] *= factor
    body.vertices[:, 1] += body_h * crease * (0.08 * np.clip(1 - s / 0.3, 0, 1) - 0.04 * np.clip((s - .8) / .2, 0, 1))
    _smooth_normals(body)
    y0 = 0.86 * body_h
    stem = lathe([[(0, y0 - 0.01 * height), (0.13 * width, y0 - 0.01 * height)],
                  [(0.13 * width, y0 - 0.01 * height), (0.09 * width, y0 + 0.03 * height),
                   (0.055 * width, y0 + 0.06 * height), (0.05 * width, height)],
                  [(0.05 * width, height), (0, height)]], segments=12)
    lift = np.clip((stem.vertices[:, 1] - y0) / (height - y0), 0, 1)
    stem.vertices[:, 0] += 0.1 * width * lift ** 2  # stems curve to one side
    _v_range(_smooth_normals(stem), 0.92, 1.0)
    return _fit(merge([body, stem]), width, height, depth)


def pear(width: float, height: float, depth: float) -> Mesh:
    """Pear or avocado: a round bulb below a narrower neck, leaning a little, with a small stem on top (skin rows
    above v = 0.94). The neck narrows more the taller the fruit (avocado about 1.3 x its width, pear 1.5+)."""
    r, body_h = width / 2, height * 0.95
    neck = 0.7 - 0.22 * float(np.clip((height / width - 1.15) / 0.45, 0, 1))
    control = [(0, 0), (.5, .015), (.85, .1), (1, .27), (.96, .42), (.8, .55), (neck + .07, .67), (neck, .79),
               (neck * .86, .9), (neck * .5, .98), (0, 1)]
    profile = _spline([(cr * r, cy * body_h) for cr, cy in control])
    body = lathe([profile], segments=36, v_stops=[0.0, 0.93])
    s = body.vertices[:, 1] / body_h
    lean = 0.06 * width
    body.vertices[:, 0] += lean * np.clip((s - 0.4) / 0.6, 0, 1) ** 2
    _smooth_normals(body)
    stem = _v_range(_rod((lean, body_h * 0.985, 0), (lean + 0.02 * width, height, 0), 0.035 * width,
                         0.025 * width), 0.95, 1.0)
    return _fit(merge([body, stem]), width, height, depth)


def oval(width: float, height: float, depth: float) -> Mesh:
    """Egg-shaped produce lying on its side (mango, papaya, lemon): the long axis along x, one end blunter than
    the other and the body bowed a little, so it is not a plain ellipsoid. v runs along the fruit from its tip
    (v = 0, -x) to its stem end (v = 1, +x)."""
    alpha = np.linspace(0.0, math.pi, 22)
    s = -np.cos(alpha)  # -1 (tip) .. 1 (stem end), denser towards the ends
    radius = np.sin(alpha) * (1 + 0.14 * s)  # the stem end is the blunt one
    mesh = lathe([[(float(rr), float((si + 1) / 2)) for rr, si in zip(radius, s)]], segments=32)
    along = mesh.vertices[:, 1] * 2 - 1
    mesh.vertices[:, 0] += 0.08 * (1 - along ** 2) * (1 + 0.6 * along)  # bowed like a mango's belly
    _smooth_normals(mesh)
    # The lathe's axis (y) turns into x: x' = y, y' = -x (a rotation about z).
    _transform(mesh, np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    return _fit(mesh, width, height, depth)


def _top_height(profile: list[tuple[float, float]]) -> Callable[[float], float]:
    """y of a lathe profile's upper surface as a function of radius (for parts laid on a fruit's top)."""
    points = np.asarray(profile)
    top = points[int(np.argmax(points[:, 0])):]
    order = np.argsort(top[:, 0])
    return lambda radius: float(np.interp(radius, top[order, 0], top[order, 1]))


def _sepal(angle: float, inner: float, outer: float, half_width: float, surface: Callable[[float], float],
           lift: float, thickness: float) -> Mesh:
    """One leaf of a calyx: a pointed strip laid on a surface y = surface(r), curling up at its tip; upper and
    under sides, so it shows from any side."""
    stations = np.linspace(0.0, 1.0, 6)
    along = np.array([math.cos(angle), 0.0, math.sin(angle)])
    across = np.array([-math.sin(angle), 0.0, math.cos(angle)])
    rows = []
    for t in stations:
        radius = inner + (outer - inner) * t
        centre = along * radius + np.array([0.0, surface(radius) + lift * (0.3 + 2.0 * t * t), 0.0])
        w = half_width * (1 - t) ** 0.7
        rows.append((centre - across * w, centre + across * w))
    positions, faces = [], []
    for side, dy in ((0, 0.0), (1, -thickness)):
        base = len(positions)
        for left, right in rows:
            positions += [left + [0, dy, 0], right + [0, dy, 0]]
        for i in range(len(rows) - 1):
            l0, r0, l1, r1 = base + 2 * i, base + 2 * i + 1, base + 2 * i + 2, base + 2 * i + 3
            tris = [(l0, r0, r1), (l0, r1, l1)]  # counter-clockwise from above
            faces += tris if side == 0 else [(a, c, b) for a, b, c in tris]
    vertices = np.zeros((len(positions), 8), np.float32)
    vertices[:, :3] = positions
    vertices[:, 6] = (angle / (2 * math.pi)) % 1.0
    vertices[:, 7] = np.tile(np.repeat(stations, 2), 2)
    return _smooth_normals(Mesh(vertices, np.asarray(faces, np.uint32).ravel()))


def tomato(width: float, height: float, depth: float) -> Mesh:
    """Tomato: round, a little flattened, faintly ribbed, with a star of five green sepals (the calyx, skin rows
    v 0.9-0.95) and a short stem (rows above 0.95) in the dimple on top."""
    r, body_h = width / 2, height * 0.9
    control = [(0, .04), (.3, 0), (.7, .06), (.95, .28), (1, .5), (.94, .74), (.75, .92), (.45, 1), (.18, .97),
               (0, .94)]
    profile = _spline([(cr * r, cy * body_h) for cr, cy in control])
    body = lathe([profile], segments=40, v_stops=[0.0, 0.88])
    s = np.clip(body.vertices[:, 1] / body_h, 0, 1)
    factor = 1.0 - 0.04 * _lobe_crease(body.vertices[:, 6].astype(np.float64), 6, 0.5) * np.sin(math.pi * s)
    body.vertices[:, 0] *= factor
    body.vertices[:, 2] *= factor
    _smooth_normals(body)
    surface = _top_height(profile)
    sepals = [_v_range(_sepal(2 * math.pi * k / 5 + 0.3, 0.05 * r, 0.55 * r, 0.11 * r, surface, 0.03 * r,
                              0.012 * r), 0.9, 0.95) for k in range(5)]
    stem = _v_range(_rod((0, surface(0.0), 0), (0.015 * width, height, 0), 0.06 * r, 0.045 * r, 8), 0.95, 1.0)
    return _fit(merge([body] + sepals + [stem]), width, height, depth)


def onion(width: float, height: float, depth: float) -> Mesh:
    """Onion, red onion, garlic bulb: round body tapering to a pointed, slightly bent top, a flat root plate
    underneath (v below 0.04), a little lopsided as real bulbs are."""
    r = width / 2
    control = [(.32, 0), (.62, .04), (.9, .17), (1, .38), (.93, .58), (.7, .75), (.4, .87), (.16, .95),
               (.06, .99), (.045, 1)]
    profile = _spline([(cr * r, cy * height) for cr, cy in control])
    mesh = lathe([[(0, 0), profile[0]], profile, [profile[-1], (0, height)]], segments=36,
                 v_stops=[0.0, 0.04, 0.97, 1.0])
    theta = 2 * math.pi * mesh.vertices[:, 6].astype(np.float64)
    s = mesh.vertices[:, 1] / height
    factor = 1 + (0.03 * np.cos(theta + 1.3) + 0.015 * np.cos(2 * theta)) * np.sin(math.pi * np.clip(s, 0, 1))
    mesh.vertices[:, 0] *= factor
    mesh.vertices[:, 2] *= factor
    mesh.vertices[:, 0] += 0.05 * width * np.clip((s - 0.7) / 0.3, 0, 1) ** 2
    _smooth_normals(mesh)
    return _fit(mesh, width, height, depth)


def _size_rng(*size: float) -> np.random.Generator:
    """Deterministic variation for builders that only get a size (cluster, net bag): same size, same mesh."""
    return np.random.default_rng([int(round(v * 1e5)) for v in size])


def cluster(width: float, height: float, depth: float) -> Mesh:
    """Several round fruit on a branching stem (vine tomatoes, grapes, cherries).

    4-7 fruit of about width / 3 rest on y = 0 in a zig-zag along x (two rows when the depth allows); when the
    cluster is taller than about one and a half fruit, some sit on top in the hollows (a bunch). A stalk runs
    along the top with a short stem and a small calyx to each fruit. Fruit take skin rows v <= 0.86, calyxes
    0.88-0.92, stems above 0.93. The extents match the size (scaled a little at the end).
    """
    rng = _size_rng(width, height, depth)
    diameter = min(width / 3, height * 0.95, depth * 0.95)
    offset = min(max(depth - diameter, 0.0), 0.85 * diameter)  # z distance between the two rows
    step = max(math.sqrt(max((0.95 * diameter) ** 2 - offset ** 2, 0.0)), 0.5 * diameter)
    two_layers = height > 1.6 * diameter
    count = int(np.clip(1 + round((width - diameter) / step), 4, 5 if two_layers else 7))
    step = (width - diameter) / (count - 1)
    centres, radii = [], []
    for i in range(count):
        radius = diameter / 2 * float(rng.uniform(0.9, 1.05))
        z = offset / 2 * (1 if i % 2 else -1) if offset > 0 else 0.0
        centres.append(np.array([-width / 2 + diameter / 2 + i * step, radius, z]))
        radii.append(radius)
    if two_layers:  # a bunch: fruit in the hollows between neighbours
        for i in range(0, count - 1, 2):
            radius = diameter / 2 * float(rng.uniform(0.9, 1.0))
            a, b = centres[i], centres[i + 1]
            centres.append(np.array([(a[0] + b[0]) / 2, max(a[1], b[1]) + 0.75 * diameter, 0.0]))
            radii.append(radius)
            if len(centres) >= 7:
                break
    parts = []
    for centre, radius in zip(centres, radii):
        fruit = _ball(radius, 16, 10)
        _v_range(fruit, 0.0, 0.86)
        parts.append(_move(fruit, centre[0], centre[1] - radius, centre[2]))
    tops = [c[1] + rr for c, rr in zip(centres, radii)]
    stalk_y = max(tops) + 0.05 * diameter
    stalk_r = 0.05 * diameter
    xs = [c[0] for c in centres]
    # The stalk: along x above the fruit, its cut end turned up at one side.
    knots = [np.array([min(xs) - 0.2 * diameter, stalk_y + 0.1 * diameter, 0.0]),
             np.array([min(xs), stalk_y, 0.0]), np.array([max(xs), stalk_y - 0.05 * diameter, 0.0]),
             np.array([max(xs) + 0.15 * diameter, stalk_y + 0.15 * diameter, 0.0])]
    for a, b in zip(knots[:-1], knots[1:]):
        parts.append(_v_range(_rod(a, b, stalk_r, stalk_r, 6), 0.94, 1.0))
    for centre, radius in zip(centres, radii):
        top = centre + np.array([0.0, radius * 0.92, 0.0])
        joint = np.array([centre[0] + 0.1 * radius, stalk_y, 0.0])
        parts.append(_v_range(_rod(joint, top, 0.6 * stalk_r, 0.5 * stalk_r, 6), 0.94, 1.0))
        def sphere_top(r: float, centre: np.ndarray = centre, radius: float = radius) -> float:
            return float(centre[1] + math.sqrt(max(radius * radius - r * r, 0.0)))

        for k in range(5):  # a small star of sepals round the stem
            sepal = _sepal(2 * math.pi * k / 5 + centre[0] * 40, 0.05 * radius, 0.5 * radius, 0.1 * radius,
                           sphere_top, 0.02 * radius, 0.01 * radius)
            parts.append(_v_range(_move(sepal, centre[0], 0.0, centre[2]), 0.88, 0.92))
    return _fit(merge(parts), width, height, depth)


def net_bag(width: float, height: float, depth: float) -> Mesh:
    """A net bag of round fruit (oranges, onions, lemons): a pile of fruit, the net gathered into a knot with a
    clip and a printed header tag.

    Bags at least as tall as wide stand with the knot on top; others lie along x with the knot at +x. The net
    itself is the skin's lattice over the fruit (skin rows v <= 0.8); the gathered net takes rows 0.8-0.88, the
    tag 0.88-0.94, the clip (the closure, above cap_v = 0.94) the top rows.
    """
    rng = _size_rng(width, height, depth)
    standing = height > width
    along = height if standing else width  # the bag's axis: pile, gathered net, clip, tag
    pile_len = along * (0.72 if standing else 0.7)
    # The pile's box: (x, y, z) extents in the world.
    pile = np.array([width, pile_len, depth]) if standing else np.array([pile_len, height, depth])
    volume_d = (np.prod(pile) / 9.0) ** (1 / 3)  # about nine fruit
    diameter = min(max(volume_d, min(pile) / 2.2), min(pile))
    counts = np.maximum(1, np.floor(pile / diameter + 0.25)).astype(int)
    diameter = float(min(pile / counts))
    low = np.array([-width / 2, 0.0, -depth / 2])
    parts, centres = [], []
    for layer in range(counts[1]):
        shift = 0.5 * (layer % 2) * diameter  # nestle every other layer into the hollows below
        nx = max(counts[0] - (layer % 2 and counts[0] > 1), 1)
        nz = max(counts[2] - (layer % 2 and counts[2] > 1), 1)
        for i in range(nx):
            for k in range(nz):
                radius = diameter / 2 * float(rng.uniform(0.92, 1.04))
                jitter = rng.normal(0.0, 0.04 * diameter, 3)
                centre = low + np.array([(i + 0.5) * diameter + shift, radius + layer * 0.85 * diameter,
                                         (k + 0.5) * diameter + shift]) + jitter * np.array([1, 0, 1])
                centres.append(centre)
                parts.append(_v_range(_move(_ball(radius, 14, 9), centre[0], centre[1] - radius, centre[2]),
                                      0.0, 0.8))
    centres = np.array(centres)
    # Gathered net, knot, clip and tag are built along +y from the origin, then turned onto the bag's axis.
    span = pile[[0, 2]] if standing else pile[[1, 2]]
    neck_r = 0.42 * float(min(span))
    gather_len = along * (0.14 if standing else 0.15)
    gather = lathe([[(neck_r, 0), (0.75 * neck_r, 0.3 * gather_len), (0.25 * neck_r, 0.75 * gather_len),
                     (0.12 * neck_r, gather_len)], [(0.12 * neck_r, gather_len), (0, gather_len)]], segments=16)
    _v_range(gather, 0.8, 0.88)
    knot = _v_range(_move(_ball(0.2 * neck_r, 10, 6), 0, gather_len - 0.15 * neck_r, 0), 0.94, 1.0)
    clip_len = along * 0.04
    clip = _v_range(_move(box(0.5 * neck_r, clip_len, 0.25 * neck_r, v_range=(0.0, 1.0)), 0,
                          gather_len + 0.1 * neck_r, 0), 0.94, 1.0)
    tag_len = along - pile_len - gather_len - clip_len + 0.02 * along
    tag_w = min(1.2 * neck_r, 0.8 * float(min(span)))
    tag = _v_range(_move(box(tag_w, tag_len, 0.0015, v_range=(0.0, 1.0)), 0, gather_len + clip_len, 0), 0.88, 0.94)
    top = merge([gather, knot, clip, tag])
    if standing:
        base = np.array([0.0, centres[:, 1].max(), 0.0])
        _transform(top, np.eye(3), base)
    else:
        base = np.array([centres[:, 0].max(), float(np.median(centres[:, 1])), 0.0])
        _transform(top, np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), base)  # +y -> +x
    mesh = _fit(merge(parts + [top]), width, height, depth)
    mesh.cap_v = 0.94
    return mesh
