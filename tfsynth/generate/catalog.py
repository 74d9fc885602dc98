"""Product catalog: what can stand in the fridge, read from YAML or made procedurally.

A YAML catalog looks like:

    products:
      - name: ketchup               # product name (its identity); also its class unless `class` is given
        class: ketchup              # optional: several products (looks) may share one labelled class
        archetype: squeeze_bottle   # or `mesh: path/to/model.obj|glb|ply`
        size_mm: {width: [60, 66], height: [190, 200], depth: [42, 46]}   # number or [min, max]
        colors: [[200, 20, 20], [250, 250, 240]]   # RGB 0-255 or '#rrggbb' (see Colours below)
        material: glossy            # matte | glossy | glass | clear_plastic | translucent | foil | metal | paper
        profile: water              # bottles only: water, wine, sparkling, milk, soda, sauce, narrow_neck
        texture: labels/ketchup.png # optional label image (relative to the YAML file), wrapped round the product,
                                    # or per face: {front: f.png, back: b.png, top: t.png} (faces: LABEL_FACES)
        cap: [250, 250, 240]        # optional colour of the cap, lid or capsule (default: from the colours)
        contents: [180, 20, 20]     # see-through packs and punnets: what is inside, a colour or 'clear' (water)
        fill: [0.6, 0.95]           # see-through packs: how full, as a fraction of the height along the outline
    distractors:
      - {name: lemon_d, archetype: sphere, size_mm: {width: 60}, colors: [[240, 220, 40]]}

Colours. Packs: colors[0] is the pack's background colour, colors[1] its second colour (a panel, band or half of
the label, depending on the design), colors[2] the logo; text is black or white, whichever reads on colors[0].
The design (layout, logo shape, brand word) follows from the product's name, and every render picks one of
textures.LABEL_VARIANTS variants of it (other text, photo, barcode place) when the texture cue varies. Produce:
colors[0] is the skin, the last colour the stem or calyx. Egg boxes: colors[0] is the moulded pulp or foam,
another colour the lid's printed label.

See-through packs (glass, clear_plastic, translucent): the body below the fill level shows `contents` (drawn
nearly opaque; write `contents: clear` for water or clear soda, whose background shows through), the bare wall
above it, and one opaque label band. Without `contents`, colors[0] is the contents, read as clear when it is light
and nearly grey (a light grey like milk or mayonnaise must be given as `contents` to stay opaque). Punnets (tray)
with `contents` show a heap of round pieces in that colour under their film on top (mushrooms, berries, cherry
tomatoes), the punnet's colours on the sides.

Archetypes (pick the one whose line names your product; size_mm is width x height x depth as it stands):

    box               card boxes: cereal, tea, cheese slices, chocolates, frozen meals
    carton            small cartons and juice boxes (a box with cream/juice proportions)
    gable_top_carton  gable-top milk, juice and cream cartons (pitched roof with a fin)
    brick_carton      Tetra Brik cartons with a screw cap: 1 L milk, juice, plant drinks (about 95 x 195 x 65)
    can               drink and food cans: soda, beer, soup, tomatoes
    bottle            bottles of revolution, shaped by `profile`: water (PET water, juice), wine (long-neck wine),
                      sparkling (champagne, cava: heavy body, foil over a bulbous top), milk (round milk or
                      drinking-yoghurt bottle), soda (waisted PET soda), sauce (soy, vinegar, dressing),
                      narrow_neck (hot sauce, small syrups: slim body, long narrow neck)
    squeeze_bottle    ketchup, mustard, mayonnaise, honey bottles standing on their flip-top cap (an upright
                      sauce bottle is a `bottle` with `profile: sauce`)
    tube              squeeze tubes standing on their cap: mayonnaise, tomato paste, mustard, anchovy paste
    jar               jars with a screw lid: jam, pickles, pasta sauce, peanut butter, baby food
    cup               yoghurt and dessert cups: tapered, with a sealed lid
    tub               wide tubs: margarine, cream cheese, ice cream, hummus, deli salads
    egg_box           egg cartons
    tray              punnets and trays with a film lid: berries, meat, mushrooms
    pouch             flexible pouches: shredded cheese, ready meals, sauce refills
    wrapped_block     foil- or paper-wrapped blocks: butter, cheese, yeast, tofu
    sphere            round fruit: orange, apple, grapefruit, peach, plum, melon
    ellipsoid         smooth egg-like produce standing up: potato, kiwi, eggs
    squash            squash, its kind from its proportions: acorn/kabocha when height < 1.4 x width,
                      butternut and summer squash (a neck) up to about 3.2 x width, zucchini (even) from 4 x
    bell_pepper       bell peppers (3-4 lobes, short stem)
    pear              pear-shaped produce: pear, avocado
    oval              egg-shaped produce lying on its side: mango, papaya, lemon, lime (width = its length)
    tomato            tomatoes, persimmons: slightly flattened, with a green calyx
    onion             onions, red onions, garlic bulbs, shallots: pointed top, flat root end
    cluster           vine tomatoes, grape bunches, cherries on a stem: 4-7 fruit of about width / 3
    net_bag           net bags of oranges, onions, lemons, potatoes, with a clip and a tag

Round archetypes (can, bottle, jar, cup, tub, squash) are round in plan: their depth is their width and a depth
given is not used; depth defaults to the width for every archetype. Sizes are fixed per product (drawn once from
their range with the product's own seed) except for produce (the archetypes whose shapes.ARCHETYPE_TRAITS row
says produce: fruit, vegetables, clusters, net bags), whose instances vary in size as real produce does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Optional

import numpy as np

from tfsynth.generate.shapes import ARCHETYPE_TRAITS, ARCHETYPES, BOTTLE_PROFILES, MeshError, load_mesh_file

# Surface kinds (see materials.py for how each is drawn):
#   matte: paper labels, cartons, matte produce skins      glossy: printed plastic (cups, tubs, squeeze bottles)
#   glass: glass bottles and jars                           clear_plastic: PET bottles, clear clamshells and film
#   translucent: milky or frosted plastic (milk jugs)       foil: crinkled metal foil (butter, capsules, wraps)
#   metal: cans and tins                                    paper: paper or kraft wrap (matte, fibrous)
# glass and clear_plastic are see-through: the contents' colour fills the lower part (`fill`), the background shows
# through the rest; the label band stays opaque.
MATERIALS = ("matte", "glossy", "glass", "clear_plastic", "translucent", "foil", "metal", "paper")
SEE_THROUGH = ("glass", "clear_plastic", "translucent")
LABEL_FACES = ("wrap", "front", "back", "left", "right", "top", "bottom")
# Produce archetypes (their instances vary in size and wear skins), from shapes' one table of traits.
PRODUCE = tuple(name for name, traits in ARCHETYPE_TRAITS.items() if traits.produce)
_SIZE_KEYS = ("width", "height", "depth")


@dataclasses.dataclass(frozen=True)
class Product:
    """One product (or distractor) kind. size_mm holds (min, max) per axis: width, height, depth."""

    name: str
    archetype: str
    size_mm: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    colors: tuple[tuple[int, int, int], ...]
    material: str = "matte"
    profile: str = "water"
    texture_path: Optional[str] = None
    mesh_path: Optional[str] = None
    is_distractor: bool = False
    # Label design of procedural textures: colour field, stripes, logo, glyphs (see textures.py).
    design_seed: int = 0
    # The class this product is labelled as; several products (looks of one kind of product: yellow and green
    # squash, still and sparkling water) may share it. None: the product's own name.
    class_name: Optional[str] = None
    # What is inside a see-through container or under a punnet's film: a colour, "clear" (water, clear soda) or
    # None (colors[0], read as clear when it is light and nearly grey, as older catalogs wrote water).
    contents: Any = None
    # How full see-through containers are: (min, max) fraction of the label texture's height (bottom to top
    # along the outline), drawn per label variant.
    fill: tuple[float, float] = (0.75, 0.95)
    # The user's own label images per face ((face, path) pairs; LABEL_FACES), pasted over the procedural label.
    texture_faces: tuple[tuple[str, str], ...] = ()
    cap_color: Optional[tuple[int, int, int]] = None  # the closure's colour; None: drawn from the palette

    @property
    def contents_color(self) -> tuple[int, int, int]:
        """The colour seen through a see-through container: `contents`, else the main colour."""
        if self.contents == "clear":
            return (232, 238, 242)
        return self.contents or self.colors[0]

    @property
    def clear_contents(self) -> bool:
        """Whether a see-through container holds something clear (water), so the background shows through."""
        if self.contents is not None:
            return self.contents == "clear"
        color = self.colors[0]
        luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        return luma > 185 and max(color) - min(color) < 60

    @property
    def label(self) -> str:
        """The class name written into the records."""
        return self.class_name or self.name

    @property
    def key(self) -> str:
        """Stable identifier of the product's look (mesh and texture caches use it)."""
        return ("d:" if self.is_distractor else "p:") + self.name

    def fixed_size_m(self) -> tuple[float, float, float]:
        """The product's own size in metres (each range sampled once with the product's seed)."""
        rng = np.random.default_rng(stable_seed(self.key))
        return tuple(float(rng.uniform(lo, hi)) / 1000.0 for lo, hi in self.size_mm)  # type: ignore


@dataclasses.dataclass
class Catalog:
    """Products (labelled, one class each) and distractors (never labelled)."""

    products: list[Product]
    distractors: list[Product]
    source: str = "<procedural>"

    @property
    def class_names(self) -> list[str]:
        """The labelled classes, each once, in catalog order."""
        return list(dict.fromkeys(p.label for p in self.products))


def stable_seed(text: str) -> int:
    """A seed that depends only on `text` (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


class CatalogError(ValueError):
    """A catalog entry is malformed; the message names the file, the product and the field."""


def _range(value: Any, where: str, upper: float = 5000) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = (float(value), float(value))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        values = (float(value[0]), float(value[1]))
    else:
        raise CatalogError(f"{where}: expected a number of millimetres or [min, max], got {value!r}")
    if not 0 < values[0] <= values[1] <= upper:
        unit = " mm" if upper == 5000 else ""
        raise CatalogError(f"{where}: expected 0 < min <= max <= {upper:g}{unit}, got {value!r}")
    return values


def _color(value: Any, where: str) -> tuple[int, int, int]:
    if (isinstance(value, (list, tuple)) and len(value) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)):
        return (int(value[0]), int(value[1]), int(value[2]))
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore
        except ValueError:
            pass
    raise CatalogError(f"{where}: expected [R, G, B] with integers 0-255 or '#rrggbb', got {value!r}")


def parse_product(entry: Any, where: str, base_dir: str, is_distractor: bool,
                  errors: Optional[list[CatalogError]] = None) -> Optional[Product]:
    """A Product from one YAML mapping; CatalogError names `where` (file and product) and the field.

    Without `errors` the first problem raises. With a list, every problem of the entry is appended to it (so a
    catalog check can report them all at once) and None is returned when there was any.
    """
    first_error = len(errors) if errors is not None else 0

    def fail(message: str) -> None:
        if errors is None:
            raise CatalogError(message)
        errors.append(CatalogError(message))

    def attempt(parse, value: Any, field_where: str, fallback: Any, **options) -> Any:
        # _range and _color raise; route their message through fail() so collection goes on past it.
        try:
            return parse(value, field_where, **options)
        except CatalogError as error:
            fail(str(error))
            return fallback

    if not isinstance(entry, dict):
        fail(f"{where}: expected a mapping with name, archetype, size_mm, colors; got {entry!r}")
        return None
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        fail(f"{where}: field 'name': expected a non-empty string, got {name!r}")
    else:
        where = f"{where} ({name!r})"
    # After the name, so that the message names the product.
    known = {"name", "class", "archetype", "size_mm", "colors", "material", "profile", "texture", "mesh", "contents",
             "fill", "cap"}
    unknown = sorted(set(entry) - known)
    if unknown:
        fail(f"{where}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    mesh_path = entry.get("mesh")
    archetype = entry.get("archetype", "box" if mesh_path else None)
    if archetype not in ARCHETYPES:
        fail(f"{where}: field 'archetype': expected one of {list(ARCHETYPES)}, got {archetype!r}")
    size = entry.get("size_mm")
    width = height = depth = (1.0, 1.0)
    if not isinstance(size, dict) or "width" not in size:
        fail(f"{where}: field 'size_mm': expected a mapping with width (and height, depth), got {size!r}")
    else:
        bad_keys = sorted(set(size) - set(_SIZE_KEYS))
        if bad_keys:
            fail(f"{where}: field 'size_mm': unknown key(s) {bad_keys}; expected {list(_SIZE_KEYS)}")
        width = attempt(_range, size["width"], f"{where}: field 'size_mm.width'", width)
        height = attempt(_range, size.get("height", size["width"]), f"{where}: field 'size_mm.height'", height)
        depth = attempt(_range, size.get("depth", size["width"]), f"{where}: field 'size_mm.depth'", depth)
    colors = entry.get("colors", [[200, 200, 200]])
    parsed_colors: tuple = ()
    if not isinstance(colors, list) or not colors:
        fail(f"{where}: field 'colors': expected a non-empty list of [R, G, B], got {colors!r}")
    else:
        parsed_colors = tuple(attempt(_color, c, f"{where}: field 'colors[{i}]'", (0, 0, 0))
                              for i, c in enumerate(colors))
    material = entry.get("material", "matte")
    if material not in MATERIALS:
        fail(f"{where}: field 'material': expected one of {list(MATERIALS)}, got {material!r}")
    profile = entry.get("profile", "water")
    if profile not in BOTTLE_PROFILES:
        fail(f"{where}: field 'profile': expected one of {list(BOTTLE_PROFILES)}, got {profile!r}")

    def _path(field: str, value: Any = None) -> Optional[str]:
        value = entry.get(field) if value is None else value
        if value is None:
            return None
        if not isinstance(value, str):
            fail(f"{where}: field {field!r}: expected a file path, got {value!r}")
            return None
        full = value if os.path.isabs(value) else os.path.join(base_dir, value)
        if not os.path.isfile(full):
            fail(f"{where}: field {field!r}: {full!r} is a folder; expected a file" if os.path.isdir(full)
                 else f"{where}: field {field!r}: file {full!r} does not exist")
            return None
        return full

    # texture: one image wrapped round the product, or {face: image} with faces from LABEL_FACES.
    texture_value = entry.get("texture")
    texture_path, texture_faces = None, ()
    if isinstance(texture_value, dict):
        bad_faces = sorted(set(texture_value) - set(LABEL_FACES))
        if bad_faces or not texture_value:
            fail(f"{where}: field 'texture': unknown face(s) {bad_faces}; expected an image path or a "
                 f"mapping of some of {list(LABEL_FACES)} to image paths")
        texture_faces = tuple((face, _path(f"texture.{face}", path)) for face, path in texture_value.items()
                              if face in LABEL_FACES)
    else:
        texture_path = _path("texture")
    mesh_path = _path("mesh")
    contents = entry.get("contents")
    if contents is not None and contents != "clear":
        contents = attempt(_color, contents, f"{where}: field 'contents' (a colour, or 'clear' for water)", None)
    cap = entry.get("cap")
    if cap is not None:
        cap = attempt(_color, cap, f"{where}: field 'cap'", None)
    fill = attempt(_range, entry.get("fill", [0.75, 0.95]), f"{where}: field 'fill'", (0.75, 0.95), upper=1.0)

    class_name = entry.get("class")
    if class_name is not None and (not isinstance(class_name, str) or not class_name.strip()):
        fail(f"{where}: field 'class': expected a non-empty class name, got {class_name!r}")
    elif class_name is not None and is_distractor:
        fail(f"{where}: field 'class': distractors are never labelled, so they take no class")
    if errors is not None and len(errors) > first_error:
        return None
    return Product(name=name, archetype=archetype, size_mm=(width, height, depth), colors=parsed_colors,
                   material=material, profile=profile, texture_path=texture_path, mesh_path=mesh_path,
                   contents=contents, fill=fill, texture_faces=texture_faces, cap_color=cap,
                   is_distractor=is_distractor, design_seed=stable_seed(name) % (2 ** 31), class_name=class_name)

@dataclasses.dataclass
class CatalogReading:
    """A YAML catalog read with every problem collected (read_catalog) rather than raised at the first."""

    catalog: Catalog  # the entries that parsed; all of them when `errors` is empty
    errors: list[CatalogError]  # in file order, each naming the file, the product and the field
    where: dict[str, str]  # Product.key -> "FILE: products[3] ('name')", to name parsed entries in later checks


def read_catalog(path: str) -> CatalogReading:
    """Reads a YAML catalog and collects every malformed entry and field instead of stopping at the first."""
    import yaml
    errors: list[CatalogError] = []
    reading = CatalogReading(Catalog(products=[], distractors=[], source=os.path.abspath(path)), errors, {})
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        errors.append(CatalogError(f"{path}: cannot read catalog: {error}"))
        return reading
    except yaml.YAMLError as error:
        errors.append(CatalogError(f"{path}: not valid YAML: {error}"))
        return reading
    if not isinstance(data, dict) or not isinstance(data.get("products"), list) or not data["products"]:
        errors.append(CatalogError(f"{path}: expected a mapping with a non-empty list 'products' (and optional "
                                   f"'distractors')"))
        if not isinstance(data, dict):
            return reading
    base_dir = os.path.dirname(os.path.abspath(path))
    catalog = reading.catalog
    for section, target, is_distractor in (("products", catalog.products, False),
                                           ("distractors", catalog.distractors, True)):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            if section != "products":  # a non-list 'products' was reported above
                errors.append(CatalogError(f"{path}: '{section}' must be a list"))
            continue
        # Names must be unique within a section: a product's key (mesh and texture caches) is made from it.
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            where = f"{path}: {section}[{index}]"
            product = parse_product(entry, where, base_dir, is_distractor, errors)
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name in seen:
                errors.append(CatalogError(f"{where} ({name!r}): field 'name': duplicate of "
                                           f"{section}[{seen[name]}]"))
                continue
            if isinstance(name, str):
                seen[name] = index
            if product is not None:
                target.append(product)
                reading.where[product.key] = f"{where} ({name!r})"
    return reading


def load_catalog(path: str) -> Catalog:
    """Reads and checks a YAML catalog; CatalogError names the file, the product and the field.

    Raises at the first problem (in file order); read_catalog collects them all.
    """
    reading = read_catalog(path)
    if reading.errors:
        raise reading.errors[0]
    for product in reading.catalog.products + reading.catalog.distractors:
        for problem in check_mesh(product):
            raise CatalogError(f"{reading.where.get(product.key, path)}: field 'mesh': {problem}")
    return reading.catalog


def check_mesh(product: Product) -> list[str]:
    """What is wrong with a product's mesh file (each problem names the file); empty when it loads or there is
    none. load_catalog raises the first; the catalog check command reports them with the product and field."""
    if not product.mesh_path:
        return []
    try:
        load_mesh_file(product.mesh_path, product.fixed_size_m())
    except MeshError as error:
        return [str(error)]
    return []


@dataclasses.dataclass(frozen=True)
class _Template:
    """One kind of procedural product: size ranges in mm, materials (filtered by MATERIALS), bottle profile."""

    archetype: str
    width: tuple[float, float]
    height: Optional[tuple[float, float]] = None  # None: the width times height_ratio
    depth: Optional[tuple[float, float]] = None  # None: the width times depth_ratio (round things: 1)
    materials: tuple[str, ...] = ("matte",)
    profile: str = "water"
    height_ratio: tuple[float, float] = (0.92, 1.05)
    depth_ratio: tuple[float, float] = (1.0, 1.0)


# Procedural catalog: template name -> what it makes, and how common it is. Bottles have one template per
# profile (a hot-sauce bottle is not sized like a champagne bottle). Materials a template names that are not in
# MATERIALS are left out when a product is made (matte when none remains).
_TEMPLATES: dict[str, _Template] = {
    "box": _Template("box", (60, 200), (40, 220), (30, 90), ("matte",)),
    "carton": _Template("carton", (60, 100), (90, 200), (40, 70), ("matte", "glossy")),
    "gable_top_carton": _Template("gable_top_carton", (70, 95), (190, 260), (70, 95), ("matte",)),
    "brick_carton": _Template("brick_carton", (60, 100), (120, 240), (40, 70), ("matte", "glossy")),
    "can": _Template("can", (55, 85), (70, 160), None, ("metal", "glossy")),
    "bottle:water": _Template("bottle", (55, 95), (180, 320), None, ("clear_plastic", "glossy"), "water"),
    "bottle:wine": _Template("bottle", (72, 82), (290, 320), None, ("glass",), "wine"),
    "bottle:sparkling": _Template("bottle", (84, 92), (290, 310), None, ("glass",), "sparkling"),
    "bottle:milk": _Template("bottle", (70, 100), (180, 260), None, ("translucent", "glossy"), "milk"),
    "bottle:soda": _Template("bottle", (60, 95), (200, 330), None, ("clear_plastic", "glossy"), "soda"),
    "bottle:sauce": _Template("bottle", (50, 75), (150, 220), None, ("glass", "glossy"), "sauce"),
    "bottle:narrow_neck": _Template("bottle", (28, 45), (100, 160), None, ("glass", "clear_plastic"),
                                    "narrow_neck"),
    "squeeze_bottle": _Template("squeeze_bottle", (55, 75), (150, 210), (38, 50), ("glossy",)),
    "tube": _Template("tube", (40, 60), (110, 200), (25, 40), ("glossy", "metal")),
    "jar": _Template("jar", (55, 95), (70, 150), None, ("glass", "glossy")),
    "cup": _Template("cup", (60, 95), (55, 110), None, ("matte", "glossy")),
    "tub": _Template("tub", (90, 140), (50, 100), None, ("glossy",)),
    "egg_box": _Template("egg_box", (100, 160), (55, 75), (95, 110), ("matte",)),
    "tray": _Template("tray", (110, 200), (30, 70), (90, 150), ("glossy", "clear_plastic")),
    "pouch": _Template("pouch", (90, 150), (120, 200), (25, 45), ("glossy",)),
    "wrapped_block": _Template("wrapped_block", (90, 150), (30, 60), (55, 80), ("foil", "paper")),
    "sphere": _Template("sphere", (55, 95), None, None, ("matte", "glossy")),
    "ellipsoid": _Template("ellipsoid", (45, 90), (60, 130), None, ("matte",)),
    "squash": _Template("squash", (110, 160), (90, 140), None, ("matte",)),
    "bell_pepper": _Template("bell_pepper", (70, 95), None, None, ("glossy",), height_ratio=(1.0, 1.25)),
    "pear": _Template("pear", (60, 85), None, None, ("matte", "glossy"), height_ratio=(1.25, 1.7)),
    "oval": _Template("oval", (80, 150), None, None, ("matte", "glossy"), height_ratio=(0.55, 0.75),
                      depth_ratio=(0.62, 0.8)),
    "tomato": _Template("tomato", (55, 90), None, None, ("glossy",), height_ratio=(0.78, 0.92)),
    "onion": _Template("onion", (55, 95), None, None, ("matte", "paper"), height_ratio=(0.95, 1.15)),
    "cluster": _Template("cluster", (150, 260), (55, 85), (80, 130), ("glossy",)),
    "net_bag": _Template("net_bag", (180, 320), (80, 130), (120, 200), ("matte",)),
}
_WEIGHTS: dict[str, float] = {
    "box": 2, "carton": 2, "gable_top_carton": 1, "brick_carton": 1.5, "can": 2, "bottle:water": 1,
    "bottle:wine": 0.6, "bottle:sparkling": 0.4, "bottle:milk": 0.5, "bottle:soda": 0.8, "bottle:sauce": 0.6,
    "bottle:narrow_neck": 0.5, "squeeze_bottle": 2, "tube": 0.8, "jar": 2, "cup": 2, "tub": 1, "egg_box": 1,
    "tray": 1, "pouch": 1, "wrapped_block": 1, "sphere": 1, "ellipsoid": 1, "squash": 0.5, "bell_pepper": 0.8,
    "pear": 0.8, "oval": 0.8, "tomato": 0.8, "onion": 0.8, "cluster": 0.6, "net_bag": 0.6,
}


def _procedural_product(rng: np.random.Generator, name: str, template_name: str, is_distractor: bool) -> Product:
    template = _TEMPLATES[template_name]
    archetype = template.archetype
    width = float(rng.uniform(*template.width))
    height = float(rng.uniform(*template.height)) if template.height else width * float(
        rng.uniform(*template.height_ratio))
    depth = float(rng.uniform(*template.depth)) if template.depth else width * float(
        rng.uniform(*template.depth_ratio))
    if archetype in PRODUCE:  # real produce varies: keep a +-8 % range around the product's size
        size = tuple((v * 0.92, v * 1.08) for v in (width, height, depth))
    else:
        size = tuple((v, v) for v in (width, height, depth))
    hue = rng.uniform(0, 1)
    colors = []
    for k in range(3):
        h = (hue + rng.choice([0.0, 0.5, 0.08, -0.08, 0.33]) * (k > 0)) % 1.0
        s = rng.uniform(0.35, 1.0) if k != 1 else rng.uniform(0.0, 0.25)
        v = rng.uniform(0.45, 1.0) if k != 1 else rng.uniform(0.85, 1.0)
        colors.append(tuple(int(round(c * 255)) for c in _hsv_to_rgb(h, s, v)))
    # Materials another version of MATERIALS lacks are skipped, so templates may name the newer ones.
    materials = [m for m in template.materials if m in MATERIALS] or ["matte"]
    return Product(name=name, archetype=archetype, size_mm=size, colors=tuple(colors),  # type: ignore
                   material=str(rng.choice(materials)), profile=template.profile,
                   is_distractor=is_distractor, design_seed=int(rng.integers(2 ** 31)))


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def default_catalog(num_products: int = 150, num_distractors: int = 25, seed: int = 2017) -> Catalog:
    """The procedural catalog: 150 products and 25 distractors (Rajpura et al. 2017), the same every call.

    Every template (each archetype, each bottle profile) makes at least one product, in a random order among
    the first ones; the rest are drawn by _WEIGHTS.
    """
    rng = np.random.default_rng(seed)
    names = list(_WEIGHTS)
    weights = np.array([_WEIGHTS[n] for n in names], np.float64)
    weights /= weights.sum()
    kinds = [str(n) for n in rng.permutation(names)][:num_products]
    kinds += [str(n) for n in rng.choice(names, size=num_products - len(kinds), p=weights)]
    products = [_procedural_product(rng, f"product_{index:03d}_{kind.replace(':', '_')}", kind, False)
                for index, kind in enumerate(kinds)]
    # Distractors cycle through every archetype (25 of them for the paper's 25), so each kind of pack also
    # appears unlabelled in the default renders and no shape alone can mean "a product".
    bottles = [n for n in names if n.startswith("bottle:")]
    distractor_kinds = []
    while len(distractor_kinds) < num_distractors:
        distractor_kinds += [str(a) for a in rng.permutation(sorted({n.split(":")[0] for n in names}))]
    distractors = []
    for index, kind in enumerate(distractor_kinds[:num_distractors]):
        kind = str(rng.choice(bottles)) if kind == "bottle" else kind
        distractors.append(_procedural_product(rng, f"distractor_{index:02d}_{kind.replace(':', '_')}", kind, True))
    return Catalog(products=products, distractors=distractors, source=f"<procedural seed={seed}>")


def catalog_from_flag(value: Optional[str]) -> Catalog:
    """--catalog: empty or 'default' gives the procedural catalog, anything else is a YAML path."""
    if not value or value == "default":
        return default_catalog()
    return load_catalog(value)
