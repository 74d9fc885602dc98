"""Where the camera stands: a person with a phone or a fixed webcam, from the whole open fridge to one product.

Shots (the viewpoint cue; off: one level camera framing the whole fridge, landscape):
| shot | share | what fills the frame | products' height in the frame |
|---|---|---|---|
| fridge | 30 % | the whole interior and a margin of cabinet and kitchen, 0.6-1.5 m away | about 5-15 % |
| shelves | 35 % | one or two shelves, 0.25-0.8 m away | about 12-40 % |
| close | 20 % | a few products, 0.12-0.4 m away | about 30-90 %, often cut by the border |
| webcam | 15 % | the shelves from a camera fixed under the ceiling or above the opening, wide angle | 5-30 % |
Phones shoot portrait (60 %) or landscape with a 63-72 degree lens (long side), held level or a little from above,
a few degrees of yaw and roll; webcams are landscape with an 80-105 degree lens. The shares follow how people
photograph a fridge's contents (mostly the shelves they care about, some whole-fridge shots, some close-ups) and
cover the scales a detector meets; SSD's anchors need every scale in training to find it in a test photo.
"""
from __future__ import annotations

import math

import numpy as np

from tfsynth.generate.fridge import Fridge
from tfsynth.generate.scene import Camera

SHOTS = {"fridge": 0.30, "shelves": 0.35, "close": 0.20, "webcam": 0.15}
PORTRAIT_SHARE = 0.6  # phone shots in portrait
_PHONE_LONG_FOV = (63.0, 72.0)  # a phone's main camera across the long side of its 4:3 frame
_WEBCAM_LONG_FOV = (80.0, 105.0)
_FIXED_LONG_FOV = 67.0
_NEAREST_Z = 0.03  # the lens stays just outside the opening (a hand reaching in would block the view)


def fov_y(long_side_fov: float, width: int, height: int) -> float:
    """Vertical field of view of a frame whose long side spans `long_side_fov` degrees (portrait or landscape)."""
    if height >= width:
        return long_side_fov
    half = math.radians(long_side_fov / 2)
    return math.degrees(2 * math.atan(math.tan(half) * height / width))


def fit_distance(half_w: float, half_h: float, fov_y_deg: float, aspect: float) -> float:
    """Distance at which a half_w x half_h rectangle just fills the frame (the tighter side decides)."""
    tan_y = math.tan(math.radians(fov_y_deg / 2))
    return max(half_h / tan_y, half_w / (tan_y * aspect))


def _aim(target: np.ndarray, yaw_deg: float, pitch_deg: float, distance: float) -> np.ndarray:
    """The eye `distance` from target, looking at it with this yaw (about y) and pitch (negative: from above),
    moved back along the line of sight if it would sit inside the fridge."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    direction = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    eye = target + direction * distance
    if eye[2] < _NEAREST_Z:
        eye = target + direction * (_NEAREST_Z - target[2]) / max(direction[2], 0.2)
    return eye


def sample_camera(rng: np.random.Generator, fridge: Fridge, product_centres: list[np.ndarray], width: int,
                  height: int, vary: bool) -> Camera:
    """A camera for the scene; `width` x `height` is the landscape frame, swapped for portrait shots."""
    hw, h, d = fridge.half_width, fridge.height, fridge.depth
    if not vary:
        fov = fov_y(_FIXED_LONG_FOV, width, height)
        dist = min(max(fit_distance(0.42, 0.72, fov, width / height), 0.6), 1.5)
        return Camera((0.0, 0.68, dist), (0.0, 0.62, -0.25), fov, width, height)
    shot = str(rng.choice(list(SHOTS), p=list(SHOTS.values())))
    if shot != "webcam" and rng.uniform() < PORTRAIT_SHARE:
        width, height = min(width, height), max(width, height)
    else:
        width, height = max(width, height), min(width, height)
    aspect = width / height
    if shot == "webcam":
        return _webcam(rng, fridge, width, height)
    fov = fov_y(float(rng.uniform(*_PHONE_LONG_FOV)), width, height)
    tan_half = math.tan(math.radians(fov / 2))
    if shot == "fridge":
        target = np.array([rng.normal(0, 0.03), h * rng.uniform(0.45, 0.55), -d * 0.3])
        fill = float(rng.uniform(0.85, 1.2))  # >1: a margin round the opening; <1: its edges just cut
        distance = min(max(fit_distance(hw + 0.06, h / 2 + 0.06, fov, aspect) * fill, 0.6), 1.5) - target[2]
        yaw, pitch = rng.uniform(-10, 10), rng.uniform(-15, 4)
    elif shot == "shelves":
        half_height = float(rng.uniform(0.14, 0.32))  # one shelf's gap to two of them, top to bottom of frame
        target = np.array([rng.uniform(-hw * 0.5, hw * 0.5), rng.uniform(0.12, h - 0.12), -d * rng.uniform(0.2, 0.45)])
        distance = half_height / tan_half
        yaw, pitch = rng.uniform(-20, 20), rng.uniform(-25, 8)
    else:  # close: a product or two, often cut by the border
        if product_centres:
            target = product_centres[int(rng.integers(len(product_centres)))] + rng.normal(0, 0.03, 3)
        else:
            target = np.array([0.0, h / 2, -d / 3])
        distance = float(rng.uniform(0.06, 0.16)) / tan_half
        yaw, pitch = rng.uniform(-30, 30), rng.uniform(-35, 10)
    eye = _aim(np.asarray(target, np.float64), yaw, pitch, distance)
    return Camera(tuple(float(c) for c in eye), tuple(float(c) for c in target), fov, width, height, near=0.02,
                  roll_deg=float(rng.normal(0, 2.0)))


def _webcam(rng: np.random.Generator, fridge: Fridge, width: int, height: int) -> Camera:
    """A camera fixed under the ceiling at the front, or above the opening outside, looking down at the shelves."""
    hw, h, d = fridge.half_width, fridge.height, fridge.depth
    fov = fov_y(float(rng.uniform(*_WEBCAM_LONG_FOV)), width, height)
    if rng.uniform() < 0.5:
        eye = np.array([rng.uniform(-hw * 0.7, hw * 0.7), h - 0.06, -0.04])
        target = np.array([eye[0] * 0.3, h * rng.uniform(0.2, 0.45), -d * rng.uniform(0.5, 0.8)])
    else:
        eye = np.array([rng.uniform(-0.1, 0.1), h + rng.uniform(0.05, 0.25), rng.uniform(0.15, 0.4)])
        target = np.array([0.0, h * rng.uniform(0.3, 0.5), -d * 0.5])
    return Camera(tuple(float(c) for c in eye), tuple(float(c) for c in target), fov, width, height, near=0.02,
                  roll_deg=float(rng.normal(0, 1.0)))
