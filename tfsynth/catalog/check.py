"""`python -m tfsynth.catalog check`: every problem of a product catalog at once, warnings, and a summary.

Errors (the catalog cannot be used as it is): malformed entries and fields (tfsynth.generate.catalog's parser,
collecting rather than stopping at the first), label images that do not decode, mesh files that do not load,
and with a label map, classes without an id. Warnings (it renders, but likely not as meant): a distractor that
looks like a labelled class, a class with a single look, a size implausible for the archetype, classes whose looks
are identical, label-map entries no class uses.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import traceback
from typing import Optional

from tfsynth.generate import catalog as catalog_format
from tfsynth.generate import shapes
from tfsynth.generate.catalog import Catalog, Product

# Plausible (width, height, depth) in mm per archetype, generous on purpose (a grape to a melon, a shot to a
# magnum bottle): outside them a size is more likely a typo (cm for mm, an extra digit) than a real product.
PLAUSIBLE_SIZE_MM: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "box": ((15, 450), (10, 450), (10, 450)),
    "carton": ((30, 250), (40, 400), (20, 250)),
    "gable_top_carton": ((40, 200), (80, 400), (40, 200)),
    "can": ((35, 170), (40, 250), (35, 170)),
    "bottle": ((20, 160), (60, 500), (20, 160)),
    "squeeze_bottle": ((30, 120), (80, 350), (20, 100)),
    "jar": ((30, 200), (30, 350), (30, 200)),
    "cup": ((30, 160), (25, 200), (30, 160)),
    "tub": ((50, 250), (25, 250), (50, 250)),
    "egg_box": ((60, 400), (30, 130), (60, 220)),
    "tray": ((60, 400), (10, 150), (50, 350)),
    "pouch": ((40, 400), (50, 450), (5, 150)),
    "sphere": ((10, 350), (10, 350), (10, 350)),
    "ellipsoid": ((10, 350), (10, 350), (10, 350)),
    "squash": ((30, 300), (40, 550), (30, 300)),
    # Archetypes being added to the format now; a name the format lacks is simply never looked up.
    "brick_carton": ((40, 150), (80, 350), (30, 120)),
    "tube": ((20, 90), (60, 300), (15, 80)),
    "wrapped_block": ((20, 250), (10, 120), (20, 200)),
}
# Main colours closer than this (Euclidean RGB distance, about 9 % of black-to-white) read as the same colour
# under the renders' tint and lighting variation.
SAME_COLOR_DISTANCE = 40.0
# Sizes within this fraction of each other on every axis read as the same size in a photo.
SAME_SIZE_FRACTION = 0.2
_AXES = ("width", "height", "depth")


@dataclasses.dataclass
class CheckReport:
    """What `check` found: errors fail the check, warnings do not; summary lines describe the catalog."""

    source: str
    errors: list[str]
    warnings: list[str]
    summary: list[str]
    catalog: Optional[Catalog] = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _one_line(text: str) -> str:
    """YAML and trimesh messages span lines; the report prints one line per problem."""
    return " ".join(str(text).split())


def _where(reading: catalog_format.CatalogReading, product: Product) -> str:
    return reading.where.get(product.key, f"{reading.catalog.source}: ({product.name!r})")


def _label_images(product: Product) -> list[tuple[str, str]]:
    """(field, path) of every label image of the product: `texture`, or one per face ('texture.front')."""
    images = [("texture", product.texture_path)] if product.texture_path else []
    images += [(f"texture.{face}", path) for face, path in getattr(product, "texture_faces", ()) if path]
    return images


def _check_image(field: str, path: str, where: str) -> Optional[str]:
    """An error when a label image does not decode (a truncated download, a text file named .png)."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.load()
            if image.width < 1 or image.height < 1:
                raise ValueError("the image is empty")
    except Exception as error:  # noqa: BLE001 - PIL raises many types (OSError, SyntaxError, ValueError...)
        return f"{where}: field {field!r}: {path!r} is not a readable image ({type(error).__name__}: {_one_line(error)})"
    return None


def _check_mesh(product: Product, where: str, verbose: bool) -> Optional[str]:
    """An error when the mesh file does not load; catalog.check_mesh is the format's own check where present."""
    check_mesh = getattr(catalog_format, "check_mesh", None)
    try:
        if check_mesh is not None:
            problems = check_mesh(product)
            if problems:  # a check that reports rather than raises
                problems = [problems] if isinstance(problems, str) else list(problems)
                return f"{where}: field 'mesh': " + "; ".join(_one_line(p) for p in problems)
            return None
        mesh = shapes.load_mesh_file(product.mesh_path, product.fixed_size_m())
        if len(mesh.indices) < 3:
            raise ValueError("no triangles")
    except Exception as error:  # noqa: BLE001 - trimesh raises anything from KeyError to its own errors
        if verbose:
            traceback.print_exc()
        message = _one_line(error)
        if product.mesh_path not in message:
            message = f"{product.mesh_path!r} does not load as a mesh ({type(error).__name__}: {message})"
        return f"{where}: field 'mesh': {message}"
    return None


def _size_warnings(product: Product, where: str) -> list[str]:
    bounds = PLAUSIBLE_SIZE_MM.get(product.archetype)
    if bounds is None:  # an archetype newer than this table: nothing to compare with
        return []
    found = []
    for axis, (low, high), (lo, hi) in zip(_AXES, product.size_mm, bounds):
        if low < lo or high > hi:
            value = f"{low:g}" if low == high else f"[{low:g}, {high:g}]"
            found.append(f"{where}: field 'size_mm.{axis}': {value} mm is implausible for a {product.archetype} "
                         f"(expected {lo:g}-{hi:g} mm; sizes are in millimetres)")
    return found


def _color_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return math.dist(a, b)


def _same_size(a: Product, b: Product) -> bool:
    for (a_lo, a_hi), (b_lo, b_hi) in zip(a.size_mm, b.size_mm):
        a_mid, b_mid = (a_lo + a_hi) / 2, (b_lo + b_hi) / 2
        if abs(a_mid - b_mid) > SAME_SIZE_FRACTION * max(a_mid, b_mid):
            return False
    return True


def _shape_of(product: Product) -> tuple:
    """What decides the silhouette: the archetype (the mesh file for meshes), and the profile of bottles."""
    if product.mesh_path:
        return ("mesh", product.mesh_path)
    return (product.archetype, product.profile if product.archetype == "bottle" else None)


def _looks_identical(a: Product, b: Product) -> bool:
    """Same label image, or the same shape, material, size and colours: nothing in a render tells them apart."""
    images_a, images_b = _label_images(a), _label_images(b)
    if images_a or images_b:  # label images of its own set a look apart, unless they are the same files
        return images_a == images_b and _shape_of(a) == _shape_of(b)
    return (_shape_of(a) == _shape_of(b) and a.material == b.material and _same_size(a, b)
            and len(a.colors) == len(b.colors)
            and all(_color_distance(x, y) < SAME_COLOR_DISTANCE for x, y in zip(a.colors, b.colors)))


def _distractor_warnings(reading: catalog_format.CatalogReading) -> list[str]:
    catalog = reading.catalog
    found = []
    consequence = ("it is rendered unlabelled, teaching the detector that the class is background; remove it or "
                   "make it a look of the class")
    for distractor in catalog.distractors:
        where = _where(reading, distractor)
        named = next((p for p in catalog.products if distractor.name in (p.name, p.label)), None)
        if named is not None:
            found.append(f"{where}: distractor named like labelled class {named.label!r} "
                         f"({_where(reading, named)}); {consequence}")
            continue
        for product in catalog.products:
            if _shape_of(product) != _shape_of(distractor):
                continue
            distance = _color_distance(product.colors[0], distractor.colors[0])
            if distance < SAME_COLOR_DISTANCE:
                found.append(f"{where}: distractor looks like class {product.label!r} ({_where(reading, product)}): "
                             f"same archetype {distractor.archetype!r} and main colour "
                             f"{list(distractor.colors[0])} ~ {list(product.colors[0])}; {consequence}")
                break
    return found


def _class_warnings(reading: catalog_format.CatalogReading) -> list[str]:
    catalog = reading.catalog
    found = []
    looks = collections.defaultdict(list)
    for product in catalog.products:
        looks[product.label].append(product)
    for label, members in looks.items():
        if len(members) == 1:
            found.append(f"{_where(reading, members[0])}: class {label!r} has a single look; add looks (brands, "
                         f"sizes, colours) so the detector learns the class rather than one product")
    for i, a in enumerate(catalog.products):
        for b in catalog.products[i + 1:]:
            if a.label != b.label and _looks_identical(a, b):
                found.append(f"{_where(reading, a)} and {_where(reading, b)}: classes {a.label!r} and {b.label!r} "
                             f"have identical looks (same shape, material, size and colours); the detector cannot "
                             f"tell them apart")
    return found


def _label_map_findings(path: str, catalog: Catalog, reading: catalog_format.CatalogReading,
                        verbose: bool) -> tuple[list[str], list[str], str]:
    """(errors, warnings, summary line) of the catalog's classes against a label map."""
    from tfsynth.utils import label_map_util  # protobuf only; never TensorFlow for a local path
    try:
        name_to_id = label_map_util.get_label_map_dict(path)
    except Exception as error:  # noqa: BLE001 - unreadable file or malformed label map, reported on one line
        if verbose:
            traceback.print_exc()
        return [f"{path}: cannot read label map ({type(error).__name__}: {_one_line(error)})"], [], \
            f"label map: {path} (unreadable)"
    errors = []
    first_look = {}
    for product in catalog.products:
        first_look.setdefault(product.label, product)
    for label, product in first_look.items():
        if label not in name_to_id:
            errors.append(f"{path}: class {label!r} ({_where(reading, product)}) has no id in the label map; "
                          f"expected an item with name {label!r}")
    unused = sorted((i, n) for n, i in name_to_id.items() if n not in first_look)
    warnings = []
    if unused:
        warnings.append(f"{path}: label-map entries no class uses: "
                        + ", ".join(f"{name!r} (id {item_id})" for item_id, name in unused))
    return errors, warnings, f"label map: {path} ({len(name_to_id)} ids, {len(first_look) - len(errors)} of " \
                             f"{len(first_look)} classes found)"


def _summary(catalog: Catalog) -> list[str]:
    looks = collections.defaultdict(list)
    for product in catalog.products:
        looks[product.label].append(product.name)
    width = max((len(label) for label in looks), default=0)
    lines = [f"classes: {len(looks)}, looks: {len(catalog.products)}"]
    lines += [f"  {label:<{width}}  {len(names)} look{'s' if len(names) != 1 else ''}: {', '.join(names)}"
              for label, names in looks.items()]
    lines.append(f"distractors: {len(catalog.distractors)}")
    everything = catalog.products + catalog.distractors
    for title, attribute in (("archetypes", "archetype"), ("materials", "material")):
        counts = collections.Counter(getattr(p, attribute) for p in everything)
        lines.append(f"{title}: " + (", ".join(f"{name} {count}" for name, count in counts.most_common())
                                     or "none"))
    meshes = sum(1 for p in everything if p.mesh_path)
    images = sum(len(_label_images(p)) for p in everything)
    lines.append(f"mesh files: {meshes}, label images: {images}")
    return lines


def check_catalog(path: str, label_map: Optional[str] = None, verbose: bool = False) -> CheckReport:
    """Every error and warning of the catalog at `path` (and, with label_map, of its classes' ids)."""
    reading = catalog_format.read_catalog(path)
    catalog = reading.catalog
    errors = [_one_line(error) for error in reading.errors]
    for product in catalog.products + catalog.distractors:
        where = _where(reading, product)
        for field, image_path in _label_images(product):
            problem = _check_image(field, image_path, where)
            if problem:
                errors.append(problem)
        if product.mesh_path:
            problem = _check_mesh(product, where, verbose)
            if problem:
                errors.append(problem)
    warnings = []
    for product in catalog.products + catalog.distractors:
        warnings += _size_warnings(product, _where(reading, product))
    warnings += _distractor_warnings(reading)
    warnings += _class_warnings(reading)
    summary = _summary(catalog)
    if label_map:
        map_errors, map_warnings, line = _label_map_findings(label_map, catalog, reading, verbose)
        errors += map_errors
        warnings += map_warnings
        summary.append(line)
    return CheckReport(source=catalog.source, errors=errors, warnings=[_one_line(w) for w in warnings],
                       summary=summary, catalog=catalog)


def format_report(report: CheckReport) -> str:
    """Errors and warnings one line each, then the summary and the verdict."""
    lines = [f"error: {e}" for e in report.errors] + [f"warning: {w}" for w in report.warnings]
    if lines:
        lines.append("")
    lines.append(f"catalog: {report.source}")
    lines += report.summary
    lines.append(f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}, "
                 f"{len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''}: "
                 + ("ok" if report.ok else "the catalog cannot be used as it is"))
    return "\n".join(lines)
