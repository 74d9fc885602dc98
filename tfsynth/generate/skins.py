"""Produce skins: the textures of fruit and vegetables, which carry no label (see textures.py for labels).

Same layout as a label texture: square RGB uint8, row 0 is v = 1 (the top of the mesh, where the stem or calyx
sits), the last row v = 0 (the blossom end). Each archetype's mesh (the shapes package) puts its parts in fixed v bands
and its skin paints those bands: the pepper's and pear's stems, the tomato's calyx and stem, the cluster's fruit,
calyxes and vine, the net bag's fruit under the net, gathered net, tag and clip.

Colours come from product.colors: the first is the skin; the last (when there is more than one) the stem, calyx,
vine or clip, else a sensible green or brown. Everything random comes from the rng the caller seeds with the
product's design seed, so a skin is the same in every process.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from tfsynth.generate.catalog import Product
from tfsynth.generate.shapes import ELONGATED_SQUASH_RATIO, pepper_lobes

_LEAF_GREEN = (62, 112, 40)
_STEM_BROWN = (100, 76, 46)


def _rows(size: int, v_high: float, v_low: float) -> slice:
    """The image rows of the band v_low..v_high (row 0 is v = 1)."""
    return slice(int(math.floor((1.0 - v_high) * size)), int(math.ceil((1.0 - v_low) * size)))


def _accent(product: Product, default: tuple[int, int, int]) -> np.ndarray:
    """Stem / calyx / vine / clip colour: the product's last colour when it has more than one, else `default`."""
    return np.array(product.colors[-1] if len(product.colors) > 1 else default, np.float32)


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise (about `cells` blobs across), zero mean, unit-ish spread."""
    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))


def _luma(color: np.ndarray) -> float:
    return float(0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2])


def produce_skin(product: Product, rng: np.random.Generator, size: int) -> np.ndarray:
    """Skin texture of a produce product (no label): a mottled base colour, and per archetype the stem, calyx,
    streaks, net or tag in the bands its mesh maps there.

    Image row 0 is v = 1, the top of the mesh.
    """
    base = np.array(product.colors[0], np.float32)
    painter = _PAINTERS.get(product.archetype)
    if painter is not None:
        image = painter(product, base, rng, size)
        return np.clip(image, 0, 255).astype(np.uint8)
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


def _mottled(base: np.ndarray, rng: np.random.Generator, size: int, coarse: float, fine: float) -> np.ndarray:
    """The base colour with blotches (`coarse`) and grain (`fine`): smooth glossy skins take little of either."""
    shade = 1.0 + coarse * _noise(rng, size, max(size // 8, 2)) + fine * rng.normal(0, 1, (size, size))
    return base[None, None, :] * shade[..., None].astype(np.float32)


def _bell_pepper(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Glossy and smooth, a little darker in the creases between the lobes; green stem on top (v > 0.92)."""
    image = _mottled(base, rng, size, 0.05, 0.015)
    w, _, d = product.fixed_size_m()
    u = np.linspace(0, 1, size, dtype=np.float32)[None, :]
    crease = 1.0 - np.abs(np.cos(pepper_lobes(w, d) * np.pi * u)) ** 0.7
    image *= (1.0 - 0.18 * crease ** 3)[..., None]
    stem = _accent(product, _LEAF_GREEN)
    image[_rows(size, 1.0, 0.92)] = stem * (0.85 + 0.15 * _noise(rng, size, 6)[_rows(size, 1.0, 0.92), :, None])
    return image


def _pear(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Pear: smooth with fine lenticel speckles and a soft blush. Avocado-like colours (dark, greenish or near
    black) get the pebbled skin: dense bumps, lit on one side, with paler tips. Brown stem on top (v > 0.94)."""
    dark_green = _luma(base) < 95 and base[1] >= base[2]
    if dark_green:
        image = _mottled(base, rng, size, 0.1, 0.02)
        bumps = _noise(rng, size, size // 4)
        # Lit from the upper left: the slope of the bumps brightens one side of each and darkens the other.
        relief = np.diff(bumps, axis=1, append=bumps[:, :1]) + np.diff(bumps, axis=0, append=bumps[:1, :])
        image *= (1.0 + 0.6 * np.clip(relief, -1.2, 1.2))[..., None]
        tips = (bumps > 1.0).astype(np.float32)
        image += (0.25 * tips)[..., None] * (np.array([150, 160, 90], np.float32) - image)
    else:
        image = _mottled(base, rng, size, 0.08, 0.03)
        blush = np.clip(_noise(rng, size, 3), 0, None)
        image *= (1.0 - 0.12 * blush)[..., None] * np.array([1.05, 0.9, 0.9], np.float32)
        speckle = rng.uniform(0, 1, (size, size)) < 0.02
        image[speckle] = image[speckle] * 0.75 + 40
    image[_rows(size, 1.0, 0.94)] = _accent(product, _STEM_BROWN)
    return image


def _oval(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Mango, papaya, lemon: smooth, a warmer blush over part of one side, fine pores; a small stem scar at the
    stem end (v = 1) and a darker tip (v = 0)."""
    image = _mottled(base, rng, size, 0.07, 0.035)
    u = np.linspace(0, 1, size, dtype=np.float32)[None, :]
    v = np.linspace(1, 0, size, dtype=np.float32)[:, None]
    side = float(rng.uniform(0, 1))
    blush = np.clip(np.cos(2 * np.pi * (u - side)), 0, 1) * np.clip(v * 1.2, 0, 1) * float(rng.uniform(0.2, 0.6))
    warm = base * np.array([1.05, 0.62, 0.5], np.float32)
    image += blush[..., None] * (warm - image)
    image[_rows(size, 1.0, 0.975)] = _accent(product, _STEM_BROWN) * 0.8
    image[_rows(size, 0.02, 0.0)] *= 0.8
    return image


def _tomato(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Glossy and even, the shoulders round the stem a little paler; the green calyx (v 0.9-0.95) and stem
    (v > 0.95) on top."""
    image = _mottled(base, rng, size, 0.04, 0.015)
    v = np.linspace(1, 0, size, dtype=np.float32)[:, None]
    shoulder = np.clip((v - 0.7) / 0.18, 0, 1) * 0.25
    image += shoulder[..., None] * (np.array([200, 170, 60], np.float32) - image)
    green = _accent(product, _LEAF_GREEN)
    calyx = _rows(size, 0.95, 0.88)
    image[calyx] = green * (0.9 + 0.1 * _noise(rng, size, 8)[calyx, :, None])
    image[_rows(size, 1.0, 0.95)] = green * 0.8
    return image


def _onion(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Papery skin: streaks running from the root to the tip (along v), a few darker veins, the dry neck
    darker and the root plate (v < 0.04) a pale brown."""
    streaks = np.asarray(Image.fromarray(rng.normal(0, 1, (4, size // 2)).astype(np.float32))
                         .resize((size, size), Image.BICUBIC))
    veins = (np.abs(np.sin(np.linspace(0, 2 * np.pi * rng.integers(14, 22), size)))[None, :] < 0.06)
    shade = 1.0 + 0.1 * streaks - 0.18 * veins + 0.05 * _noise(rng, size, 6)
    image = base[None, None, :] * shade[..., None].astype(np.float32)
    v = np.linspace(1, 0, size, dtype=np.float32)[:, None, None]
    neck = np.clip((v - 0.82) / 0.15, 0, 1)
    image *= 1.0 - 0.3 * neck  # the dry neck is darker
    root = _rows(size, 0.04, 0.0)
    image[root] = np.array([170, 140, 100], np.float32) * (0.85 + 0.15 * rng.uniform(0, 1, image[root].shape[:2]))[
        ..., None]
    return image


def _cluster(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Glossy fruit (v <= 0.86), small green calyxes (0.86-0.92) and the vine (above 0.92)."""
    image = _mottled(base, rng, size, 0.05, 0.02)
    green = _accent(product, _LEAF_GREEN)
    image[_rows(size, 0.92, 0.86)] = green
    image[_rows(size, 1.0, 0.92)] = green * 0.85 + np.array([12, 8, 0], np.float32)
    return image


def _net_bag(product: Product, base: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Fruit under a diamond-mesh net (v <= 0.8), the gathered net (0.8-0.88: mostly net), a printed header tag
    (0.88-0.94: light card, a colour band, text-like marks) and the clip (above 0.94).

    Net colour: the second colour when there is one (red, orange, yellow, green nets are common), else red; the
    tag's band the third, else green; the clip the last, else yellow.
    """
    fruit = _mottled(base, rng, size, 0.08, 0.03)
    net = np.array(product.colors[1] if len(product.colors) > 1 else (200, 40, 30), np.float32)
    u = np.linspace(0, 1, size, endpoint=False, dtype=np.float32)[None, :]
    v = np.linspace(1, 0, size, dtype=np.float32)[:, None]
    # Diamonds: two families of diagonal strands over each fruit's u (around) and v (pole to pole, 0..0.8).
    a, b = u * 10 + v / 0.8 * 5, u * 10 - v / 0.8 * 5
    strand = np.maximum(np.clip(1 - np.abs(a - np.round(a)) / 0.09, 0, 1),
                        np.clip(1 - np.abs(b - np.round(b)) / 0.09, 0, 1))
    shadow = np.maximum(np.clip(1 - np.abs(a - np.round(a)) / 0.18, 0, 1),
                        np.clip(1 - np.abs(b - np.round(b)) / 0.18, 0, 1))
    image = fruit * (1 - 0.25 * shadow[..., None])
    image += strand[..., None] * (net - image)
    gathered = _rows(size, 0.88, 0.8)
    dense = np.abs(np.sin(u * np.pi * 40)) ** 2 * np.ones_like(v)
    image[gathered] = (net * (0.75 + 0.25 * dense[gathered, :, None]) * 0.9 + fruit[gathered] * 0.1)
    tag = _rows(size, 0.94, 0.88)
    card = np.array([245, 243, 235], np.float32)
    image[tag] = card
    band = np.array(product.colors[2] if len(product.colors) > 2 else (40, 120, 50), np.float32)
    rows = np.arange(size)[tag]
    image[rows[: max(len(rows) // 3, 1)]] = band
    marks = rng.uniform(0, 1, (len(rows), size // 6 + 1)) < 0.35  # text-like runs of dark cells
    marks = np.repeat(marks, 6, axis=1)[:, :size]
    lower = rows[len(rows) // 2:]
    image[lower] = np.where(marks[len(rows) // 2:, :, None], np.float32(40), image[lower])
    image[_rows(size, 1.0, 0.94)] = _accent(product, (230, 190, 30)) * 0.9
    return image


_PAINTERS = {"bell_pepper": _bell_pepper, "pear": _pear, "oval": _oval, "tomato": _tomato, "onion": _onion,
             "cluster": _cluster, "net_bag": _net_bag}
