"""`python -m tfsynth.catalog preview`: a contact sheet of every look of a catalog, rendered as the renders will.

Each look (product, then the distractors in their own section) stands alone on a neutral fridge shelf under fridge
lighting, in front of a checkered back wall (transparent materials that let the background through show the
checks), and is seen from several views, each framed from the product's own mesh so it fills the tile. The
scene goes through the project's renderer (GLRenderer, AssetLibrary) and every instance's material through
materials.instance_material, so colour tint, label placement and shading are those of the generated images.

Rendering runs in this process: it must never have imported TensorFlow (Mesa's llvmpipe and TensorFlow hang
in one process), so nothing this module imports pulls TensorFlow in.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Optional, Sequence

import numpy as np

from tfsynth.generate import materials, sampler, shapes
from tfsynth.generate.assets import AssetLibrary
from tfsynth.generate.catalog import Catalog, Product, stable_seed
from tfsynth.generate.materials import instance_material
from tfsynth.generate.scene import (Camera, Light, Material, PostEffects, Scene, SceneObject, kelvin_to_rgb,
                                    rotate_x, rotate_y, scale, translate)


@dataclasses.dataclass(frozen=True)
class View:
    """A camera view of a look: the product turned by `yaw` on the shelf, seen `pitch` degrees from above."""

    name: str
    short: str  # the column heading where tiles are too narrow for the name
    yaw: float
    pitch: float  # degrees the camera looks down (0: level with the product's middle)
    lying: bool = False  # the product on its side, as the sampler lays bottles, cans and squash


# In the order --views takes them. The product turns, not the camera, so the back wall is always behind it.
VIEWS = (
    View("front, eye level", "front", 0.0, 3.0),
    View("three-quarter, above", "3/4 above", 35.0, 32.0),
    View("side", "side", 90.0, 3.0),
    View("back, above", "back", 180.0, 18.0),
    View("lying on its side", "lying", 30.0, 28.0, lying=True),
    View("top down", "top", 20.0, 75.0),
)
DEFAULT_VIEWS = 5
# Products the sampler never lays down get another view in place of "lying on its side": lying would show a
# pose the renders never have.
_INSTEAD_OF_LYING = (View("top down", "top", 20.0, 75.0), View("back, eye level", "back", 180.0, 3.0))


def views_for(product: Product, views: Sequence[View]) -> list[View]:
    """The views of one look: `views`, with lying replaced for archetypes the sampler never lays down."""
    lying_ok = getattr(sampler, "_LYING_OK", None)  # the sampler's own set, so the two cannot drift apart
    if lying_ok is None or product.archetype in lying_ok:
        return list(views)
    names = {v.name for v in views}
    instead = next((v for v in _INSTEAD_OF_LYING if v.name not in names), _INSTEAD_OF_LYING[-1])
    return [instead if v.lying else v for v in views]
BACKDROP_KEY = "preview_backdrop"
_FOV_Y = 30.0  # narrow, like a product photo: little perspective distortion
_FILL = 0.86  # the product's extent over the tile's (a margin keeps outlines clear of the edge)
_SHELF = (0.86, 0.87, 0.88)  # the sampler's white fridge interior
# The back wall in product extents (width, height) and the side of one check: six checks span the product.
WALL_SIZE = (8.0, 6.0)
CHECK_SIZE = 1.0 / 6.0
_CHECKS = ((0.80, 0.81, 0.82), (0.55, 0.56, 0.58))  # back wall: light, low-contrast checks


class PreviewAssets(AssetLibrary):
    """The catalog's assets plus the preview's checkered back wall (a quad whose UVs repeat the checks)."""

    def __init__(self, catalog: Catalog):
        super().__init__(catalog)
        self._backdrop_texture: Optional[np.ndarray] = None

    def mesh(self, key: str) -> shapes.Mesh:
        if key == BACKDROP_KEY:
            # Unit square in x, y (bottom edge centred at the origin, facing +z). Its uv runs over as many
            # periods of the two-by-two check texture as fit the wall (the renderer's textures repeat), so the
            # checks come out square on a wall of WALL_SIZE product extents.
            u, v = WALL_SIZE[0] / (2 * CHECK_SIZE), WALL_SIZE[1] / (2 * CHECK_SIZE)
            rows = [(-0.5, 0.0, 0.0, 0, 0, 1, 0.0, 0.0), (0.5, 0.0, 0.0, 0, 0, 1, u, 0.0),
                    (0.5, 1.0, 0.0, 0, 0, 1, u, v), (-0.5, 1.0, 0.0, 0, 0, 1, 0.0, v)]
            return shapes.Mesh(np.asarray(rows, np.float32), np.array([0, 1, 2, 0, 2, 3], np.uint32))
        return super().mesh(key)

    def texture(self, key: str) -> np.ndarray:
        if key != BACKDROP_KEY:
            return super().texture(key)
        if self._backdrop_texture is None:
            # As many channels as the library's own plain texture, so the renderer uploads it the same way.
            channels = super().texture("white").shape[2]
            texel = 16
            yy, xx = np.mgrid[0:2 * texel, 0:2 * texel] // texel
            odd = ((xx + yy) % 2).astype(bool)
            image = np.empty((2 * texel, 2 * texel, channels), np.uint8)
            image[...] = 255
            light, dark = (np.round(np.asarray(c) ** (1 / 2.2) * 255).astype(np.uint8) for c in _CHECKS)
            image[~odd, :3] = light
            image[odd, :3] = dark
            self._backdrop_texture = image
        return self._backdrop_texture


@dataclasses.dataclass
class SheetLayout:
    """Where everything goes on the contact sheet; pure arithmetic, so tests can find each tile."""

    num_products: int
    num_distractors: int
    views: int
    size: int
    label_width: int = 260
    pad: int = 6
    title_height: int = 34
    section_height: int = 44
    label_height: int = 104  # the row's text (name, class, shape, size, swatches) needs this much

    @property
    def row_height(self) -> int:
        """A row's pitch: the tiles, or the label text where small tiles are shorter than it."""
        return max(self.size, self.label_height) + self.pad

    @property
    def width(self) -> int:
        return self.label_width + self.views * (self.size + self.pad) + self.pad

    def _section_top(self, section: int) -> int:
        top = self.title_height
        if section == 1:
            top += self.section_height + self.num_products * self.row_height
        return top

    @property
    def height(self) -> int:
        sections = 1 + (self.num_distractors > 0)
        rows = self.num_products + self.num_distractors
        return self.title_height + sections * self.section_height + rows * self.row_height + self.pad

    def row_top(self, section: int, row: int) -> int:
        """Top pixel of row `row` of section 0 (products) or 1 (distractors)."""
        return self._section_top(section) + self.section_height + row * self.row_height + self.pad

    def tile_box(self, section: int, row: int, view: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of one view's tile, right and bottom exclusive."""
        left = self.label_width + view * (self.size + self.pad) + self.pad
        top = self.row_top(section, row)
        return left, top, left + self.size, top + self.size


def _posed_vertices(vertices: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """(model matrix, world vertices) of the product turned for `view`, standing on y = 0 centred on x = z = 0."""
    # Lying as the sampler lays a product down: its axis (y) turned into z, then the whole turned about y.
    pose = rotate_y(view.yaw + 90.0) @ rotate_x(90.0) if view.lying else rotate_y(view.yaw)
    turned = vertices @ pose[:3, :3].T
    lower, upper = turned.min(0), turned.max(0)
    shift = translate(-(lower[0] + upper[0]) / 2, -lower[1], -(lower[2] + upper[2]) / 2)
    model = shift @ pose
    return model, vertices @ model[:3, :3].T + model[:3, 3]


def _frame(points: np.ndarray, pitch: float, fov_y: float) -> tuple[np.ndarray, np.ndarray]:
    """(eye, target) of a camera looking down by `pitch` whose square frame the points just fill (times _FILL).

    For a point at (x, y) across the view and z towards the camera from the target, it is in frame at distance
    D when |x| / (D - z) <= tan(fov / 2), likewise y: D >= z + |x| / tan. Re-centring the target on the
    projected extent and solving again settles within a few rounds.
    """
    a = math.radians(pitch)
    back = np.array([0.0, math.sin(a), math.cos(a)])  # from the target towards the camera
    right = np.array([1.0, 0.0, 0.0])
    up = np.cross(back, right)
    tan = math.tan(math.radians(fov_y) / 2) * _FILL
    target = (points.min(0) + points.max(0)) / 2
    for _ in range(4):
        rel = points - target
        x, y, z = rel @ right, rel @ up, rel @ back
        distance = float(np.max(np.maximum(z + np.abs(x) / tan, z + np.abs(y) / tan)))
        depth = distance - z
        px, py = x / depth, y / depth  # tangents of each point's angle off the axis
        cx, cy = (px.min() + px.max()) / 2, (py.min() + py.max()) / 2
        if abs(cx) < 1e-4 and abs(cy) < 1e-4:
            break
        target = target + (right * cx + up * cy) * float(np.median(depth))
    return target + back * distance, target


def preview_scene(assets: PreviewAssets, product: Product, view: View, size: int,
                  material: Optional[Material] = None, show_product: bool = True) -> Scene:
    """The scene of one tile: `product` posed for `view` on the shelf, lit like a fridge, framed to fill.

    show_product=False keeps the same shelf, wall, lights and camera without the product (an empty-shelf
    reference for the same tile).
    """
    vertices = np.asarray(assets.mesh(product.key).vertices[:, :3], np.float64)
    model, points = _posed_vertices(vertices, view)
    extent = float(np.max(points.max(0) - points.min(0)))
    s = max(extent, 0.03)  # the scene scales with the product: a grape and a water crate look alike on the sheet
    k = s / 0.25  # fixtures (shelf thickness, trim) sized as for a 25 cm product in a real fridge
    # The shelf's front edge is z = 0 with the product just behind it: the shader's fridge-interior ambient
    # applies at z < 0.08 and fades towards the back wall.
    front = float(points[:, 2].max())
    back_of_product = float(points[:, 2].min())
    move = translate(0.0, 0.0, -front - 0.06 * k)
    model = move @ model
    points = points + move[:3, 3]
    wall_z = back_of_product - front - 0.06 * k - max(0.5 * s, 0.06 * k)
    objects = []
    shelf_mat = Material(color=_SHELF, specular=0.08, shininess=24.0, kind="matte")
    thickness, width = 0.012 * k, WALL_SIZE[0] * s
    objects.append(SceneObject("cube", translate(0.0, -thickness / 2, wall_z / 2) @ scale(width, thickness, -wall_z),
                               shelf_mat))
    trim = Material(color=_SHELF, specular=0.2, shininess=40.0, kind="glossy")
    objects.append(SceneObject("cube", translate(0.0, -0.01 * k, -0.011 * k) @ scale(width, 0.028 * k, 0.022 * k),
                               trim))
    wall = Material(color=(1.0, 1.0, 1.0), texture_key=BACKDROP_KEY, specular=0.05, shininess=12.0, kind="matte")
    wall_model = translate(0.0, -0.3 * WALL_SIZE[1] * s, wall_z) @ scale(WALL_SIZE[0] * s, WALL_SIZE[1] * s, 1.0)
    objects.append(SceneObject(BACKDROP_KEY, wall_model, wall, casts_shadow=False))
    if show_product:
        # A clear pack lets the lamp through, as in the renders (materials.casts_shadow arrives with the
        # see-through materials; without it every pack casts a shadow, as the sampler then does).
        shadow = getattr(materials, "casts_shadow", lambda _: True)(product)
        objects.append(SceneObject(product.key, model, material or Material(texture_key=product.key),
                                   instance_id=1, class_name=None if product.is_distractor else product.label,
                                   casts_shadow=shadow))
    eye, target = _frame(points, view.pitch, _FOV_Y)
    distance = float(np.linalg.norm(eye - target))
    camera = Camera(tuple(float(c) for c in eye), tuple(float(c) for c in target), _FOV_Y, size, size,
                    near=max(0.2 * (distance - s), 0.005), far=distance + 20.0 * s)
    centre = (points.min(0) + points.max(0)) / 2
    top = float(points[:, 1].max())
    lights = _fridge_lights(centre, top, s)
    ambient = np.array(kelvin_to_rgb(5000)) * 0.75  # the sampler's fixed (lighting cue off) bounce light
    return Scene(camera=camera, lights=lights, objects=objects,
                 post=PostEffects(exposure=1.2, vignette=0.0, noise_sigma=0.0, blur_px=0.0),
                 ambient_sky=tuple(ambient), ambient_ground=tuple(ambient * 0.6),
                 background=(0.12, 0.12, 0.13), interior=(width, 4.0 * s, -wall_z * 1.6), shadow_light=0)


def _fridge_lights(centre: np.ndarray, top: float, s: float) -> list[Light]:
    """The sampler's fixed fridge lighting (a 4500 K lamp above, 5000 K room light from the front), placed
    around the product at its scale, with intensities corrected so the product receives what a product in a
    fridge does from a lamp 45 cm and a room light 1.4 m away (the shader's falloff is 1 / distance^2)."""
    def falloff(distance: float, size: float) -> float:
        return distance ** 2 + 0.016 + size ** 2

    lamp = np.array([0.25 * s, top + 1.4 * s, centre[2] + 0.9 * s])
    direction = centre - lamp
    lamp_distance = float(np.linalg.norm(direction))
    lamp_gain = 2.2 * falloff(lamp_distance, 0.05) / falloff(0.45, 0.05)
    warm = np.array(kelvin_to_rgb(4500))
    room = np.array([-0.8 * s, top + 1.2 * s, centre[2] + 3.0 * s])
    room_size = 0.5 * s / 0.25
    room_distance = float(np.linalg.norm(room - centre))
    room_gain = 0.8 * falloff(room_distance, room_size) / falloff(1.4, 0.5)
    return [Light("spot", tuple(float(c) for c in lamp), tuple(float(c) for c in warm * lamp_gain),
                  tuple(float(c) for c in direction / lamp_distance), 0.3, -0.2, 0.05),
            Light("area", tuple(float(c) for c in room),
                  tuple(float(c) for c in np.array(kelvin_to_rgb(5000)) * room_gain), size=room_size)]


def select_looks(catalog: Catalog, names: Optional[Sequence[str]] = None) -> tuple[list[Product], list[Product]]:
    """(products, distractors) to preview: all of them, or those `names` picks. A name is a product's or a
    distractor's name, or a class name (all of its looks). ValueError names what is not in the catalog."""
    if not names:
        return list(catalog.products), list(catalog.distractors)
    wanted = [n.strip() for n in names if n.strip()]
    known = {p.name for p in catalog.products + catalog.distractors} | set(catalog.class_names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"--products: {unknown} not in catalog {catalog.source}; expected product, distractor or "
                         f"class names such as {sorted(known)[:8]}")
    chosen = set(wanted)
    return ([p for p in catalog.products if p.name in chosen or p.label in chosen],
            [d for d in catalog.distractors if d.name in chosen])


def _refuse_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        raise RuntimeError("the catalog preview renders in this process, which has imported TensorFlow; Mesa's "
                           "llvmpipe and TensorFlow hang in one process. Run python -m tfsynth.catalog preview in "
                           "a process of its own")


def render_tiles(catalog: Catalog, looks: Sequence[Product], views: Sequence[View], size: int, cues: frozenset,
                 show_product: bool = True, progress=None) -> list[list[np.ndarray]]:
    """RGB uint8 [size, size, 3] images, one list of views per look, through the project's GL renderer.

    Each view is one instance of the look: its material comes from instance_material with a random stream of
    the look's own (the same every run), so the views show the spread of tint and label placement the enabled
    cues give the renders. show_product=False renders each tile's empty shelf (same camera and lights).
    """
    from tfsynth.generate.render_gl import GLRenderer  # moderngl only when rendering
    _refuse_tensorflow()
    assets = PreviewAssets(catalog)
    renderer = GLRenderer(size, size, "default", assets)
    tiles = []
    try:
        for index, look in enumerate(looks):
            rng = np.random.default_rng(stable_seed("preview:" + look.key))
            row = []
            for view in views_for(look, views):
                material = instance_material(look, rng, cues)
                scene = preview_scene(assets, look, view, size, material, show_product=show_product)
                row.append(renderer.render(scene).image)
            tiles.append(row)
            if progress is not None:
                progress(index + 1, len(looks), look)
    finally:
        renderer.release()
    return tiles


# Distinct colours for class names (inspect's contact sheet uses the same idea for boxes).
_CLASS_COLORS = [(255, 120, 130), (110, 220, 120), (255, 225, 90), (100, 180, 255), (255, 170, 90),
                 (200, 140, 255), (110, 235, 235), (250, 130, 240), (210, 245, 110), (250, 200, 215)]
_BACKGROUND = (30, 31, 34)
_TEXT = (235, 235, 235)
_DIM = (165, 168, 175)


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable
    except TypeError:
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _size_text(product: Product) -> str:
    parts = []
    for low, high in product.size_mm:
        parts.append(f"{low:g}" if low == high else f"{low:g}-{high:g}")
    return " x ".join(parts) + " mm"


def _draw_label(draw, product: Product, left: int, top: int, width: int, height: int, class_color) -> None:
    big, small = _font(17), _font(13)
    y = top + 4
    draw.text((left, y), _fit(draw, product.name, big, width), fill=_TEXT, font=big)
    y += 24
    if product.is_distractor:
        draw.text((left, y), "distractor (never labelled)", fill=_DIM, font=small)
    else:
        draw.text((left, y), "class ", fill=_DIM, font=small)
        offset = int(draw.textlength("class ", font=small))
        draw.text((left + offset, y), _fit(draw, product.label, _font(15), width - offset), fill=class_color,
                  font=_font(15))
    y += 20
    shape = product.archetype + (f" ({product.profile})" if product.archetype == "bottle" else "")
    if product.mesh_path:
        shape = "mesh " + os.path.basename(product.mesh_path)
    draw.text((left, y), _fit(draw, f"{shape}, {product.material}", small, width), fill=_DIM, font=small)
    y += 17
    draw.text((left, y), _fit(draw, _size_text(product), small, width), fill=_DIM, font=small)
    y += 17
    if product.texture_path:
        draw.text((left, y), _fit(draw, "label " + os.path.basename(product.texture_path), small, width),
                  fill=_DIM, font=small)
        y += 17
    swatch = 14
    if y + swatch <= top + height:
        for i, color in enumerate(product.colors[:12]):
            x = left + i * (swatch + 3)
            draw.rectangle((x, y + 2, x + swatch, y + 2 + swatch), fill=tuple(color), outline=(90, 90, 95))


def draw_sheet(layout: SheetLayout, products: Sequence[Product], distractors: Sequence[Product],
               tiles: Sequence[Sequence[np.ndarray]], views: Sequence[View], title: str):
    """The contact sheet as a PIL image: a title, then per section the view names and a row per look."""
    from PIL import Image, ImageDraw
    sheet = Image.new("RGB", (layout.width, layout.height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((layout.pad + 2, 8), _fit(draw, title, _font(17), layout.width - 2 * layout.pad), fill=_TEXT,
              font=_font(17))
    class_colors: dict[str, tuple] = {}
    sections = [("Products (labelled)", list(products)), ("Distractors (never labelled)", list(distractors))]
    tile_index = 0
    for section, (heading, looks) in enumerate(sections):
        if not looks:
            if section == 0:
                draw.text((layout.pad + 2, layout._section_top(0) + 8), "Products: none selected", fill=_DIM,
                          font=_font(17))
            continue
        top = layout._section_top(section)
        draw.line((0, top + 2, layout.width, top + 2), fill=(80, 82, 88), width=1)
        draw.text((layout.pad + 2, top + 10), heading, fill=_TEXT, font=_font(17))
        for v, view in enumerate(views):
            left, _, right, _ = layout.tile_box(section, 0, v)
            name = view.name if draw.textlength(view.name, font=_font(13)) <= layout.size else view.short
            name = _fit(draw, name, _font(13), layout.size)
            draw.text(((left + right) / 2, top + layout.section_height - 4), name, fill=_DIM, font=_font(13),
                      anchor="md")
        for row, look in enumerate(looks):
            color = class_colors.setdefault(look.label, _CLASS_COLORS[len(class_colors) % len(_CLASS_COLORS)])
            row_top = layout.row_top(section, row)
            _draw_label(draw, look, layout.pad + 2, row_top, layout.label_width - 2 * layout.pad, layout.size, color)
            for v, shown in enumerate(views_for(look, views)):
                left, tile_top, right, _ = layout.tile_box(section, row, v)
                sheet.paste(Image.fromarray(tiles[tile_index][v]), (left, tile_top))
                if shown != views[v]:  # a substitute view: say which, over the tile's top edge
                    caption = f"{shown.name} (never lies)"
                    if draw.textlength(caption, font=_font(12)) > layout.size - 8:
                        caption = shown.short
                    caption = _fit(draw, caption, _font(12), layout.size - 8)
                    box = draw.textbbox((left + 4, tile_top + 3), caption, font=_font(12))
                    draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(30, 31, 34))
                    draw.text((left + 4, tile_top + 3), caption, fill=_TEXT, font=_font(12))
            tile_index += 1
    return sheet


def preview_catalog(catalog: Catalog, output: str, num_views: int = DEFAULT_VIEWS, size: int = 192,
                    names: Optional[Sequence[str]] = None, cues: Optional[frozenset] = None,
                    progress=None) -> SheetLayout:
    """Renders every selected look from `num_views` views and writes the contact sheet PNG to `output`."""
    import io

    from tfsynth.generate.sampler import CUES
    from tfsynth.utils.files import write_atomically
    if not 1 <= num_views <= len(VIEWS):
        raise ValueError(f"--views {num_views}: expected 1 to {len(VIEWS)} ({'; '.join(v.name for v in VIEWS)})")
    if size < 32:
        raise ValueError(f"--size {size}: expected at least 32 pixels per view")
    cues = frozenset(CUES) if cues is None else cues
    products, distractors = select_looks(catalog, names)
    if not products and not distractors:
        raise ValueError(f"nothing to preview in {catalog.source}")
    views = VIEWS[:num_views]
    tiles = render_tiles(catalog, products + distractors, views, size, cues, progress=progress)
    layout = SheetLayout(len(products), len(distractors), num_views, size)
    classes = len({p.label for p in products})
    title = (f"{os.path.basename(catalog.source)}: {len(products)} looks of {classes} classes, "
             f"{len(distractors)} distractors; cues: {','.join(sorted(cues)) or 'none'}")
    sheet = draw_sheet(layout, products, distractors, tiles, views, title)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    write_atomically(output, buffer.getvalue())
    return layout
