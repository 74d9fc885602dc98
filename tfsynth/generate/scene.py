"""The scene as plain data: camera, lights, objects (mesh key, pose, material, instance id) and post effects.

Nothing here knows how to draw; the GL renderer (and any other backend) consumes these objects. World units
are metres, y up; the fridge opening faces +z and its interior spans z in [-depth, 0].
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np


@dataclasses.dataclass
class Camera:
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fov_y_deg: float
    width: int
    height: int
    near: float = 0.05
    far: float = 10.0
    roll_deg: float = 0.0

    def view_matrix(self) -> np.ndarray:
        return look_at(np.array(self.position), np.array(self.target), roll_deg=self.roll_deg)

    def projection_matrix(self) -> np.ndarray:
        return perspective(self.fov_y_deg, self.width / self.height, self.near, self.far)


@dataclasses.dataclass
class Light:
    """kind: 'point', 'spot' or 'area' (area lights are shaded as soft, wide-lobed points of size `size`)."""

    kind: str
    position: tuple[float, float, float]
    color: tuple[float, float, float]  # linear RGB, already multiplied by intensity
    direction: tuple[float, float, float] = (0.0, -1.0, 0.0)
    spot_cos_inner: float = 0.9
    spot_cos_outer: float = 0.6
    size: float = 0.0


@dataclasses.dataclass
class Material:
    """How a surface shades. texture_key names a label texture (a product key) or None for plain colour."""

    color: tuple[float, float, float] = (1.0, 1.0, 1.0)  # multiplies the texture (linear RGB)
    texture_key: Optional[str] = None
    specular: float = 0.04
    shininess: float = 16.0
    kind: str = "matte"  # matte | glossy | glass | emissive | metal
    emission: float = 0.0
    uv_offset: tuple[float, float] = (0.0, 0.0)  # label placement (texture cue)
    uv_scale: tuple[float, float] = (1.0, 1.0)  # repeats of a tiling texture across the surface (tiles, grain)
    wear: float = 0.0  # 0..1 scuffs/dirt on the label (texture cue)
    # See-through surfaces are drawn after the opaque ones, blended with what lies behind by the texture's alpha
    # times opacity (and both their sides show, the far wall through the near one).
    see_through: bool = False
    opacity: float = 1.0
    cap_kind: Optional[str] = None  # shading of the mesh's closure rows (cap, lid, capsule); None: as `kind`
    crinkle: float = 0.0  # crumpled foil: 0 smooth, about 0.3-0.6 crumpled


@dataclasses.dataclass
class SceneObject:
    """One drawable: mesh_key names a mesh the renderer caches (a product key, or 'unit_cube' etc.)."""

    mesh_key: str
    model: np.ndarray  # 4x4 float64, local -> world
    material: Material
    instance_id: int = 0  # 0 = background (never labelled)
    class_name: Optional[str] = None  # labelled products only
    casts_shadow: bool = True


@dataclasses.dataclass
class PostEffects:
    """Camera-side effects applied after rendering (the 'sensor')."""

    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 0.0  # in 0..1 units of the final 8-bit value
    blur_px: float = 0.0
    vignette: float = 0.2
    jpeg_quality: int = 90
    noise_seed: int = 0


@dataclasses.dataclass
class Scene:
    camera: Camera
    lights: list[Light]
    objects: list[SceneObject]
    post: PostEffects
    ambient_sky: tuple[float, float, float] = (0.3, 0.3, 0.3)
    ambient_ground: tuple[float, float, float] = (0.15, 0.15, 0.15)
    background: tuple[float, float, float] = (0.02, 0.02, 0.02)
    # Fridge interior box (x half-width, height, depth): ambient light falls off towards its back.
    interior: tuple[float, float, float] = (0.35, 1.2, 0.55)
    shadow_light: int = 0  # index into lights of the light that casts the shadow map, -1 for none

    @property
    def labelled(self) -> list[SceneObject]:
        return [o for o in self.objects if o.instance_id > 0]


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0), roll_deg: float = 0.0) -> np.ndarray:
    """World -> camera matrix (OpenGL convention: camera looks down -z)."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, np.float64))
    if np.linalg.norm(right) < 1e-6:
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    if roll_deg:
        a = math.radians(roll_deg)
        right, true_up = right * math.cos(a) + true_up * math.sin(a), true_up * math.cos(a) - right * math.sin(a)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = right, true_up, -forward
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2)
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = f / aspect, f
    m[2, 2], m[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def translate(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def scale(x: float, y: float, z: float) -> np.ndarray:
    return np.diag([x, y, z, 1.0])


def rotate_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    return m


def rotate_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[1, 1], m[1, 2], m[2, 1], m[2, 2] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    return m


def rotate_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    return m


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate linear RGB (max channel 1) of a black body at `kelvin` (1000-12000 K)."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * math.log(t) - 161.12 if t <= 66 else 288.12 * (t - 60) ** -0.0755
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.52 * math.log(t - 10) - 305.04)
    rgb = np.clip(np.array([r, g, b]) / 255.0, 0, 1) ** 2.2
    return tuple(float(c) for c in rgb / rgb.max())  # type: ignore
