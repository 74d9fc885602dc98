"""Meshes of packaged goods: boxes and cartons, cans, bottles and their profiles, squeeze bottles, cups and tubs,
jars, pouches, egg boxes, trays, wrapped blocks, brick cartons, tubes. Conventions: see the package docstring."""
from __future__ import annotations

import math

import numpy as np

from tfsynth.generate.shapes.mesh import (BASE_V, CAP_V, Mesh, _ease, _fit, _move, _quad, _smooth_normals,
                                          _smoothstep, _triangle, _v_range, box, lathe, merge, sphere_profile)

BOTTLE_PROFILES = ("water", "wine", "sparkling", "milk", "soda", "sauce", "narrow_neck")


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
