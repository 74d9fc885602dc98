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
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Optional, Sequence

import numpy as np

LATHE_SEGMENTS = 28
CAP_V = 0.88  # v above which a builder's closure (cap, lid, foil capsule, clip) lies
BASE_V = 0.12  # v below which the closure of a product standing on its cap lies


@dataclasses.dataclass
class Mesh:
    """Triangle mesh: vertices [N, 8] float32 (pos, normal, uv), indices [M] uint32, axis-aligned extents.

    cap_v: the v above which the surface is the product's closure (cap, lid, foil capsule, crown, clip); None
    when it has none. base_v: the v below which the surface is the closure of a product standing on its cap
    (squeeze bottle, tube); None when it has none. Both lie in (0, 1) and follow the builder's uv layout.
    """

    vertices: np.ndarray
    indices: np.ndarray
    cap_v: Optional[float] = None
    base_v: Optional[float] = None

    @property
    def lower(self) -> np.ndarray:
        return self.vertices[:, :3].min(axis=0)

    @property
    def upper(self) -> np.ndarray:
        return self.vertices[:, :3].max(axis=0)


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
BOTTLE_PROFILES = ("water", "wine", "sparkling", "milk", "soda", "sauce", "narrow_neck")


def merge(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh holding all the given meshes (closure fields are the caller's to set)."""
    vertices, indices, offset = [], [], 0
    for mesh in meshes:
        vertices.append(mesh.vertices)
        indices.append(mesh.indices + offset)
        offset += len(mesh.vertices)
    return Mesh(np.concatenate(vertices).astype(np.float32), np.concatenate(indices).astype(np.uint32))


def _piece_stops(lengths: Sequence[float], v_stops: Optional[Sequence[Optional[float]]]) -> list[float]:
    """The v at the start of every piece and at the end of the last; None entries share v by arc length."""
    count = len(lengths)
    stops = list(v_stops) if v_stops is not None else [None] * (count + 1)
    if len(stops) != count + 1:
        raise ValueError(f"v_stops needs {count + 1} entries (one per piece boundary), got {len(stops)}")
    stops[0] = 0.0 if stops[0] is None else stops[0]
    stops[-1] = 1.0 if stops[-1] is None else stops[-1]
    start = 0
    while start < count:
        end = start + 1
        while stops[end] is None:
            end += 1
        run = lengths[start:end]
        total = sum(run)
        travelled = 0.0
        for k in range(start + 1, end):
            travelled += run[k - 1 - start]
            share = travelled / total if total > 0 else (k - start) / (end - start)
            stops[k] = stops[start] + (stops[end] - stops[start]) * share
        start = end
    return [float(s) for s in stops]


def lathe(pieces: Sequence[Sequence[tuple[float, float]]], segments: int = LATHE_SEGMENTS,
          scale_x: float = 1.0, scale_z: float = 1.0,
          v_stops: Optional[Sequence[Optional[float]]] = None) -> Mesh:
    """Surface of revolution of a profile given as smooth pieces of (radius, y) points, bottom to top.

    Consecutive pieces share their end points; corners between pieces are sharp (vertices duplicated).
    scale_x/scale_z squash the circular cross-section into an ellipse (squeeze bottles, pouches).
    v runs along the profile by arc length; v_stops (one entry per piece boundary, len(pieces) + 1) pins the v
    where pieces start and end so regions (a cap, a base) get fixed rows of the texture; None entries share
    the v between their fixed neighbours by arc length.
    """
    lengths = [sum(math.dist(a, b) for a, b in zip(p[:-1], p[1:])) for p in pieces]
    stops = _piece_stops(lengths, v_stops)
    angles = np.linspace(0.0, 2.0 * math.pi, segments + 1)
    cos, sin = np.cos(angles), np.sin(angles)
    vertices, indices = [], []
    offset = 0
    for index, (piece, length) in enumerate(zip(pieces, lengths)):
        points = np.asarray(piece, dtype=np.float64)
        tangents = np.gradient(points, axis=0) if len(points) > 2 else np.repeat(points[1:] - points[:1], 2, 0)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        v0, v1 = stops[index], stops[index + 1]
        for (radius, y), (dr, dy), s in zip(points, tangents, arc):
            # Outward normal of the profile: tangent (dr, dy) turned clockwise.
            nr, ny = dy, -dr
            norm = math.hypot(nr, ny) or 1.0
            nr, ny = nr / norm, ny / norm
            v = v0 + (v1 - v0) * (s / length if length > 0 else 0.0)
            nx_, nz_ = nr * cos / scale_x, nr * sin / scale_z
            nlen = np.sqrt(nx_ ** 2 + ny ** 2 + nz_ ** 2) + 1e-12
            ring = np.stack([radius * cos * scale_x, np.full_like(cos, y), radius * sin * scale_z,
                             nx_ / nlen, np.full_like(cos, ny) / nlen, nz_ / nlen,
                             angles / (2 * math.pi), np.full_like(cos, v)], axis=1)
            vertices.append(ring)
        rows = len(points)
        for r in range(rows - 1):
            a = offset + r * (segments + 1) + np.arange(segments)
            b = a + segments + 1
            # Profile runs bottom to top and angles run counter-clockwise seen from below: wind outward.
            indices.append(np.stack([a, b, a + 1, a + 1, b, b + 1], axis=1).ravel())
        offset += rows * (segments + 1)
    return Mesh(np.concatenate(vertices).astype(np.float32), np.concatenate(indices).astype(np.uint32))


# --- small geometry helpers ------------------------------------------------------------------------------

def _spline(points: Sequence[tuple[float, float]], per_span: int = 4) -> list[tuple[float, float]]:
    """A smooth profile through control points (Catmull-Rom), radii kept >= 0; ends are the first/last point."""
    p = np.asarray(points, np.float64)
    padded = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for i in range(len(p) - 1):
        p0, p1, p2, p3 = padded[i:i + 4]
        for t in np.linspace(0.0, 1.0, per_span, endpoint=False):
            out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                              + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    out.append(p[-1])
    result = np.asarray(out)
    result[:, 0] = np.maximum(result[:, 0], 0.0)
    return [(float(r), float(y)) for r, y in result]


def _ease(start: tuple[float, float], end: tuple[float, float], count: int) -> list[tuple[float, float]]:
    """Points from start to end (exclusive of start) on a cosine ease: the radius leaves and arrives vertically,
    as a bottle's shoulder does."""
    (r0, y0), (r1, y1) = start, end
    t = np.linspace(0.0, 1.0, count + 1)[1:]
    ease = 0.5 - 0.5 * np.cos(math.pi * t)
    return [(float(r0 + (r1 - r0) * e), float(y0 + (y1 - y0) * s)) for e, s in zip(ease, t)]


def _smooth_normals(mesh: Mesh) -> Mesh:
    """Recomputes vertex normals (in place) from the faces after a mesh was deformed.

    Vertices at the same position share one normal, so lathe seams and poles stay smooth; normals follow the
    winding (counter-clockwise from outside), so they point outward.
    """
    positions = mesh.vertices[:, :3].astype(np.float64)
    triangles = mesh.indices.reshape(-1, 3)
    corners = positions[triangles]
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # area-weighted
    keys = np.round(positions / 1e-6).astype(np.int64)  # weld at a micrometre
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.ravel()
    summed = np.zeros((group.max() + 1, 3))
    for k in range(3):
        np.add.at(summed, group[triangles[:, k]], face)
    normals = summed[group]
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    keep = length[:, 0] < 1e-20  # isolated vertices keep the normal they had
    normals = np.where(keep[:, None], mesh.vertices[:, 3:6], normals / np.maximum(length, 1e-20))
    mesh.vertices[:, 3:6] = normals
    return mesh


def _fit(mesh: Mesh, width: float, height: float, depth: float) -> Mesh:
    """Scales and moves a mesh (in place) to extents width x height x depth, standing on y = 0 with its footprint
    centred; builders of irregular shapes build near the size and let this make it exact."""
    lower, upper = mesh.lower.astype(np.float64), mesh.upper.astype(np.float64)
    factor = np.array([width, height, depth]) / np.maximum(upper - lower, 1e-12)
    centre = np.array([(lower[0] + upper[0]) / 2, lower[1], (lower[2] + upper[2]) / 2])
    mesh.vertices[:, :3] = (mesh.vertices[:, :3] - centre) * factor
    normals = mesh.vertices[:, 3:6] / factor  # a scale's normal matrix is its inverse
    mesh.vertices[:, 3:6] = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return mesh


def _rotation_to(direction: np.ndarray) -> np.ndarray:
    """The rotation that turns +y into `direction`."""
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    y = np.array([0.0, 1.0, 0.0])
    axis = np.cross(y, d)
    s, c = np.linalg.norm(axis), float(np.dot(y, d))
    if s < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * k @ k


def _transform(mesh: Mesh, rotation: np.ndarray, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> Mesh:
    """Rotates (about the origin) and then moves a mesh in place."""
    mesh.vertices[:, :3] = mesh.vertices[:, :3] @ rotation.T + np.asarray(offset)
    mesh.vertices[:, 3:6] = mesh.vertices[:, 3:6] @ rotation.T
    return mesh


def _move(mesh: Mesh, x: float, y: float, z: float) -> Mesh:
    mesh.vertices[:, :3] += np.array([x, y, z], np.float32)
    return mesh


def _v_range(mesh: Mesh, v0: float, v1: float) -> Mesh:
    """Squeezes a part's v (0..1) into [v0, v1] so it takes those texture rows (a stem, a clip, a tag)."""
    mesh.vertices[:, 7] = v0 + (v1 - v0) * mesh.vertices[:, 7]
    return mesh


def _ball(radius: float, segments: int = 16, rows: int = 10) -> Mesh:
    """A sphere resting on y = 0, centred on the y axis."""
    return lathe([sphere_profile(radius, 2 * radius, rows)], segments=segments)


def _rod(start: Sequence[float], end: Sequence[float], radius_start: float, radius_end: float,
         segments: int = 8) -> Mesh:
    """A closed tapered cylinder from start to end (stems, stalks)."""
    p0, p1 = np.asarray(start, np.float64), np.asarray(end, np.float64)
    length = float(np.linalg.norm(p1 - p0))
    mesh = lathe([[(0, 0), (radius_start, 0)], [(radius_start, 0), (radius_end, length)],
                  [(radius_end, length), (0, length)]], segments=segments)
    return _transform(mesh, _rotation_to(p1 - p0), p0)


def _quad(corners: np.ndarray, uvs: Sequence[tuple[float, float]]) -> Mesh:
    normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
    normal = normal / (np.linalg.norm(normal) + 1e-12)
    rows = [np.concatenate([c, normal, uv]) for c, uv in zip(corners, uvs)]
    return Mesh(np.asarray(rows, np.float32), np.array([0, 1, 2, 0, 2, 3], np.uint32))


def _triangle(corners: np.ndarray, uvs: Sequence[tuple[float, float]]) -> Mesh:
    normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
    normal = normal / (np.linalg.norm(normal) + 1e-12)
    rows = [np.concatenate([c, normal, uv]) for c, uv in zip(corners, uvs)]
    return Mesh(np.asarray(rows, np.float32), np.array([0, 1, 2], np.uint32))


def box(width: float, height: float, depth: float, top_width: float | None = None,
        top_depth: float | None = None, v_range: tuple[float, float] = (0.12, 0.88)) -> Mesh:
    """Cuboid (or frustum when top_width/top_depth differ) with the label wrapped around its four sides.

    Sides map u along the perimeter and v over `v_range`; the top takes the texture rows above v_range,
    the bottom the rows below it.
    """
    tw = width if top_width is None else top_width
    td = depth if top_depth is None else top_depth
    b = np.array([[-width / 2, 0, depth / 2], [width / 2, 0, depth / 2], [width / 2, 0, -depth / 2],
                  [-width / 2, 0, -depth / 2]], np.float64)
    t = np.array([[-tw / 2, height, td / 2], [tw / 2, height, td / 2], [tw / 2, height, -td / 2],
                  [-tw / 2, height, -td / 2]], np.float64)
    perimeter = 2 * (width + depth)
    edges = [width, depth, width, depth]
    v0, v1 = v_range
    faces, u = [], 0.0
    for i in range(4):
        j = (i + 1) % 4
        du = edges[i] / perimeter
        faces.append(_quad(np.array([b[i], b[j], t[j], t[i]]), [(u, v0), (u + du, v0), (u + du, v1), (u, v1)]))
        u += du
    faces.append(_quad(t, [(0, v1), (1, v1), (1, 1), (0, 1)]))
    faces.append(_quad(b[::-1].copy(), [(0, 0), (1, 0), (1, v0), (0, v0)]))
    return merge(faces)


def gable_top_carton(width: float, height: float, depth: float) -> Mesh:
    """Milk/juice carton: a box with a pitched roof and a fin along the ridge."""
    roof = min(width, depth) * 0.45
    body_h = height - roof - 0.008
    body = box(width, body_h, depth, v_range=(0.0, 0.82))
    w, d = width / 2, depth / 2
    ridge = body_h + roof
    corners = {k: np.array(v, np.float64) for k, v in {
        "fl": (-w, body_h, d), "fr": (w, body_h, d), "bl": (-w, body_h, -d), "br": (w, body_h, -d),
        "rl": (-w, ridge, 0), "rr": (w, ridge, 0)}.items()}
    c = corners
    parts = [body,
             _quad(np.array([c["fl"], c["fr"], c["rr"], c["rl"]]), [(0, .82), (.5, .82), (.5, .95), (0, .95)]),
             _quad(np.array([c["br"], c["bl"], c["rl"], c["rr"]]), [(.5, .82), (1, .82), (1, .95), (.5, .95)]),
             _triangle(np.array([c["fr"], c["br"], c["rr"]]), [(0, .9), (.2, .9), (.1, .97)]),
             _triangle(np.array([c["bl"], c["fl"], c["rl"]]), [(0, .9), (.2, .9), (.1, .97)]),
             box(width, 0.008, 0.004, v_range=(0.96, 0.99))]
    parts[-1].vertices[:, 1] += ridge
    return merge(parts)


def sphere_profile(radius_x: float, height: float, rows: int = 10) -> list[tuple[float, float]]:
    t = np.linspace(-math.pi / 2, math.pi / 2, rows)
    return [(max(radius_x * math.cos(a), 0.0), height / 2 * (1 + math.sin(a))) for a in t]


def cylinder(radius: float, height: float, bevel: float = 0.0) -> Mesh:
    """Can-like cylinder; a bevel rounds the rims. The top lid (v above cap_v) is the closure; the label wraps
    the side between the base and cap bands."""
    e = min(bevel, radius * 0.3, height * 0.2)
    mesh = lathe([[(0, 0), (radius - e, 0)], [(radius - e, 0), (radius, e), (radius, height - e),
                                             (radius - e, height)], [(radius - e, height), (0, height)]],
                 v_stops=[0.0, 0.06, CAP_V, 1.0])
    mesh.cap_v = CAP_V
    return mesh


def _bottle_outline(profile: str) -> tuple[list, list, list]:
    """(bottom, body, closure) outlines of a bottle profile in (fraction of radius, fraction of height).

    The body ends where the closure starts (cap, or the foil capsule of wine and sparkling bottles); the
    closure's first point steps out from the body's last (the cap's lower rim).
    """
    flat_bottom = [(0, 0), (.85, 0), (1, .02)]
    if profile == "water":
        body = [(1, .02), (1, .62)] + _ease((1, .62), (.36, .84), 6) + [(.36, .905)]
        return flat_bottom, body, [(.4, .905), (.41, .99), (.39, 1)]
    if profile == "wine":  # Bordeaux: straight body to 0.6 h, short shoulder, long neck, foil over the top
        body = [(1, .02), (1, .6)] + _ease((1, .6), (.37, .76), 9) + [(.355, .835)]
        return flat_bottom, body, [(.375, .835), (.37, .95), (.41, .965), (.41, .99), (.385, 1)]
    if profile == "sparkling":  # heavy rounded heel, long sloping shoulder, foil over a bulbous cork top
        bottom = [(0, 0), (.8, 0), (.95, .012), (1, .035)]
        body = [(1, .035), (1, .5)] + _ease((1, .5), (.35, .78), 12) + [(.34, .8)]
        foil = [(.365, .8), (.36, .88), (.42, .9), (.4, .925), (.41, .94), (.48, .965), (.46, .99), (.36, 1)]
        return bottom, body, foil
    if profile == "milk":
        body = [(1, .02), (1, .7)] + _ease((1, .7), (.5, .88), 5) + [(.5, .925)]
        return flat_bottom, body, [(.56, .925), (.57, .99), (.55, 1)]
    if profile == "soda":  # petaloid base, waisted grip
        bottom = [(0, 0), (.8, 0)]
        body = [(.8, 0), (.95, .04), (1, .1), (.9, .3), (1, .5), (1, .6)] + _ease((1, .6), (.3, .84), 6) + \
               [(.3, .915)]
        return bottom, body, [(.34, .915), (.345, .99), (.33, 1)]
    if profile == "sauce":
        body = [(1, .02), (1, .55)] + _ease((1, .55), (.42, .78), 6) + [(.4, .86)]
        return flat_bottom, body, [(.47, .86), (.48, .99), (.46, 1)]
    if profile == "narrow_neck":  # hot sauce: slim body, long narrow neck, a screw cap wider than the neck
        body = [(1, .02), (1, .42)] + _ease((1, .42), (.34, .6), 8) + [(.3, .84)]
        return flat_bottom, body, [(.44, .84), (.45, .99), (.43, 1)]
    raise ValueError(f"unknown bottle profile {profile!r}; expected one of {list(BOTTLE_PROFILES)}")


def bottle(radius: float, height: float, profile: str = "water") -> Mesh:
    """Bottle of revolution; profile is one of BOTTLE_PROFILES (water, wine, sparkling, milk, soda, sauce,
    narrow_neck). The cap or foil capsule is the region above cap_v."""
    bottom, body, closure = _bottle_outline(profile)

    def scaled(points: list) -> list:
        return [(fr * radius, fh * height) for fr, fh in points]

    body_pts, closure_pts = scaled(body), scaled(closure)
    pieces = [scaled(bottom), body_pts,
              [body_pts[-1], closure_pts[0]],  # the cap's lower rim: a sharp step out from the neck
              closure_pts, [closure_pts[-1], (0.0, height)]]
    mesh = lathe(pieces, v_stops=[0.0, 0.04, CAP_V, None, None, 1.0])
    mesh.cap_v = CAP_V
    return mesh


def squeeze_bottle(width: float, height: float, depth: float) -> Mesh:
    """Ketchup/mustard bottle: rounded elliptical body standing on its flip-top cap.

    The cap (v below base_v) is its own region: a rim where the body sits on it, so it can be coloured and
    shaded apart from the body.
    """
    r = width / 2
    cap = [(.55 * r, 0), (.6 * r, .06 * height), (.62 * r, .12 * height), (.6 * r, .13 * height)]
    body = [(.6 * r, .13 * height), (.68 * r, .14 * height), (.8 * r, .2 * height), (.97 * r, .35 * height),
            (r, .55 * height), (.97 * r, .8 * height), (.85 * r, .93 * height), (.6 * r, height)]
    mesh = lathe([[(0, 0), cap[0]], cap, body, [body[-1], (0, height)]], scale_z=depth / width,
                 v_stops=[0.0, None, BASE_V, 0.94, 1.0])
    mesh.base_v = BASE_V
    return mesh


def cup(radius_top: float, height: float, radius_bottom: float) -> Mesh:
    """Yoghurt cup / tub: a frustum with a lid rim; the lid (rim and top, v above cap_v) is the closure.

    radius_top is the lid rim's (the widest point), so the cup's extents are the size asked for.
    """
    rt, rb, h = radius_top / 1.04, radius_bottom, height
    mesh = lathe([[(0, 0), (rb, 0)], [(rb, 0), (rt, h * 0.93)], [(rt, h * .93), (rt * 1.04, h * .95),
                                                                  (rt * 1.04, h)], [(rt * 1.04, h), (0, h)]],
                 v_stops=[0.0, 0.06, CAP_V, None, 1.0])
    mesh.cap_v = CAP_V
    return mesh


def jar(radius: float, height: float) -> Mesh:
    """Jar with rounded shoulders and a screw lid; the lid (v above cap_v) is the closure, so glass jars can
    show their contents below it."""
    r, h = radius, height
    body = [(r * .95, 0), (r, h * .05), (r, h * .7), (r * .85, h * .8), (r * .8, h * .82)]
    lid = [(r * .84, h * .82), (r * .85, h * .84), (r * .85, h * .98), (r * .83, h)]
    mesh = lathe([[(0, 0), body[0]], body, [body[-1], lid[0]], lid, [lid[-1], (0, h)]],
                 v_stops=[0.0, 0.04, CAP_V, None, None, 1.0])
    mesh.cap_v = CAP_V
    return mesh


def ellipsoid(width: float, height: float, depth: float) -> Mesh:
    """Produce-like ellipsoid (sphere when all three sizes agree)."""
    return lathe([sphere_profile(width / 2, height, 12)], scale_z=depth / width)


ELONGATED_SQUASH_RATIO = 1.4  # height / width above which a squash is a zucchini, summer squash or butternut


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    t = min(max((x - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


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


def pouch(width: float, height: float, depth: float) -> Mesh:
    """Flexible pouch: a pillow that is wide, tall and thin."""
    profile = [(width / 2 * min(1.0, 1.3 * math.sin(math.pi * ti) ** 0.3), height * ti)
               for ti in np.linspace(0, 1, 10)]
    profile[0], profile[-1] = (0.0, 0.0), (0.0, height)
    return lathe([profile], scale_z=depth / width)


def egg_box(width: float, height: float, depth: float) -> Mesh:
    """Egg carton: a tray base with a lid of bumps (2 rows)."""
    base = box(width, height * 0.65, depth, v_range=(0.1, 0.6))
    bumps = []
    cols = max(2, int(round(width / (depth / 2))))
    r = min(width / cols, depth / 2) / 2 * 0.95
    for row in range(2):
        for col in range(cols):
            dome = lathe([sphere_profile(r, height * 0.7, 6)[3:]], segments=10)
            dome.vertices[:, 1] += height * 0.3
            dome.vertices[:, 0] += -width / 2 + (col + 0.5) * width / cols
            dome.vertices[:, 2] += -depth / 2 + (row + 0.5) * depth / 2
            dome.vertices[:, 7] = 0.6 + 0.4 * dome.vertices[:, 7]
            bumps.append(dome)
    return merge([base] + bumps)


def tray(width: float, height: float, depth: float) -> Mesh:
    """Shallow punnet/tray, slightly wider at the top (film lid included)."""
    return box(width * 0.9, height, depth * 0.9, top_width=width, top_depth=depth, v_range=(0.05, 0.3))


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


def _superellipsoid_block(width: float, height: float, depth: float, exponent: float, pinch: float,
                          cells: int = 12) -> Mesh:
    """A rounded box (|x|^e + |y|^e + |z|^e = 1, scaled), standing on y = 0, its ends (+-x) pinched in by
    `pinch` as wrapped blocks are. Sides wrap a label like box() (v 0.12-0.88), the top takes rows above."""
    t = np.sin(0.5 * math.pi * np.linspace(-1.0, 1.0, cells + 1))  # denser towards the rounded edges
    perimeter = 2 * (width + depth)
    faces = [  # (normal, U, V) with U x V = normal: the grid winds counter-clockwise seen from outside
        ((0, 0, 1), (1, 0, 0), (0, 1, 0)), ((1, 0, 0), (0, 0, -1), (0, 1, 0)), ((0, 0, -1), (-1, 0, 0), (0, 1, 0)),
        ((-1, 0, 0), (0, 0, 1), (0, 1, 0)), ((0, 1, 0), (1, 0, 0), (0, 0, -1)), ((0, -1, 0), (1, 0, 0), (0, 0, 1))]
    u_start = [0.0, width / perimeter, (width + depth) / perimeter, (2 * width + depth) / perimeter]
    u_span = [width / perimeter, depth / perimeter] * 2
    meshes = []
    a, b = np.meshgrid(t, t, indexing="ij")  # a along U, b along V
    for index, (n, uu, vv) in enumerate(faces):
        cube = np.asarray(n, float) + a[..., None] * np.asarray(uu, float) + b[..., None] * np.asarray(vv, float)
        cube = cube.reshape(-1, 3)
        point = cube / (np.sum(np.abs(cube) ** exponent, axis=1, keepdims=True) ** (1 / exponent))
        squeeze = 1 - pinch * np.abs(point[:, 0]) ** 12
        point[:, 1] *= squeeze
        point[:, 2] *= squeeze
        position = point * np.array([width / 2, height / 2, depth / 2]) + np.array([0, height / 2, 0])
        fa, fb = (a.ravel() + 1) / 2, (b.ravel() + 1) / 2
        if index < 4:
            uv = np.stack([u_start[index] + u_span[index] * fa, 0.12 + 0.76 * fb], 1)
        elif index == 4:
            uv = np.stack([fa, 0.88 + 0.12 * fb], 1)
        else:
            uv = np.stack([fa, 0.12 * fb], 1)
        vertices = np.zeros((len(position), 8), np.float32)
        vertices[:, :3], vertices[:, 6:] = position, uv
        n1 = cells + 1
        i, j = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        p00 = (i * n1 + j).ravel()
        p10, p01, p11 = p00 + n1, p00 + 1, p00 + n1 + 1
        indices = np.stack([p00, p10, p11, p00, p11, p01], 1).ravel().astype(np.uint32)
        meshes.append(Mesh(vertices, indices))
    return _smooth_normals(merge(meshes))


def _flap(corners: list, outward: np.ndarray, uv_of) -> Mesh:
    """A flat fold of wrap (triangle), wound to face `outward`, its uv taken from the surface under it."""
    corners = np.asarray(corners, np.float64)
    if np.dot(np.cross(corners[1] - corners[0], corners[2] - corners[0]), outward) < 0:
        corners = corners[::-1].copy()
    return _triangle(corners, [uv_of(c) for c in corners])


def wrapped_block(width: float, height: float, depth: float) -> Mesh:
    """A block in foil or paper wrap (butter, cheese): a slightly rounded box, the ends pinched in where the
    wrap is folded, and on each end the folded flaps (top flap folded down, bottom flap folded up over it)
    standing a little proud of the surface so their edges catch the light."""
    body = _superellipsoid_block(width, height, depth, exponent=9.0, pinch=0.08)
    perimeter = 2 * (width + depth)
    parts = [body]
    for sign in (1.0, -1.0):
        x = sign * width / 2 * 0.995
        outward = np.array([sign, 0.0, 0.0])

        def uv_of(point: np.ndarray, sign: float = sign) -> tuple[float, float]:
            # The end faces' label coordinates (same layout as the block's sides).
            fz = (0.5 - point[2] / depth) if sign > 0 else (0.5 + point[2] / depth)
            start = width / perimeter if sign > 0 else (2 * width + depth) / perimeter
            return (start + fz * depth / perimeter, 0.12 + 0.76 * point[1] / height)

        half = 0.4 * depth
        proud = min(0.004, 0.08 * height) * sign  # folded paper stands off the end: its edges catch the light
        parts.append(_flap([(x, 0.86 * height, -half), (x, 0.86 * height, half), (x + proud, 0.42 * height, 0)],
                           outward, uv_of))
        parts.append(_flap([(x + 0.3 * proud, 0.14 * height, -half), (x + 0.3 * proud, 0.14 * height, half),
                            (x + 2 * proud, 0.62 * height, 0)], outward, uv_of))
    return _fit(merge(parts), width, height, depth)


def brick_carton(width: float, height: float, depth: float) -> Mesh:
    """Tetra Brik-style carton (1 L milk, juice): a box with bevelled vertical edges, the sealed fin across the
    top, the folded ears on the two narrow sides and a screw cap near the front edge; the cap is the closure
    (v above cap_v). Proportions come from the size: the cap's diameter is about a third of the footprint's
    smaller side; the body is the height less the cap.

    Layout: like box(), the sides take v 0.12-0.88 (u along the perimeter, front face first) and the bottom the
    rows below; the top takes 0.88-0.92, the fin 0.92-0.94 and the cap the rows above cap_v = 0.94.
    """
    cap_r = min(0.3 * min(width, depth), 0.17 * max(width, depth))
    cap_h = min(0.07 * height, 1.1 * cap_r)
    body_h = height - cap_h
    c = 0.05 * min(width, depth)
    proud = 0.0008  # the ears stand this far off the narrow sides; the body is narrower by as much
    w, d = width / 2 - proud, depth / 2
    ring = [(-w + c, d), (w - c, d), (w, d - c), (w, -d + c), (w - c, -d), (-w + c, -d), (-w, -d + c), (-w, d - c)]
    lengths = [math.dist(ring[i], ring[(i + 1) % 8]) for i in range(8)]
    perimeter = sum(lengths)
    parts, u = [], 0.0
    v0, v1 = 0.12, 0.88
    for i in range(8):
        (xa, za), (xb, zb) = ring[i], ring[(i + 1) % 8]
        du = lengths[i] / perimeter
        parts.append(_quad(np.array([(xa, 0, za), (xb, 0, zb), (xb, body_h, zb), (xa, body_h, za)], float),
                           [(u, v0), (u + du, v0), (u + du, v1), (u, v1)]))
        u += du
    for y, (va, vb), flip in ((body_h, (0.88, 0.92), False), (0.0, (0.0, 0.12), True)):
        for i in range(8):
            (xa, za), (xb, zb) = ring[i], ring[(i + 1) % 8]
            corners = [(0, y, 0), (xa, y, za), (xb, y, zb)]
            uvs = [(0.5, (va + vb) / 2), (0.5 + xa / width, va + (vb - va) * (0.5 - za / depth)),
                   (0.5 + xb / width, va + (vb - va) * (0.5 - zb / depth))]
            if flip:
                corners, uvs = corners[::-1], uvs[::-1]
            parts.append(_triangle(np.array(corners, float), uvs))
    # The sealed fin across the top, behind the cap.
    fin = box(2 * w - c, 0.012 * height, 0.012 * depth, v_range=(0.0, 1.0))
    parts.append(_v_range(_move(fin, 0, body_h, -0.3 * depth), 0.92, 0.94))
    # The ears: triangles folded down onto the narrow sides, standing a little proud.
    for sign in (1.0, -1.0):
        x = sign * (w + proud)
        ear = [(x, body_h - 0.002, -d + c), (x, body_h - 0.002, d - c), (x, body_h - 0.55 * depth, 0.0)]
        parts.append(_flap(ear, np.array([sign, 0.0, 0.0]), lambda p: (0.5, 0.8)))
    # The screw cap on a low spout collar, near the front edge and to one side.
    cx = max(w - c - cap_r * 1.25 - 0.08 * width, 0.0)
    cz = d - cap_r * 1.25 - 0.05 * depth
    collar_h = min(0.25 * cap_h, 0.003)
    cap = lathe([[(0, 0), (1.2 * cap_r, 0)], [(1.2 * cap_r, 0), (1.2 * cap_r, collar_h), (cap_r, collar_h)],
                 [(cap_r, collar_h), (cap_r, cap_h * 0.95), (cap_r * 0.94, cap_h)], [(cap_r * 0.94, cap_h),
                                                                                    (0, cap_h)]], segments=20)
    parts.append(_v_range(_move(cap, cx, body_h, cz), 0.94, 1.0))
    mesh = merge(parts)
    mesh.cap_v = 0.94
    return mesh


def tube(width: float, height: float, depth: float) -> Mesh:
    """Squeeze tube (mayonnaise, tomato paste) standing on its cap: a flip-top cap (the closure, v below
    base_v), a short shoulder, a body that is round (diameter = depth) at the shoulder and flattens into the
    crimped seal (width = the seal's width) at the top (v above 0.94)."""
    r0 = depth / 2
    cap_r = 0.85 * r0
    cap_h = 0.11 * height
    shoulder_h = 0.06 * height
    seal_h = 0.07 * height
    y_body, y_seal = cap_h + shoulder_h, height - seal_h
    segments = 32
    head = lathe([[(0, 0), (cap_r * 0.92, 0)], [(cap_r * 0.92, 0), (cap_r, 0.1 * cap_h), (cap_r, cap_h)],
                  [(cap_r, cap_h), (0.55 * r0, cap_h)],
                  [(0.55 * r0, cap_h)] + _ease((0.55 * r0, cap_h), (r0, y_body), 5)], segments=segments,
                 v_stops=[0.0, None, BASE_V, None, 0.2])
    # Body: rings from round to flat; the cross-section's half-width grows to the seal's, its half-depth
    # shrinks to the seal's thickness, mostly in the upper part as a squeezed tube does.
    seal_t = max(0.06 * depth, 0.0015)
    rows = 14
    angles = np.linspace(0.0, 2 * math.pi, segments + 1)
    vertices = []
    for k in range(rows):
        t = k / (rows - 1)
        flat = _smoothstep(0.0, 1.0, t) ** 1.2
        a = r0 + (width / 2 - r0) * flat
        b = r0 + (seal_t / 2 - r0) * flat
        y = y_body + (y_seal - y_body) * t
        ring = np.zeros((segments + 1, 8), np.float32)
        ring[:, 0], ring[:, 1], ring[:, 2] = a * np.cos(angles), y, b * np.sin(angles)
        ring[:, 6], ring[:, 7] = angles / (2 * math.pi), 0.2 + 0.74 * t
        vertices.append(ring)
    quads = []
    for k in range(rows - 1):
        a_idx = k * (segments + 1) + np.arange(segments)
        b_idx = a_idx + segments + 1
        quads.append(np.stack([a_idx, b_idx, a_idx + 1, a_idx + 1, b_idx, b_idx + 1], 1).ravel())
    body = _smooth_normals(Mesh(np.concatenate(vertices), np.concatenate(quads).astype(np.uint32)))
    # Seal: a thin strip with crimp ridges across it.
    seal = [_move(box(width, seal_h, seal_t, v_range=(0.0, 1.0)), 0, y_seal, 0)]
    for k in range(4):
        y = y_seal + seal_h * (0.2 + 0.2 * k)
        seal.append(_move(box(width * 0.97, seal_h * 0.07, seal_t * 1.8, v_range=(0.0, 1.0)), 0, y, 0))
    mesh = merge([head, body] + [_v_range(part, 0.94, 1.0) for part in seal])
    mesh.base_v = BASE_V
    return mesh


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


class MeshError(ValueError):
    """A mesh file cannot be used; the message names the file and what is wrong with it."""


def load_mesh_file(path: str, size_m: tuple[float, float, float] | None = None) -> Mesh:
    """An OBJ/GLB/PLY file through trimesh, re-centred to stand on y = 0 and optionally scaled to size_m.

    Raises MeshError (naming the file) when it is missing or unreadable, holds no triangles (points or lines
    only, or nothing), has non-finite vertices, or is flat along an axis (it could not be scaled to a size).
    Scenes (GLB with several nodes) are flattened into one mesh with their node transforms.
    """
    import trimesh
    if not os.path.isfile(path):
        raise MeshError(f"{path}: mesh file does not exist")
    try:
        loaded = trimesh.load(path)
    except Exception as error:  # noqa: BLE001 - each trimesh loader raises what its parser raises
        raise MeshError(f"{path}: unreadable mesh file ({type(error).__name__}: {error})") from None
    if isinstance(loaded, trimesh.Scene):
        geometry = loaded.dump()
        triangles = [g for g in geometry if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not triangles:
            kinds = sorted({type(g).__name__ for g in geometry})
            raise MeshError(f"{path}: no faces (the file holds {', '.join(kinds) or 'no geometry'}; expected a "
                            f"triangle mesh)")
        loaded = triangles[0] if len(triangles) == 1 else trimesh.util.concatenate(triangles)
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError(f"{path}: not a triangle mesh (trimesh read a {type(loaded).__name__}: points or lines "
                        f"without faces)")
    if len(loaded.faces) == 0:
        raise MeshError(f"{path}: no faces (vertices only; expected a triangle mesh)")
    positions = np.asarray(loaded.vertices, np.float64)
    if not np.all(np.isfinite(positions)):
        raise MeshError(f"{path}: vertices that are not finite numbers (NaN or inf)")
    lower, upper = positions.min(0), positions.max(0)
    extent = upper - lower
    flat = [axis for axis, e in zip("xyz", extent) if e <= 1e-9 * max(float(extent.max()), 1e-12)]
    if flat:
        raise MeshError(f"{path}: zero extent along {', '.join(flat)} (a flat or degenerate mesh cannot be "
                        f"scaled to a product's size)")
    positions = positions - np.array([(lower[0] + upper[0]) / 2, lower[1], (lower[2] + upper[2]) / 2])
    if size_m is not None:
        positions = positions * (np.array([size_m[0], size_m[1], size_m[2]]) / extent)
    faces = np.asarray(loaded.faces, np.uint32)
    normals = np.asarray(loaded.vertex_normals, np.float64)
    uv = getattr(getattr(loaded, "visual", None), "uv", None)
    if uv is None or len(uv) != len(positions):
        uv = np.stack([np.arctan2(positions[:, 2], positions[:, 0]) / (2 * math.pi) + 0.5,
                       (positions[:, 1] - positions[:, 1].min()) / max(np.ptp(positions[:, 1]), 1e-9)], 1)
    vertices = np.concatenate([positions, normals, np.asarray(uv, np.float64)], axis=1).astype(np.float32)
    return Mesh(vertices, faces.ravel())
