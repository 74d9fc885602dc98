"""Procedural label textures: colour fields, stripes, logos and text-like glyphs, one design per product.

The texture is square; its bottom rows colour the base and its top rows the cap or lid (see shapes.py for how
each archetype maps u, v). Produce gets a mottled skin instead of a label.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tfsynth.generate.catalog import PRODUCE, Product
from tfsynth.generate.skins import produce_skin

TEXTURE_SIZE = 256
_GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%&"
_FONT_CACHE: dict[int, ImageFont.ImageFont] = {}


def _font(size: int) -> ImageFont.ImageFont:
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow without FreeType sizes: the fixed bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    return _FONT_CACHE[size]


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * factor))) for c in color)  # type: ignore


def label_texture(product: Product, size: int = TEXTURE_SIZE) -> np.ndarray:
    """RGB uint8 [size, size, 3] texture of a product: its label image when the catalog names one, else a
    procedural design drawn from product.design_seed (identical in every process and run)."""
    if product.texture_path:
        with Image.open(product.texture_path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    rng = np.random.default_rng(product.design_seed)
    if product.archetype in PRODUCE:
        return produce_skin(product, rng, size)
    colors = list(product.colors) + [(250, 250, 250), (20, 20, 20)]
    main, second, third = colors[0], colors[1], colors[2]
    image = Image.new("RGB", (size, size), main)
    draw = ImageDraw.Draw(image)
    # Image row 0 is v = 1 (the top of the product); cap band there, base band at the bottom.
    cap = int(size * 0.12)
    layout = int(rng.integers(4))
    if layout == 0:  # horizontal stripes
        for _ in range(int(rng.integers(1, 4))):
            y = int(rng.integers(cap, size - cap))
            h = int(rng.integers(6, 40))
            draw.rectangle([0, y, size, y + h], fill=colors[int(rng.integers(1, len(colors) - 1))])
    elif layout == 1:  # two-tone split
        y = int(rng.integers(size // 3, 2 * size // 3))
        draw.rectangle([0, y, size, size], fill=second)
    elif layout == 2:  # diagonal band
        x = int(rng.integers(0, size))
        draw.polygon([(x, cap), (x + 60, cap), (x - 40, size - cap), (x - 100, size - cap)], fill=second)
    else:  # panel
        draw.rounded_rectangle([size * 0.1, size * 0.25, size * 0.9, size * 0.75], radius=12, fill=second)
    # Logo: a disc, ellipse, star-like polygon or ring, repeated on both halves so it shows from any side.
    logo_kind = int(rng.integers(4))
    logo_color = third if third != main else _shade(main, 0.5)
    radius = int(rng.integers(16, 36))
    cy = int(rng.integers(size // 3, 2 * size // 3))
    for cx in (size // 4, 3 * size // 4):
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        if logo_kind == 0:
            draw.ellipse(box, fill=logo_color)
        elif logo_kind == 1:
            draw.ellipse([box[0] - 10, box[1] + 8, box[2] + 10, box[3] - 8], fill=logo_color, outline=second,
                         width=3)
        elif logo_kind == 2:
            points = []
            for k in range(10):
                r = radius if k % 2 == 0 else radius * 0.45
                a = np.pi * k / 5
                points.append((cx + r * np.sin(a), cy - r * np.cos(a)))
            draw.polygon(points, fill=logo_color)
        else:
            draw.ellipse(box, outline=logo_color, width=6)
    # Text-like glyphs: a brand word near the logo and rows of small print.
    word = "".join(rng.choice(list(_GLYPHS[:26]), size=int(rng.integers(3, 8))))
    text_color = (20, 20, 20) if sum(main) > 380 else (245, 245, 245)
    for cx in (size // 4, 3 * size // 4):
        draw.text((cx, cy + radius + 14), word, fill=text_color, font=_font(int(rng.integers(14, 24))),
                  anchor="mm")
    small = _font(9)
    for row in range(int(rng.integers(1, 4))):
        line = "".join(rng.choice(list(_GLYPHS + "  "), size=40))
        draw.text((4, size - cap - 14 - 11 * row), line, fill=text_color, font=small)
    # Cap and base bands.
    draw.rectangle([0, 0, size, cap], fill=colors[int(rng.integers(1, 3))])
    draw.rectangle([0, size - cap // 2, size, size], fill=_shade(main, 0.8))
    if product.material == "glass":
        return _glass_texture(np.asarray(image), main, cap, rng)
    return np.asarray(image.filter(ImageFilter.SMOOTH))


def is_clear_contents(color: tuple[int, int, int]) -> bool:
    """A light, nearly grey main colour means clear contents (water, clear soda), not a coloured sauce."""
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return luma > 185 and max(color) - min(color) < 60


def _glass_texture(label: np.ndarray, main: tuple[int, int, int], cap: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Glass or PET: the label covers a middle band only; elsewhere the contents show through the wall.

    Clear contents let the bright fridge interior through: a pale, faintly tinted body a little darker than the
    walls, with lengthwise streaks where the curved wall bends the background, and the thin horizontal ribs
    of PET bottles. Coloured contents (ketchup, mustard) show their own colour, darker at the wall's streaks.
    """
    size = label.shape[0]
    u = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :, None]
    v_rows = np.arange(size, dtype=np.float32)[:, None, None]
    streaks = 1.0 - 0.18 * np.abs(np.sin(u * np.pi * 6 + float(rng.uniform(0, np.pi)))) ** 3
    if is_clear_contents(main):
        body = np.array(main, np.float32) * 0.3 + 140.0
        ribs = 1.0 - 0.1 * (np.sin(v_rows * 2 * np.pi / max(size // 24, 2)) > 0.7)
        array = np.clip(body[None, None, :] * streaks * ribs, 0, 255)
    else:
        array = np.clip(np.array(main, np.float32)[None, None, :] * streaks * np.ones_like(v_rows), 0, 255)
    array = np.broadcast_to(array, label.shape).astype(np.uint8).copy()
    band = slice(int(size * 0.35), int(size * 0.7))
    array[band] = label[band]
    array[:cap] = label[:cap]
    return array
