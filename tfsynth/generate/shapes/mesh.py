"""The Mesh every builder returns and the geometry the builders share: merge, the lathe (surfaces of revolution),
box (the label-wrapped cuboid), and small helpers (splines, eases, normals, fitting, moving, v bands, balls, rods,
quads, triangles). Conventions: see the package docstring."""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

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


def sphere_profile(radius_x: float, height: float, rows: int = 10) -> list[tuple[float, float]]:
    t = np.linspace(-math.pi / 2, math.pi / 2, rows)
    return [(max(radius_x * math.cos(a), 0.0), height / 2 * (1 + math.sin(a))) for a in t]


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    t = min(max((x - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3 - 2 * t)
