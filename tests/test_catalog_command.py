"""python -m tfsynth.catalog check / preview: every catalog problem at once, and a contact sheet of real renders.

The commands run as subprocesses (sys.executable -m tfsynth.catalog), as a user runs them: the preview renders
with Mesa's llvmpipe, which must never share a process with TensorFlow (other tests of the suite load it).
"""
import subprocess
import textwrap

import numpy as np
import pytest
from PIL import Image

from tfsynth.catalog.preview import VIEWS, SheetLayout
from tfsynth.generate.catalog import CatalogError, load_catalog, read_catalog
from tests.commands import run_module, run_python

CATALOG = "configs/fridge_us_catalog.yaml"
LABEL_MAP = "configs/fridge_us_label_map.pbtxt"


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_module("tfsynth.catalog", *args, timeout=timeout)


def _write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def _lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def test_check_passes_the_shipped_catalog():
    result = _run("check", CATALOG, "--label_map", LABEL_MAP)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _lines(result.stdout, "error:")
    assert "classes: 8, looks: 21" in result.stdout and "distractors: 25" in result.stdout
    assert "squash    4 looks: squash_yellow, squash_zucchini, squash_acorn, squash_butternut" in result.stdout
    assert "archetypes: bottle 8" in result.stdout and "materials: " in result.stdout
    assert "8 of 8 classes found" in result.stdout


def test_check_reports_every_error_with_product_and_field(tmp_path):
    path = _write(tmp_path / "bad.yaml", """
        products:
          - {name: jelly, archetype: blob, size_mm: {width: 60}}
          - {name: milk, archetype: can, size_mm: {width: 60, height: -5}}
          - {name: cola, archetype: can, size_mm: {width: 66}, colors: [[255, 0, 300]]}
          - {name: cheese, archetype: box, size_mm: {width: 90}, flavour: gouda}
          - {name: juice, archetype: carton, size_mm: {width: 70}, texture: labels/missing.png}
          - {name: butter, archetype: tub, size_mm: {width: 110}}
          - {name: butter, archetype: tub, size_mm: {width: 120}}
        """)
    result = _run("check", path)
    assert result.returncode == 1
    errors = _lines(result.stdout, "error:")
    expected = [("products[0] ('jelly')", "field 'archetype'", "expected one of"),
                ("products[1] ('milk')", "field 'size_mm.height'", "expected 0 < min <= max"),
                ("products[2] ('cola')", "field 'colors[0]'", "integers 0-255"),
                ("products[3] ('cheese')", "unknown field(s) ['flavour']", "expected some of"),
                ("products[4] ('juice')", "field 'texture'", "does not exist"),
                ("products[6] ('butter')", "field 'name'", "duplicate of products[5]")]
    assert len(errors) == len(expected), errors
    for error, (product, field, what) in zip(errors, expected):
        assert path in error and product in error and field in error and what in error, error
    assert "Traceback" not in result.stdout + result.stderr
    assert "6 errors" in result.stdout
    # load_catalog, for every other caller, still raises the first of them.
    with pytest.raises(CatalogError, match=r"products\[0\] \('jelly'\): field 'archetype'"):
        load_catalog(path)
    assert len(read_catalog(path).errors) == 6


def test_check_unreadable_label_image_and_mesh_file(tmp_path):
    (tmp_path / "label.png").write_text("not a png")
    (tmp_path / "ball.obj").write_text("this is not a mesh\n")
    path = _write(tmp_path / "files.yaml", """
        products:
          - {name: soup, archetype: can, size_mm: {width: 75, height: 110}, texture: label.png}
          - {name: ball, mesh: ball.obj, size_mm: {width: 80}}
        """)
    result = _run("check", path)
    assert result.returncode == 1, result.stdout
    errors = _lines(result.stdout, "error:")
    assert len(errors) == 2, errors
    assert "('soup')" in errors[0] and "field 'texture'" in errors[0] and "not a readable image" in errors[0]
    assert "('ball')" in errors[1] and "field 'mesh'" in errors[1] and "ball.obj" in errors[1]
    assert "Traceback" not in result.stdout + result.stderr


def test_check_warnings_do_not_fail(tmp_path):
    path = _write(tmp_path / "warn.yaml", """
        products:
          - {name: orange_navel, class: orange, archetype: sphere, size_mm: {width: 80}, colors: [[240, 130, 20]]}
          - {name: orange_blood, class: orange, archetype: sphere, size_mm: {width: 75}, colors: [[200, 60, 30]]}
          - {name: cola, archetype: bottle, size_mm: {width: 90, height: 2000}, colors: [[60, 20, 10]]}
          - {name: stout, archetype: can, size_mm: {width: 66, height: 122}, colors: [[20, 20, 20]]}
          - {name: porter, archetype: can, size_mm: {width: 66, height: 120}, colors: [[25, 22, 20]]}
        distractors:
          - {name: tangerine, archetype: sphere, size_mm: {width: 60}, colors: [[235, 135, 25]]}
          - {name: stout, archetype: box, size_mm: {width: 100}, colors: [[200, 200, 200]]}
          - {name: apple, archetype: sphere, size_mm: {width: 75}, colors: [[30, 160, 40]]}
        """)
    result = _run("check", path)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = _lines(result.stdout, "warning:")
    text = "\n".join(warnings)
    assert any("distractors[0] ('tangerine')" in w and "looks like class 'orange'" in w and "background" in w
               for w in warnings), text
    assert any("distractors[1] ('stout')" in w and "named like labelled class 'stout'" in w for w in warnings), text
    assert not any("'apple'" in w for w in warnings), text  # a green apple looks like no class
    assert any("('cola')" in w and "size_mm.height" in w and "implausible for a bottle" in w for w in warnings), text
    assert any("class 'cola' has a single look" in w for w in warnings), text
    assert any("classes 'stout' and 'porter' have identical looks" in w for w in warnings), text
    assert not any("'orange' has a single look" in w for w in warnings), text
    assert "0 errors, 7 warnings" in result.stdout  # the above and single looks of stout and porter


def test_check_label_map_missing_class_and_unused_entries(tmp_path):
    label_map = _write(tmp_path / "label_map.pbtxt", """
        item { id: 1 name: "orange" }
        item { id: 2 name: "milk" }
        """)
    path = _write(tmp_path / "cat.yaml", """
        products:
          - {name: orange, archetype: sphere, size_mm: {width: 80}, colors: [[240, 130, 20]]}
          - {name: squash_yellow, class: squash, archetype: squash, size_mm: {width: 60, height: 200}}
        """)
    result = _run("check", path, "--label_map", label_map)
    assert result.returncode == 1, result.stdout
    errors = _lines(result.stdout, "error:")
    assert len(errors) == 1 and "class 'squash'" in errors[0] and "('squash_yellow')" in errors[0] \
        and "no id in the label map" in errors[0], errors
    assert any("entries no class uses: 'milk' (id 2)" in w for w in _lines(result.stdout, "warning:"))
    assert _run("check", path).returncode == 0  # the same catalog passes without the label map


def test_catalog_command_never_imports_tensorflow():
    code = ("import sys; from tfsynth.catalog.__main__ import main; import tfsynth.catalog.preview; "
            f"status = main(['check', {CATALOG!r}, '--label_map', {LABEL_MAP!r}]); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; sys.exit(status)")
    result = run_python(code, timeout=120)
    assert result.returncode == 0, result.stderr


_EMPTY_SHELF = """
import sys
import numpy as np
from tfsynth.catalog.preview import VIEWS, render_tiles
from tfsynth.generate.catalog import load_catalog
catalog = load_catalog(sys.argv[1])
tiles = render_tiles(catalog, catalog.products + catalog.distractors, VIEWS[:int(sys.argv[3])], int(sys.argv[4]),
                     frozenset(), show_product=False)
np.save(sys.argv[2], np.asarray(tiles))
"""


def test_preview_renders_each_look_into_a_contact_sheet(tmp_path):
    path = _write(tmp_path / "cat.yaml", """
        products:
          - {name: ketchup, archetype: squeeze_bottle, size_mm: {width: 70, height: 200, depth: 48}, colors: [[180, 20, 20]], material: glossy}
          - {name: eggs, archetype: egg_box, size_mm: {width: 300, height: 70, depth: 105}, colors: [[60, 110, 190]]}
        distractors:
          - {name: lime, archetype: sphere, size_mm: {width: 50}, colors: [[60, 170, 40]]}
        """)
    views, size = 4, 64
    sheet_path = tmp_path / "sheet.png"
    result = _run("preview", path, "--output", str(sheet_path), "--views", str(views), "--size", str(size))
    assert result.returncode == 0, result.stdout + result.stderr
    layout = SheetLayout(2, 1, views, size)
    with Image.open(sheet_path) as image:
        assert image.size == (layout.width, layout.height)
        sheet = np.asarray(image.convert("RGB")).astype(np.int16)
    empty_path = tmp_path / "empty.npy"
    empty_run = run_python(_EMPTY_SHELF, path, str(empty_path), str(views), str(size))
    assert empty_run.returncode == 0, empty_run.stderr
    empty = np.load(empty_path).astype(np.int16)  # [look, view, size, size, 3]
    rows = [(0, 0), (0, 1), (1, 0)]  # (section, row): ketchup, eggs, then the distractor lime
    tiles = []
    for look, (section, row) in enumerate(rows):
        per_view = []
        for view in range(views):
            left, top, right, bottom = layout.tile_box(section, row, view)
            tile = sheet[top:bottom, left:right]
            assert tile.std() > 10, (look, view)  # a rendered scene, not a blank tile
            changed = np.abs(tile - empty[look, view]).max(axis=2) > 25
            assert changed.mean() > 0.04, (look, view)  # the product is there, not only the shelf
            ys, xs = np.nonzero(changed)
            # Framed from its size: the product spans most of the tile one way or the other.
            assert max(np.ptp(xs), np.ptp(ys)) > 0.6 * size, (look, view, np.ptp(xs), np.ptp(ys))
            per_view.append(tile)
        tiles.append(per_view)
    for view in range(views):
        assert np.abs(tiles[0][view] - tiles[1][view]).mean() > 10  # ketchup and eggs look different
        assert np.abs(tiles[0][view] - tiles[2][view]).mean() > 10
    lime = tiles[2][0].reshape(-1, 3)
    green = (lime[:, 1] > lime[:, 0] + 30) & (lime[:, 1] > lime[:, 2] + 30)
    assert green.mean() > 0.2  # the lime's own colour fills a good part of its front view

    # --products previews a subset (a class or product name); an unknown name is one line, exit 1.
    subset = tmp_path / "subset.png"
    result = _run("preview", path, "--output", str(subset), "--views", "1", "--size", "48", "--products", "eggs")
    assert result.returncode == 0, result.stderr
    with Image.open(subset) as image:
        assert image.size == (SheetLayout(1, 0, 1, 48).width, SheetLayout(1, 0, 1, 48).height)
    result = _run("preview", path, "--output", str(subset), "--products", "cheese")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _lines(result.stderr, "catalog: error:") and "'cheese'" in result.stderr
    # The sheet is a PNG: another extension is refused, not filled with PNG bytes.
    result = _run("preview", path, "--output", str(tmp_path / "sheet.jpg"), "--products", "eggs")
    assert result.returncode == 1 and "--output" in result.stderr and "expected a .png file name" in result.stderr
    assert not (tmp_path / "sheet.jpg").exists()
    assert len(VIEWS) >= views
