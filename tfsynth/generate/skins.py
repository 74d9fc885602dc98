"""Produce skins: the textures of fruit and vegetables, which carry no label (see textures.py for labels).

Same layout as a label texture: square RGB uint8, row 0 is v = 1 (the top of the mesh, where the stem or calyx
sits), the last row v = 0 (the blossom end).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from tfsynth.generate.catalog import Product
from tfsynth.generate.shapes import ELONGATED_SQUASH_RATIO


def produce_skin(product: Product, rng: np.random.Generator, size: int) -> np.ndarray:
    """Skin texture of a produce product (no label): mottled base colour; stem or calyx in the top rows.

    Image row 0 is v = 1, the top of the mesh.
    """
    base = np.array(product.colors[0], np.float32)
    noise = rng.normal(0, 1, (size // 8, size // 8)).astype(np.float32)
    coarse = np.asarray(Image.fromarray(noise).resize((size, size), Image.BICUBIC))
    fine = rng.normal(0, 1, (size, size)).astype(np.float32)
    shade = 1.0 + 0.12 * coarse + 0.05 * fine
    if product.archetype == "squash":
        u = np.linspace(0, 1, size, dtype=np.float32)[None, :]
        w, h, _ = product.fixed_size_m()
        if h >= ELONGATED_SQUASH_RATIO * w:  # zucchini / summer squash / butternut: faint lengthwise streaks
            shade = shade * (1.0 - 0.12 * np.abs(np.cos(u * np.pi * 7)) ** 2)
        else:  # acorn-like: darker grooves between the ribs
            shade = shade * (1.0 - 0.25 * np.abs(np.cos(u * np.pi * 10)) ** 8)
    image = np.clip(base[None, None, :] * shade[..., None], 0, 255)
    # Image row 0 is v = 1, the top of the mesh: the stem / calyx sits there; the blossom end (v = 0) is a
    # slightly darker scar, not a dark cap (long squash lying on their side show that end).
    image[:max(size // 16, 1)] = np.array(product.colors[-1], np.float32) * 0.6
    image[-max(size // 32, 1):] *= 0.85
    return image.astype(np.uint8)
