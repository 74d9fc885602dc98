"""Archetype meshes (boxes, cartons, bottles, cans, produce...) as plain vertex arrays, sizes in metres.

Every mesh stands on y = 0 with its footprint centred on x = z = 0. Vertices are float32 rows of
position (3), normal (3), uv (2); triangles are counter-clockwise seen from outside. Surfaces of revolution share
one lathe builder: u runs around the axis, v along the profile from bottom to top, so a label texture wraps the
body and its top/bottom rows colour caps and bases.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

LATHE_SEGMENTS = 28


@dataclasses.dataclass
class Mesh:
    """Triangle mesh: vertices [N, 8] float32 (pos, normal, uv), indices [M] uint32, axis-aligned extents."""

    vertices: np.ndarray
    indices: np.ndarray

    @property
    def lower(self) -> np.ndarray:
        return self.vertices[:, :3].min(axis=0)

    @property
    def upper(self) -> np.ndarray:
        return self.vertices[:, :3].max(axis=0)


def merge(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh holding all the given meshes."""
    vertices, indices, offset = [], [], 0
    for mesh in meshes:
        vertices.append(mesh.vertices)
        indices.append(mesh.indices + offset)
        offset += len(mesh.vertices)
    return Mesh(np.concatenate(vertices).astype(np.float32), np.concatenate(indices).astype(np.uint32))


def lathe(pieces: Sequence[Sequence[tuple[float, float]]], segments: int = LATHE_SEGMENTS,
          scale_x: float = 1.0, scale_z: float = 1.0) -> Mesh:
    """Surface of revolution of a profile given as smooth pieces of (radius, y) points, bottom to top.

    Corners between pieces are sharp (vertices duplicated). scale_x/scale_z squash the circular cross-section
    into an ellipse (squeeze bottles, pouches).
    """
    lengths = [sum(math.dist(a, b) for a, b in zip(p[:-1], p[1:])) for p in pieces]
    total = max(sum(lengths), 1e-9)
    angles = np.linspace(0.0, 2.0 * math.pi, segments + 1)
    cos, sin = np.cos(angles), np.sin(angles)
    vertices, indices = [], []
    offset, travelled = 0, 0.0
    for piece, length in zip(pieces, lengths):
        points = np.asarray(piece, dtype=np.float64)
        tangents = np.gradient(points, axis=0) if len(points) > 2 else np.repeat(points[1:] - points[:1], 2, 0)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        for (radius, y), (dr, dy), s in zip(points, tangents, arc):
            # Outward normal of the profile: tangent (dr, dy) turned clockwise.
            nr, ny = dy, -dr
            norm = math.hypot(nr, ny) or 1.0
            nr, ny = nr / norm, ny / norm
            v = (travelled + s) / total
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
        travelled += length
    return Mesh(np.concatenate(vertices).astype(np.float32), np.concatenate(indices).astype(np.uint32))


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
    """Can-like cylinder; a bevel rounds the rims."""
    e = min(bevel, radius * 0.3, height * 0.2)
    return lathe([[(0, 0), (radius - e, 0)], [(radius - e, 0), (radius, e), (radius, height - e),
                                             (radius - e, height)], [(radius - e, height), (0, height)]])


def bottle(radius: float, height: float, profile: str = "water") -> Mesh:
    """Bottle of revolution; profile is one of water, wine, milk, soda, sauce."""
    r, h = radius, height
    shapes = {  # (fraction of radius, fraction of height) outline, bottom to top
        "water": [(1, 0), (1, .62), (.9, .72), (.55, .82), (.36, .86), (.36, .93), (.4, .93), (.4, 1)],
        "wine": [(1, 0), (1, .6), (.8, .68), (.38, .74), (.3, .8), (.3, .95), (.34, 1)],
        "milk": [(1, 0), (1, .7), (.75, .82), (.5, .88), (.5, .96), (.55, 1)],
        "soda": [(.85, 0), (1, .08), (.9, .3), (1, .5), (1, .6), (.7, .76), (.3, .86), (.3, .94), (.34, 1)],
        "sauce": [(1, 0), (1, .55), (.85, .68), (.45, .78), (.4, .9), (.45, 1)],
    }
    if profile not in shapes:
        raise ValueError(f"unknown bottle profile {profile!r}; expected one of {sorted(shapes)}")
    outline = [(fr * r, fh * h) for fr, fh in shapes[profile]]
    top_r = outline[-1][0]
    return lathe([[(0, 0), (r * 0.85, 0), (r, h * 0.02)], outline[1:], [(top_r, h), (0, h)]])


def squeeze_bottle(width: float, height: float, depth: float) -> Mesh:
    """Ketchup/mustard bottle: rounded elliptical body with a cap, standing on the cap end."""
    r = width / 2
    outline = [(.55, 0), (.6, .1), (.62, .14), (.8, .2), (.97, .35), (1, .55), (.97, .8), (.85, .93), (.6, 1)]
    pts = [(fr * r, fh * height) for fr, fh in outline]
    return lathe([[(0, 0), pts[0]], pts, [pts[-1], (0, height)]], scale_z=depth / width)


def cup(radius_top: float, height: float, radius_bottom: float) -> Mesh:
    """Yoghurt cup / tub: a frustum with a lid rim."""
    rt, rb, h = radius_top, radius_bottom, height
    return lathe([[(0, 0), (rb, 0)], [(rb, 0), (rt, h * 0.93)], [(rt, h * .93), (rt * 1.04, h * .95),
                                                                  (rt * 1.04, h)], [(rt * 1.04, h), (0, h)]])


def jar(radius: float, height: float) -> Mesh:
    """Jar with rounded shoulders and a lid."""
    r, h = radius, height
    body = [(r * .95, 0), (r, h * .05), (r, h * .7), (r * .85, h * .8), (r * .8, h * .82)]
    lid = [(r * .82, h * .82), (r * .82, h), ]
    return lathe([[(0, 0), body[0]], body, lid, [(r * .82, h), (0, h)]])


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


ARCHETYPES = ("box", "carton", "gable_top_carton", "can", "bottle", "squeeze_bottle", "jar", "cup", "tub",
              "egg_box", "tray", "pouch", "sphere", "ellipsoid", "squash")
BOTTLE_PROFILES = ("water", "wine", "milk", "soda", "sauce")


def build_mesh(archetype: str, size_m: tuple[float, float, float], profile: str = "water") -> Mesh:
    """The mesh of an archetype with (width, height, depth) in metres."""
    w, h, d = size_m
    if archetype in ("box", "carton"):
        return box(w, h, d)
    if archetype == "gable_top_carton":
        return gable_top_carton(w, h, d)
    if archetype == "can":
        return cylinder(w / 2, h, bevel=0.004)
    if archetype == "bottle":
        return bottle(w / 2, h, profile)
    if archetype == "squeeze_bottle":
        return squeeze_bottle(w, h, d)
    if archetype == "jar":
        return jar(w / 2, h)
    if archetype in ("cup", "tub"):
        return cup(w / 2, h, w / 2 * (0.78 if archetype == "cup" else 0.9))
    if archetype == "egg_box":
        return egg_box(w, h, d)
    if archetype == "tray":
        return tray(w, h, d)
    if archetype == "pouch":
        return pouch(w, h, d)
    if archetype in ("sphere", "ellipsoid"):
        return ellipsoid(w, h, d)
    if archetype == "squash":
        return squash(w, h)
    raise ValueError(f"unknown archetype {archetype!r}; expected one of {ARCHETYPES}")


def load_mesh_file(path: str, size_m: tuple[float, float, float] | None = None) -> Mesh:
    """An OBJ/GLB/PLY file through trimesh, re-centred to stand on y = 0 and optionally scaled to size_m."""
    import trimesh
    loaded = trimesh.load(path, force="mesh")
    positions = np.asarray(loaded.vertices, np.float64)
    lower, upper = positions.min(0), positions.max(0)
    positions = positions - np.array([(lower[0] + upper[0]) / 2, lower[1], (lower[2] + upper[2]) / 2])
    if size_m is not None:
        extent = np.maximum(upper - lower, 1e-9)
        positions = positions * (np.array([size_m[0], size_m[1], size_m[2]]) / extent)
    faces = np.asarray(loaded.faces, np.uint32)
    normals = np.asarray(loaded.vertex_normals, np.float64)
    uv = getattr(getattr(loaded, "visual", None), "uv", None)
    if uv is None or len(uv) != len(positions):
        uv = np.stack([np.arctan2(positions[:, 2], positions[:, 0]) / (2 * math.pi) + 0.5,
                       (positions[:, 1] - positions[:, 1].min()) / max(np.ptp(positions[:, 1]), 1e-9)], 1)
    vertices = np.concatenate([positions, normals, np.asarray(uv, np.float64)], axis=1).astype(np.float32)
    return Mesh(vertices, faces.ravel())
