"""Label textures: printed pack art drawn procedurally, one identity per product and several variants of it.

A texture is square RGBA uint8. Row 0 is v = 1, the top of the product (the shapes package says how each archetype
maps u and v): rows above the mesh's cap_v colour its closure (cap, lid, foil capsule), rows below its base_v the
closure it stands on, the rest is the pack. Alpha is the surface's opacity: 255 everywhere on opaque packs; on
see-through materials (glass, clear plastic, translucent) the label band stays opaque, the contents fill the lower
part and the background shows through the rest.

Identity and variants: a product's design_seed fixes what makes it recognisable (background colour scheme, layout,
logo kind, brand word); `variant` redraws the details (text, photo, barcode, stripes, label height, fill level), so
the detector sees "a labelled pack of this shape and colour", never one fixed picture. Variant 0 is the canonical
design; the sampler picks a variant per instance when the texture cue varies.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tfsynth.generate.catalog import PRODUCE, SEE_THROUGH, Product
from tfsynth.generate.skins import produce_skin

TEXTURE_SIZE = 256
LABEL_VARIANTS = 4  # variants per product; enough that no two neighbours on a shelf need look alike
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_GLYPHS = _UPPER + "abcdefghijklmnopqrstuvwxyz0123456789%&"
_FONT_CACHE: dict[int, ImageFont.ImageFont] = {}
# Box-like archetypes wrap u round their four sides in this order (shapes.box): front, right, back, left.
_BOX_LIKE = ("box", "carton", "brick_carton", "wrapped_block", "gable_top_carton", "egg_box", "tray")
_WHITE, _BLACK = (250, 250, 248), (22, 22, 24)


def _font(size: int) -> ImageFont.ImageFont:
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow without FreeType sizes: the fixed bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    return _FONT_CACHE[size]


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * factor))) for c in color)  # type: ignore


def _luma(color) -> float:
    return 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]


def _ink_on(color) -> tuple[int, int, int]:
    """Text colour readable on `color`."""
    return _BLACK if _luma(color) > 140 else _WHITE


def _word(rng: np.random.Generator, low: int, high: int) -> str:
    return "".join(rng.choice(list(_UPPER), size=int(rng.integers(low, high + 1))))


def _text_line(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list(_GLYPHS + "    "), size=length)).strip() or "A"


# --- pack-art elements ----------------------------------------------------------------------------------------
def _background(draw: ImageDraw.ImageDraw, style: np.random.Generator, size: int, palette: list) -> None:
    """The colour field: solid, two-tone, diagonal band, panel or gradient (fixed by the product's identity)."""
    main, second = palette[0], palette[1]
    kind = int(style.integers(5))
    if kind == 1:
        y = int(style.uniform(0.35, 0.65) * size)
        draw.rectangle([0, y, size, size], fill=second)
    elif kind == 2:
        x = int(style.uniform(0, size))
        draw.polygon([(x, 0), (x + size // 4, 0), (x - size // 6, size), (x - size // 2.4, size)], fill=second)
    elif kind == 3:
        draw.rounded_rectangle([size * 0.08, size * 0.22, size * 0.92, size * 0.78], radius=size // 20, fill=second)
    elif kind == 4:
        for row in range(size):
            t = row / size
            draw.line([(0, row), (size, row)], fill=tuple(int(a * (1 - t) + b * t) for a, b in zip(main, second)))


def _stripes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int, palette: list) -> None:
    for _ in range(int(rng.integers(0, 4))):
        y = int(rng.uniform(0.15, 0.85) * size)
        h = int(rng.integers(3, size // 8))
        draw.rectangle([0, y, size, y + h], fill=palette[int(rng.integers(1, len(palette)))])


def _logo(draw: ImageDraw.ImageDraw, kind: int, center: tuple[int, int], radius: int, color, outline) -> None:
    cx, cy = center
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    if kind == 0:
        draw.ellipse(box, fill=color)
    elif kind == 1:
        draw.ellipse([box[0] - radius // 3, box[1] + radius // 4, box[2] + radius // 3, box[3] - radius // 4],
                     fill=color, outline=outline, width=max(2, radius // 10))
    elif kind == 2:
        points = [(cx + (radius if k % 2 == 0 else radius * 0.45) * math.sin(math.pi * k / 5),
                   cy - (radius if k % 2 == 0 else radius * 0.45) * math.cos(math.pi * k / 5)) for k in range(10)]
        draw.polygon(points, fill=color)
    elif kind == 3:
        draw.ellipse(box, outline=color, width=max(3, radius // 5))
    elif kind == 4:  # shield
        draw.polygon([(cx - radius, cy - radius), (cx + radius, cy - radius), (cx + radius, cy + radius * 0.2),
                      (cx, cy + radius), (cx - radius, cy + radius * 0.2)], fill=color, outline=outline)
    else:  # banner
        draw.rounded_rectangle([cx - radius * 1.6, cy - radius * 0.6, cx + radius * 1.6, cy + radius * 0.6],
                               radius=radius // 3, fill=color, outline=outline, width=2)


def _photo(image: Image.Image, rng: np.random.Generator, box: tuple[int, int, int, int], palette: list) -> None:
    """A product photo on the pack: a few shaded round shapes (fruit, a scoop, a splash) and leaves on a soft
    backdrop, drawn small and blurred as printed photos look from a metre away."""
    x0, y0, x1, y1 = box
    w, h = max(x1 - x0, 8), max(y1 - y0, 8)
    photo = Image.new("RGB", (w, h), _shade(palette[int(rng.integers(len(palette)))], rng.uniform(0.9, 1.2)))
    draw = ImageDraw.Draw(photo)
    hue = np.array(palette[int(rng.integers(len(palette)))], np.float32)
    food = np.clip(hue * rng.uniform(0.6, 1.2, 3) + rng.normal(0, 30, 3), 0, 255)
    for _ in range(int(rng.integers(1, 5))):
        r = int(rng.uniform(0.15, 0.4) * min(w, h))
        cx, cy = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.3, 0.8) * h)
        for k in range(6, 0, -1):  # radial shading: darker rim, light centre
            shade = 0.55 + 0.45 * (1 - k / 6)
            rr = r * k / 6
            draw.ellipse([cx - rr - (6 - k), cy - rr - (6 - k), cx + rr, cy + rr],
                         fill=tuple(int(c * shade) for c in food))
        draw.ellipse([cx - r * 0.4, cy - r * 0.6, cx - r * 0.1, cy - r * 0.35], fill=(255, 255, 245))
    if rng.uniform() < 0.6:  # leaves or a garnish
        green = (int(rng.integers(40, 90)), int(rng.integers(110, 170)), int(rng.integers(30, 70)))
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.5) * h)
            draw.ellipse([cx - w * 0.12, cy - h * 0.05, cx + w * 0.12, cy + h * 0.05], fill=green)
    image.paste(photo.filter(ImageFilter.GaussianBlur(1.0)), (x0, y0))


def _text_block(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box, color) -> None:
    x0, y0, x1, y1 = box
    font_size = int(rng.integers(7, 11))
    font = _font(font_size)
    y = y0
    while y + font_size < y1:
        draw.text((x0, y), _text_line(rng, max(4, int((x1 - x0) / (font_size * 0.6)))), fill=color, font=font)
        y += font_size + int(rng.integers(1, 4))


def _barcode(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=_WHITE)
    x = x0 + 3
    while x < x1 - 4:
        width = int(rng.integers(1, 4))
        if rng.uniform() < 0.55:
            draw.rectangle([x, y0 + 3, x + width - 1, y1 - 8], fill=_BLACK)
        x += width
    draw.text((x0 + 4, y1 - 8), "".join(rng.choice(list("0123456789"), size=12)), fill=_BLACK, font=_font(7))


def _nutrition_table(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=_WHITE, outline=_BLACK, width=1)
    rows = int(rng.integers(4, 9))
    step = (y1 - y0) / rows
    for row in range(rows):
        y = y0 + row * step
        draw.line([(x0 + 2, y), (x1 - 2, y)], fill=_BLACK, width=1 + (row == 1))
        draw.text((x0 + 3, y + 1), _text_line(rng, 8), fill=_BLACK, font=_font(7))


def _badge(draw: ImageDraw.ImageDraw, rng: np.random.Generator, center, radius, palette) -> None:
    color = palette[int(rng.integers(len(palette)))]
    cx, cy = center
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=color, outline=_ink_on(color), width=2)
    draw.text((cx, cy), f"{int(rng.integers(5, 99))}%", fill=_ink_on(color), font=_font(max(8, radius)),
              anchor="mm")


# --- the design ---------------------------------------------------------------------------------------------
def _palette(product: Product) -> list:
    colors = [tuple(c) for c in product.colors]
    while len(colors) < 3:
        colors.append(_WHITE if _luma(colors[0]) < 160 else _BLACK)
    return colors


def _pack_art(product: Product, variant: int, size: int) -> Image.Image:
    """The printed design: identity from design_seed, details from (design_seed, variant)."""
    style = np.random.default_rng(product.design_seed)
    detail = np.random.default_rng([product.design_seed, variant])
    palette = _palette(product)
    main = palette[0]
    image = Image.new("RGB", (size, size), main)
    draw = ImageDraw.Draw(image)
    _background(draw, style, size, palette)
    _stripes(draw, detail, size, palette)
    brand = _word(style, 3, 8)
    logo_kind = int(style.integers(6))
    logo_color = palette[2] if palette[2] != main else _shade(main, 0.5)
    ink = _ink_on(main)
    # Front half (u 0-0.5): logo, brand word, photo, badge. Back half: text, nutrition table, barcode.
    front_cx = int(size * (0.25 + detail.uniform(-0.06, 0.06)))
    cy = int(size * detail.uniform(0.35, 0.55))
    radius = int(size * detail.uniform(0.06, 0.12))
    _logo(draw, logo_kind, (front_cx, cy), radius, logo_color, palette[1])
    draw.text((front_cx, cy + radius + size // 18), brand, fill=ink, font=_font(int(detail.integers(14, 26))),
              anchor="mm")
    if detail.uniform() < 0.6:
        top = int(size * detail.uniform(0.55, 0.62))
        _photo(image, detail, (int(size * 0.06), top, int(size * 0.44), top + int(size * 0.2)), palette)
    if detail.uniform() < 0.4:
        _badge(draw, detail, (int(size * detail.uniform(0.08, 0.42)), int(size * 0.25)), size // 22, palette)
    back = int(size * 0.55)
    _text_block(draw, detail, (back, int(size * 0.2), size - 6, int(size * detail.uniform(0.4, 0.5))), ink)
    if detail.uniform() < 0.7:
        top = int(size * detail.uniform(0.5, 0.58))
        _nutrition_table(draw, detail, (back, top, back + int(size * 0.18), top + int(size * 0.2)))
    if detail.uniform() < 0.8:
        top = int(size * detail.uniform(0.55, 0.68))
        left = int(size * detail.uniform(0.77, 0.82))
        _barcode(draw, detail, (left, top, left + int(size * 0.16), top + int(size * 0.12)))
    # A smaller repeat of the brand on the back, as packs carry it on every side.
    draw.text((int(size * 0.75), int(size * 0.16)), brand, fill=ink, font=_font(12), anchor="mm")
    return image


def _moulded_pulp(product: Product, variant: int, size: int) -> Image.Image:
    """Egg cartons: moulded pulp or foam in the main colour with its grain, one printed label on the lid."""
    detail = np.random.default_rng([product.design_seed, variant])
    palette = _palette(product)
    grain = detail.normal(0, 1, (size // 4, size // 4)).astype(np.float32)
    grain = np.asarray(Image.fromarray(grain).resize((size, size), Image.BICUBIC))
    base = np.array(palette[0], np.float32)[None, None, :] * (1.0 + 0.05 * grain[..., None])
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    # The lid's label (the egg domes and the lid take the upper rows of the texture).
    top = int(size * detail.uniform(0.05, 0.2))
    left = int(size * detail.uniform(0.05, 0.4))
    box = (left, top, left + int(size * detail.uniform(0.3, 0.5)), top + int(size * detail.uniform(0.12, 0.22)))
    label_color = palette[int(detail.integers(1, len(palette)))]
    draw.rectangle(box, fill=label_color)
    draw.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), _word(np.random.default_rng(product.design_seed), 3, 7),
              fill=_ink_on(label_color), font=_font(14), anchor="mm")
    return image


def _punnet_contents(image: Image.Image, product: Product, variant: int, size: int) -> None:
    """A punnet's top rows: a heap of round pieces in the contents' colour (mushrooms, berries, cherry tomatoes)
    seen through its film, with a small printed sticker; the sides keep the pack art (the punnet)."""
    detail = np.random.default_rng([product.design_seed, variant, 2])
    draw = ImageDraw.Draw(image)
    color = np.array(product.contents_color, np.float32)
    rows = int(size * 0.7)  # a tray's top takes the texture rows above its sides' band (shapes.tray)
    draw.rectangle([0, 0, size, rows], fill=tuple(int(c * 0.55) for c in color))
    for _ in range(int(detail.integers(25, 45))):
        radius = int(size * detail.uniform(0.05, 0.1))
        cx, cy = int(detail.uniform(0, size)), int(detail.uniform(0, rows))
        for k in range(4, 0, -1):  # shaded: lit centre, darker rim
            shade = 0.7 + 0.35 * (1 - k / 4) + detail.normal(0, 0.04)
            rr = radius * k / 4
            draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=tuple(int(min(255, c * shade)) for c in color))
    if detail.uniform() < 0.8:
        left, top = int(size * detail.uniform(0.1, 0.6)), int(rows * detail.uniform(0.2, 0.6))
        sticker = _palette(product)[1]
        draw.rectangle([left, top, left + size // 4, top + size // 8], fill=sticker)
        draw.text((left + size // 8, top + size // 16), _word(detail, 3, 6), fill=_ink_on(sticker), font=_font(10),
                  anchor="mm")


def _closure_rows(image: np.ndarray, product: Product, detail: np.random.Generator, cap_v: Optional[float],
                  base_v: Optional[float]) -> None:
    """Colours the closure rows: above cap_v (cap, lid, capsule) and below base_v (a cap the pack stands on)."""
    size = image.shape[0]
    palette = _palette(product)
    cap_color = palette[int(detail.integers(1, len(palette)))] if detail.uniform() < 0.7 else _WHITE
    cap_color = product.cap_color or cap_color
    if cap_v is not None:
        image[:max(1, int(round((1.0 - cap_v) * size)))] = cap_color
    if base_v is not None:
        image[size - max(1, int(round(base_v * size))):] = cap_color


def _see_through(art: np.ndarray, product: Product, detail: np.random.Generator) -> np.ndarray:
    """Glass, clear or translucent plastic: an opaque label band (sometimes none), contents up to the fill
    level, the bare wall above it; alpha is the opacity the renderer blends with what lies behind."""
    size = art.shape[0]
    rgba = np.empty((size, size, 4), np.float32)
    contents = np.array(product.contents_color, np.float32)
    clear = product.clear_contents
    u = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    rows = np.arange(size, dtype=np.float32)[:, None]
    # Streaks where the curved wall bends the light, and the ribs of PET bottles.
    streaks = 1.0 - 0.16 * np.abs(np.sin(u * np.pi * 6 + float(detail.uniform(0, np.pi)))) ** 3
    ribs = 1.0 - 0.1 * (np.sin(rows * 2 * np.pi / max(size // 24, 2)) > 0.7) if product.material == "clear_plastic" \
        else 1.0
    fill = float(detail.uniform(*product.fill))
    fill_row = int(round((1.0 - fill) * size))  # rows below this hold contents (row 0 is the top)
    wall_alpha = {"glass": 0.22, "clear_plastic": 0.12, "translucent": 0.7}[product.material]
    wall = np.array([235.0, 242.0, 240.0], np.float32) if product.material != "translucent" else \
        np.array([236.0, 236.0, 230.0], np.float32)
    rgba[..., :3] = wall
    rgba[..., 3] = wall_alpha
    if clear:  # water: a faint tint, a little more opaque than the bare wall
        inside_rgb, inside_alpha = contents * 0.5 + 120.0, wall_alpha + 0.1
    else:  # juice, sauce, pickles: their own colour, nearly opaque
        inside_rgb, inside_alpha = contents, 0.88 if product.material != "translucent" else 0.92
    rgba[fill_row:, :, :3] = inside_rgb
    rgba[fill_row:, :, 3] = inside_alpha
    rgba[..., :3] *= (streaks * ribs)[..., None] if np.ndim(ribs) else streaks[..., None]
    # The label band: a random height band (some bottles carry only a neck label or none at all).
    if detail.uniform() < 0.9:
        top = int(size * detail.uniform(0.25, 0.45))
        bottom = int(size * detail.uniform(0.55, 0.8))
        rgba[top:bottom, :, :3] = art[top:bottom]
        rgba[top:bottom, :, 3] = 1.0
    rgba[..., 3] *= 255.0
    return np.clip(rgba, 0, 255).astype(np.uint8)


def _surface_finish(art: np.ndarray, product: Product, detail: np.random.Generator) -> np.ndarray:
    """Paper: fibres and a muted print; foil: an embossed sheen pattern over the print; others: as printed."""
    size = art.shape[0]
    art = art.astype(np.float32)
    if product.material == "paper":
        fibres = detail.normal(0, 1, (size, size)).astype(np.float32)
        fibres = (fibres + np.roll(fibres, 1, axis=1) + np.roll(fibres, 1, axis=0)) / 3.0  # short fibres
        art = art * (0.94 + 0.05 * fibres[..., None]) * 0.97 + 6.0
    elif product.material == "foil":
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        emboss = 0.85 + 0.15 * np.sin((xx + yy) * 2 * np.pi / 16) * np.sin((xx - yy) * 2 * np.pi / 16)
        art = art * emboss[..., None]
    return np.clip(art, 0, 255).astype(np.uint8)


def _paste_faces(image: Image.Image, product: Product, cap_v: Optional[float], base_v: Optional[float]) -> None:
    """The user's own label images, each over its face's region of the texture."""
    size = image.size[0]
    top_row = int(round((1.0 - (cap_v if cap_v is not None else 0.88)) * size))
    bottom_row = size - int(round((base_v if base_v is not None else 0.12) * size))
    if product.archetype in _BOX_LIKE:
        width, _, depth = product.fixed_size_m()
        perimeter = 2 * (width + depth)
        edges = np.cumsum([0.0, width, depth, width, depth]) / perimeter
        columns = {face: (edges[i], edges[i + 1]) for i, face in enumerate(("front", "right", "back", "left"))}
    else:  # round packs: the front is the half of the wrap facing +z at yaw 0, the back the other half
        columns = {"front": (0.0, 0.5), "back": (0.5, 1.0), "left": (0.75, 1.0), "right": (0.25, 0.5)}
    regions = {face: (int(a * size), top_row, max(int(b * size), int(a * size) + 1), bottom_row)
               for face, (a, b) in columns.items()}
    regions["wrap"] = (0, top_row, size, bottom_row)
    regions["top"] = (0, 0, size, max(top_row, 1))
    regions["bottom"] = (0, bottom_row, size, size)
    for face, path in product.texture_faces:
        x0, y0, x1, y1 = regions[face]
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        with Image.open(path) as picture:
            image.paste(picture.convert("RGB").resize((x1 - x0, y1 - y0), Image.BILINEAR), (x0, y0))


def label_texture(product: Product, variant: int = 0, size: int = TEXTURE_SIZE, cap_v: Optional[float] = None,
                  base_v: Optional[float] = None) -> np.ndarray:
    """RGBA uint8 [size, size, 4] texture of one variant of a product: a produce skin, the catalog's own label
    image, or procedural pack art; identical in every process and run for the same arguments.

    cap_v / base_v: the mesh's closure rows (shapes.Mesh), coloured as caps and lids.
    """
    detail = np.random.default_rng([product.design_seed, variant, 1])
    if product.archetype in PRODUCE:
        skin = produce_skin(product, np.random.default_rng([product.design_seed, variant]), size)
        return np.dstack([skin, np.full(skin.shape[:2], 255, np.uint8)])
    if product.texture_path:
        with Image.open(product.texture_path) as picture:
            image = picture.convert("RGB").resize((size, size), Image.BILINEAR)
    elif product.archetype == "egg_box":
        image = _moulded_pulp(product, variant, size)
        _paste_faces(image, product, cap_v, base_v)
    else:
        image = _pack_art(product, variant, size)
        if product.archetype == "tray" and product.contents is not None:
            _punnet_contents(image, product, variant, size)
        _paste_faces(image, product, cap_v, base_v)
    art = np.asarray(image.filter(ImageFilter.SMOOTH)).copy()
    if not product.texture_path:
        _closure_rows(art, product, detail, cap_v, base_v)
    if product.material in SEE_THROUGH and not (product.archetype == "tray" and product.contents is not None):
        return _see_through(art, product, detail)  # (a punnet's film shows its drawn contents instead)
    art = _surface_finish(art, product, detail)
    return np.dstack([art, np.full(art.shape[:2], 255, np.uint8)])
