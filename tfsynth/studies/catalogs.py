"""The dictionary of 3D models a row renders: a catalog cut to the first N looks of each class and the first N
distractor kinds (the study row fields looks_per_class and distractor_kinds), written as a derived catalog file.

Entries keep the order of the source catalog; their label images and mesh files are made absolute, since the
derived file lies elsewhere than the source (whose folder they are relative to).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any, Optional

import yaml

from tfsynth.studies.spec import StudyError
from tfsynth.utils.files import write_atomically


def _absolute_paths(entry: dict, base: str) -> dict:
    """The entry with its texture (a path or {face: path}) and mesh paths made absolute from `base`."""
    entry = dict(entry)

    def absolute(path: Any) -> Any:
        return os.path.normpath(os.path.join(base, path)) if isinstance(path, str) else path

    if "mesh" in entry:
        entry["mesh"] = absolute(entry["mesh"])
    if isinstance(entry.get("texture"), dict):
        entry["texture"] = {face: absolute(path) for face, path in entry["texture"].items()}
    elif "texture" in entry:
        entry["texture"] = absolute(entry["texture"])
    return entry


def cut_catalog(data: dict, looks_per_class: Optional[int], distractor_kinds: Optional[int]) -> dict:
    """The catalog data (as read from YAML) with at most looks_per_class products of each class and the first
    distractor_kinds distractors (None: all)."""
    kept, per_class = [], {}
    for entry in data.get("products") or []:
        label = entry.get("class") or entry.get("name")
        per_class[label] = per_class.get(label, 0) + 1
        if looks_per_class is None or per_class[label] <= looks_per_class:
            kept.append(entry)
    distractors = list(data.get("distractors") or [])
    if distractor_kinds is not None:
        distractors = distractors[:distractor_kinds]
    return {**data, "products": kept, "distractors": distractors}


def count_entries(catalog_path: str) -> tuple[dict[str, int], int]:
    """(looks per class, number of distractors) of a YAML catalog."""
    data = _read(catalog_path)
    looks: dict[str, int] = {}
    for entry in data.get("products") or []:
        label = entry.get("class") or entry.get("name")
        looks[label] = looks.get(label, 0) + 1
    return looks, len(data.get("distractors") or [])


def _read(catalog_path: str) -> dict:
    try:
        data = yaml.safe_load(pathlib.Path(catalog_path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StudyError(f"{catalog_path}: cannot read the catalog: {error}") from None
    if not isinstance(data, dict):
        raise StudyError(f"{catalog_path}: expected a catalog mapping with 'products'")
    return data


def derived_catalog(catalog_path: str, looks_per_class: Optional[int], distractor_kinds: Optional[int],
                    output_dir: pathlib.Path) -> str:
    """Writes (once per content) the cut catalog under output_dir; returns its path."""
    data = _read(catalog_path)
    base = os.path.dirname(os.path.abspath(catalog_path))
    cut = cut_catalog(data, looks_per_class, distractor_kinds)
    cut["products"] = [_absolute_paths(entry, base) for entry in cut["products"]]
    cut["distractors"] = [_absolute_paths(entry, base) for entry in cut["distractors"]]
    text = (f"# {os.path.basename(catalog_path)} cut to {looks_per_class or 'all'} looks per class and "
            f"{'all' if distractor_kinds is None else distractor_kinds} distractor kinds (tfsynth.studies.catalogs)\n"
            + yaml.safe_dump(cut, sort_keys=False))
    digest = hashlib.sha256(json.dumps([catalog_path, text]).encode()).hexdigest()[:12]
    path = pathlib.Path(output_dir) / f"catalog_{digest}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    return str(path)
