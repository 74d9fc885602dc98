"""Cross-checks of a study's files before anything is fetched, rendered or trained (check_study), and of real
photos given as records (check_real_records); coco_class_mapping reads a coco_mapped row's class_mapping into ids.

Errors are StudyError naming the file, the entry and the row. check_study reads files only (no TensorFlow, no
rendering); check_real_records reads the records with TensorFlow.
"""
from __future__ import annotations

import pathlib
from typing import Optional

import yaml

from tfsynth.generate.catalog import CatalogError, load_catalog
from tfsynth.pretrained.class_head import (COCO_LABEL_MAP, classes_sharing_a_start, coco_class_names,
                                           sharing_warning, unknown_coco_class, yaml_key_lines)
from tfsynth.studies.catalogs import count_entries
from tfsynth.studies.spec import (RowSpec, Study, StudyError, needs_backbone, read_image_list, real_data_format,
                                  restore_of)
from tfsynth.utils import config_io, config_overrides, label_map_util


def label_map_classes(path: str) -> dict[str, int]:
    """Class name -> id of the study's label map, which must number its classes 1..K without gaps: num_classes is
    K, and the class head's columns 1..K are the ids (a gap would shift every class after it)."""
    try:
        label_map = label_map_util.load_labelmap(path)
    except (OSError, ValueError) as error:
        raise StudyError(f"field 'label_map': {error}") from None
    items = [(index, item) for index, item in enumerate(label_map.item) if item.id >= 1]
    if not items:
        raise StudyError(f"field 'label_map': {path}: no classes (items with id >= 1)")
    for expected, (index, item) in enumerate(sorted(items, key=lambda entry: entry[1].id), 1):
        if item.id != expected:
            raise StudyError(f"field 'label_map': {path}: item {index + 1} ({item.name or item.display_name!r}, "
                             f"id {item.id}): expected ids 1..{len(items)} without gaps (id {expected} is missing): "
                             "num_classes and the class head's columns follow the ids")
    return {item.name or item.display_name: item.id for _, item in items}


def _yaml_mapping(path: str, what: str) -> tuple[dict, dict[str, int]]:
    """A YAML mapping file and the line of each key; StudyError naming `what` (the field) and the file."""
    if not pathlib.Path(path).is_file():
        raise StudyError(f"{what}: {path} does not exist")
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StudyError(f"{what}: {path}: cannot read: {error}") from None
    if not isinstance(data, dict) or not data:
        raise StudyError(f"{what}: {path}: expected a non-empty YAML mapping, got {data!r}")
    return data, yaml_key_lines(path)


def check_study(study: Study, rows: Optional[list[RowSpec]] = None) -> list[str]:
    """Cross-checks the files of a study (its rows, or `rows`) before anything is fetched, rendered or trained.

    Raises StudyError naming the file and the entry (and the row) at the first problem: the label map must number
    its classes 1..K; each pipeline.config must read and hold an ssd or faster_rcnn model (whose num_classes the
    runner sets from the label map, so overrides may not); every product class of every catalog a row renders must
    be a class of the label map; class_init's keys must be classes of the label map and its values COCO classes
    (or null); each coco_mapped row's class_mapping must map COCO classes to lists of classes of the label map;
    the real photos must exist in a form real_data takes. Reads files only (no TensorFlow, no rendering).
    Returns warnings for the report: classes no catalog renders, classes that start from one COCO class.
    """
    try:
        return _check_study(study, study.rows if rows is None else rows)
    except StudyError as error:
        # Name the study file too when there is one (main_job's overrides leave none: the flags name the files).
        raise StudyError(f"{study.source}: {error}" if study.source else str(error)) from None


def _check_study(study: Study, rows: list[RowSpec]) -> list[str]:
    """check_study's checks, in order of cost (see check_study)."""
    trained = [row for row in rows if row.kind == "train"]
    warnings: list[str] = []
    classes = label_map_classes(study.label_map)

    def row_where(row: Optional[RowSpec]) -> str:
        return f"row {row.name!r}: " if row is not None else ""

    for key in study.overrides:
        if str(key).split(".")[-1] == "num_classes":
            raise StudyError(f"field 'overrides': key {key!r}: num_classes follows the label map "
                             f"({len(classes)} classes in {study.label_map}); remove it")
    for row in trained:
        for key in row.overrides or {}:
            if str(key).split(".")[-1] == "num_classes":
                raise StudyError(f"{row_where(row)}field 'overrides': key {key!r}: num_classes follows the label map "
                                 f"({len(classes)} classes in {study.label_map}); remove it")

    def distinct_files(field: str):
        """(row, path, where) for each distinct file a trained row reads from `field` (its own or the study's)."""
        seen: set[str] = set()
        for row in trained:
            path = getattr(row, field) or getattr(study, field)
            if path not in seen:
                seen.add(path)
                yield row, path, f"{row_where(row) if getattr(row, field) else ''}field {field!r}"

    for row, config_path, where in distinct_files("pipeline_config"):
        try:
            model = config_io.get_configs_from_pipeline_file(config_path)["model"]
        except (OSError, ValueError) as error:
            raise StudyError(f"{where}: {error}") from None
        architecture = model.WhichOneof("model")
        if architecture not in ("ssd", "faster_rcnn"):
            raise StudyError(f"{where}: {config_path}: model is {architecture or 'not set'}; expected ssd or "
                             "faster_rcnn (whose num_classes the study sets from its label map)")

    # Overrides as the runner will apply them (study's, then the row's), so a wrong key or value names the study
    # and the row now, not after rendering.
    for row in trained:
        config_path = row.pipeline_config or study.pipeline_config
        for where, overrides in (("field 'overrides'", study.overrides),
                                 (f"{row_where(row)}field 'overrides'", {**study.overrides, **(row.overrides or {})})):
            if not overrides:
                continue
            try:
                config_overrides.merge_external_params_with_configs(
                    config_io.get_configs_from_pipeline_file(config_path), kwargs_dict=dict(overrides))
            except (ValueError, TypeError, KeyError) as error:
                raise StudyError(f"{where}: {error} (applied to {config_path})") from None
    _check_restores(study, trained, row_where)

    rendered: set[str] = set()
    for row, catalog_path, where in distinct_files("catalog"):
        try:
            catalog = load_catalog(catalog_path)
        except CatalogError as error:
            raise StudyError(f"{where}: {error}") from None
        for index, product in enumerate(catalog.products):
            if product.label not in classes:
                raise StudyError(f"{where}: {catalog_path}: products[{index}] ({product.name!r}): class "
                                 f"{product.label!r} is not a class of the label map {study.label_map} (its classes: "
                                 f"{sorted(classes)}); add it there or correct the product's class")
            rendered.add(product.label)
    for row in trained:
        if row.distractor_kinds is None:
            continue
        catalog_path = row.catalog or study.catalog
        _, distractors = count_entries(catalog_path)
        if row.distractor_kinds > distractors:
            raise StudyError(f"{row_where(row)}field 'distractor_kinds': {row.distractor_kinds}, but the catalog "
                             f"{catalog_path} has {distractors} distractors")
    unrendered = sorted(set(classes) - rendered)
    if trained and unrendered:
        warnings.append(f"Classes {unrendered} of {study.label_map} are in no catalog the rows render: the trained "
                        "rows never see them (their AP on the real photos will be 0).")

    coco = coco_class_names()
    if study.class_init and any(row.fine_tune for row in trained):
        init, lines = _yaml_mapping(study.class_init, "field 'class_init'")
        for new_name, coco_name in init.items():
            where = f"field 'class_init': {study.class_init}:{lines.get(str(new_name), '?')}: entry {new_name!r}"
            if new_name not in classes:
                raise StudyError(f"{where}: not a class of the label map {study.label_map} (its classes: "
                                 f"{sorted(classes)})")
            if coco_name is not None and coco_name not in coco:
                raise StudyError(f"{where}: " + unknown_coco_class(coco_name, str(COCO_LABEL_MAP), coco))
        warnings += [sharing_warning(coco_name, names, study.class_init) + "."
                     for coco_name, names in classes_sharing_a_start(init).items()]

    for row in rows:
        if row.kind != "coco_mapped":
            continue
        mapping, lines = _yaml_mapping(row.class_mapping, f"{row_where(row)}field 'class_mapping'")
        for coco_name, targets in mapping.items():
            where = (f"{row_where(row)}field 'class_mapping': {row.class_mapping}:{lines.get(str(coco_name), '?')}: "
                     f"entry {coco_name!r}")
            if coco_name not in coco:
                raise StudyError(f"{where}: " + unknown_coco_class(coco_name, str(COCO_LABEL_MAP), coco))
            if targets is not None and (not isinstance(targets, list) or
                                        not all(isinstance(t, str) for t in targets)):
                raise StudyError(f"{where}: expected a list of classes of {study.label_map}, got {targets!r}")
            for target in targets or []:
                if target not in classes:
                    raise StudyError(f"{where}: {target!r} is not a class of the label map {study.label_map} (its "
                                     f"classes: {sorted(classes)})")

    real, field = study.real_photos()
    real_format = real_data_format(real, f"field {field!r}")
    if real_format == "list":
        read_image_list(real.path, f"field {field!r}")
    return warnings


def _check_restores(study: Study, trained: list[RowSpec], row_where) -> None:
    """Each fine-tuned row's checkpoint must be one its model can restore: full needs class_init (COCO's head has
    90 classes) or the row's own checkpoint; the COCO SSDLite's backbone fits MobileNetV2 SSD feature extractors
    only; a row's own checkpoint must exist."""
    for row in trained:
        if not row.fine_tune:
            continue
        restore = restore_of(row, study)
        if restore == "full" and not study.class_init and not row.fine_tune_checkpoint:
            raise StudyError(f"{row_where(row)}field 'fine_tune_checkpoint_type': full restores the class head too, "
                             "which needs the study's class_init (COCO's head has 90 classes) or the row's "
                             "fine_tune_checkpoint")
        if row.fine_tune_checkpoint:
            path = pathlib.Path(row.fine_tune_checkpoint)
            if not (path.is_dir() or pathlib.Path(str(path) + ".index").is_file()):
                raise StudyError(f"{row_where(row)}field 'fine_tune_checkpoint': {path} is neither a checkpoint "
                                 "prefix (PREFIX.index beside it) nor a folder holding one")
        if needs_backbone(row, study):
            config_path = row.pipeline_config or study.pipeline_config
            model = config_io.get_configs_from_pipeline_file(config_path)["model"]
            extractor = (model.ssd.feature_extractor.type if model.WhichOneof("model") == "ssd"
                         else model.faster_rcnn.feature_extractor.type)
            if "mobilenet_v2" not in extractor:
                raise StudyError(f"{row_where(row)}field 'fine_tune_checkpoint_type': classification without a "
                                 f"fine_tune_checkpoint restores the COCO SSDLite's MobileNetV2 backbone, which does "
                                 f"not fit {extractor} ({config_path}); name a checkpoint of that backbone")


def check_real_records(pattern: str, label_map_path: str, where: str) -> int:
    """Checks that records of real photos use the label map's ids (records converted without it number classes
    in sorted name order); returns the number of records. StudyError names the file, record and class."""
    # Lazy: tfrecord loads TensorFlow, which only real photos given as records need; the rest of the checks, and
    # the study runner until it scores a row, run without it (see tfsynth.studies.runner).
    from tfsynth.data import tfrecord
    ours = label_map_util.get_label_map_dict(label_map_path)
    by_id = {class_id: name for name, class_id in ours.items()}
    count = 0
    for path in tfrecord.expand_pattern(pattern):
        for number, example in enumerate(tfrecord.read_examples(path), 1):
            count += 1
            image = tfrecord.example_to_annotation(example)
            at = f"{where}: {path}: record {number} ({image.filename or image.source_id})"
            for obj in image.objects:
                has_text = obj.class_name != str(obj.class_id)  # example_to_annotation's stand-in for no text
                if has_text and obj.class_name not in ours:
                    raise StudyError(f"{at}: class {obj.class_name!r} is not a class of the label map "
                                     f"{label_map_path} (its classes: {sorted(ours)})")
                if has_text and obj.class_id is not None and obj.class_id != ours[obj.class_name]:
                    raise StudyError(f"{at}: class {obj.class_name!r} has id {obj.class_id} but the label map "
                                     f"{label_map_path} gives it id {ours[obj.class_name]}; convert the photos with "
                                     f"--label_map {label_map_path}")
                if not has_text and obj.class_id not in by_id:
                    raise StudyError(f"{at}: class id {obj.class_id} is not an id of the label map {label_map_path}")
    if not count:
        raise StudyError(f"{where}: {pattern}: no records")
    return count


def coco_class_mapping(mapping_path: str, coco_label_map: str, target_label_map: str) -> dict[int, list[int]]:
    """Reads a YAML {COCO display name: [our class names]} into {COCO id: [our ids]}; names are checked."""
    data = yaml.safe_load(pathlib.Path(mapping_path).read_text()) or {}
    coco = {c["name"]: c["id"] for c in label_map_util.create_categories_from_labelmap(coco_label_map)}
    ours = label_map_util.get_label_map_dict(target_label_map)
    mapping: dict[int, list[int]] = {}
    for coco_name, targets in data.items():
        if coco_name not in coco:
            raise StudyError(f"{mapping_path}: " + unknown_coco_class(coco_name, coco_label_map, coco))
        for target in targets or []:
            if target not in ours:
                raise StudyError(f"{mapping_path}: {coco_name!r} -> {target!r}: not a class of {target_label_map}")
        mapping[coco[coco_name]] = [ours[t] for t in targets or []]
    return mapping
