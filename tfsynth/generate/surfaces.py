"""Textures of the furniture (fridge walls, kitchen tiles, wood, counter tops), keyed 'surface:NAME'.

Grey-scale patterns (RGBA uint8, tileable) that the material's colour tints; the texture cue switches them on.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

SURFACES = ("plain", "ribbed", "speckle", "tiles", "wood")
_SIZE = 128


def surface_texture(name: str) -> np.ndarray:
    """The tileable RGBA texture 'surface:NAME' (NAME in SURFACES); the same in every process."""
    if name not in SURFACES:
        raise KeyError(f"unknown surface texture {name!r}; expected one of {SURFACES}")
    rng = np.random.default_rng(SURFACES.index(name))
    y, x = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32) / _SIZE
    if name == "plain":
        value = np.full((_SIZE, _SIZE), 0.97, np.float32)
    elif name == "ribbed":  # moulded plastic with shallow vertical ribs
        value = 0.9 + 0.08 * np.abs(np.sin(x * np.pi * 8)) ** 0.5
    elif name == "speckle":  # stone or speckled plastic
        noise = rng.normal(0, 1, (_SIZE, _SIZE)).astype(np.float32)
        value = 0.85 + 0.06 * noise + 0.1 * (noise > 2.0)
    elif name == "tiles":  # 4 x 4 tiles with grout lines
        grout = (np.minimum((x * 4) % 1, (y * 4) % 1) < 0.06).astype(np.float32)
        value = 0.95 - 0.35 * grout + 0.03 * rng.normal(0, 1, (_SIZE, _SIZE)).astype(np.float32)
    else:  # wood grain: wavy streaks along u
        value = 0.8 + 0.12 * np.sin((y * 40 + 3 * np.sin(x * 6)) * np.pi) ** 2
    image = Image.fromarray(np.clip(value * 255, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    gray = np.asarray(image)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])
