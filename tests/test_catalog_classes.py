"""Several products (looks) of one labelled class: the catalog's `class` field."""
import pytest

from tfsynth.generate.catalog import CatalogError, load_catalog
from tfsynth.generate.sampler import SamplerConfig, sample_scene


def _write(tmp_path, text):
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return str(path)


def test_products_sharing_a_class_are_labelled_with_it(tmp_path):
    catalog = load_catalog(_write(tmp_path, """
products:
  - {name: squash_yellow, class: squash, archetype: squash, size_mm: {width: 60, height: 200}, colors: [[235, 190, 50]]}
  - {name: squash_green, class: squash, archetype: squash, size_mm: {width: 60, height: 200}, colors: [[40, 90, 40]]}
  - {name: orange, archetype: sphere, size_mm: {width: 75}, colors: [[240, 130, 20]]}
"""))
    assert catalog.class_names == ["squash", "orange"]
    assert {p.key for p in catalog.products} == {"p:squash_yellow", "p:squash_green", "p:orange"}
    labels = set()
    for index in range(6):
        scene = sample_scene(catalog, SamplerConfig(width=64, height=48, products_per_image=(8, 8)), 0, 0, index)
        labels |= {obj.class_name for obj in scene.objects if obj.class_name}
    assert labels == {"squash", "orange"}  # never a product name such as squash_green


def test_class_field_errors_name_the_product(tmp_path):
    with pytest.raises(CatalogError, match=r"'lemon'.*field 'class': distractors are never labelled"):
        load_catalog(_write(tmp_path, """
products: [{name: orange, archetype: sphere, size_mm: {width: 75}}]
distractors: [{name: lemon, class: orange, archetype: sphere, size_mm: {width: 60}}]
"""))
    with pytest.raises(CatalogError, match=r"'orange'.*field 'class': expected a non-empty class name"):
        load_catalog(_write(tmp_path, "products: [{name: orange, class: '', archetype: sphere, size_mm: {width: 75}}]\n"))
