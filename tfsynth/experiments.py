"""python -m tfsynth.experiments STUDY.yaml: the paper's studies, each row rendered, trained and scored on real photos.

A study is one YAML file: the shared settings (catalog, label map, pipeline.config, renders, steps) and a list of
rows, each changing what it names: cues held fixed, number of images, products per image, distractors, the
catalog (3D model dictionary size), the pipeline.config (architecture), layers fine-tuned (freeze_variables /
update_trainable_variables), no COCO transfer, early stopping on rendered validation images, or the COCO model
before fine-tuning with its classes mapped to ours, or any other key of its pipeline.config (overrides). Every row
is evaluated on the same real photos; the study writes a comparison table, results.json and plots. Renders are
shared by rows that ask for the same ones, every step resumes where it stopped (its wall time summed over the
attempts), and --rows runs chosen rows alone.

Study fields (this list is the reference; README's "Your own products, end to end" shows them in use). A relative
path is taken from the study file's folder when it exists there, else from the repository root; a glob the same way.

    title              (required) the report's heading
    pipeline_config    (required) the OD API pipeline.config every row starts from; its model (ssd or faster_rcnn)
                       gets num_classes from label_map, its inputs the renders, its label_map_path label_map
    catalog            (required) the products rendered, a YAML catalog (format: tfsynth/generate/catalog.py's
                       docstring); every product's class must be a class of label_map
    label_map          (required) label_map.pbtxt of the classes, ids 1..K without gaps: renders, real photos and
                       the model all use these ids
    rows               (required) the rows, below
    class_init         YAML {class of label_map: COCO class or null}: the fine-tuned rows start their class head from
                       those COCO classes (tfsynth.pretrained.class_head; COCO names are the display_name entries of
                       tfsynth/pretrained/mscoco_label_map.pbtxt; null = the mean of all COCO classes) and restore
                       everything ("full"); without it, the OD API's "detection" restore (feature extractor only)
    real_data          the real photos every row is scored on (evaluation only: never trained or stopped on). A path
                       whose form is recognised: a folder in CNTK tsv layout (N.jpg + N.bboxes.tsv +
                       N.bboxes.labels.tsv, any subfolders; or one subfolder of such a layout), a VOC folder (year
                       folder, VOCdevkit, or a folder of .xml files), a Unity SOLO folder (sequence.N/), a COCO
                       instances JSON (images beside it), a text file listing image paths (one a line, relative to
                       the list's folder, '#' comments; each image's annotations beside it as N.bboxes.tsv +
                       N.bboxes.labels.tsv or as N.xml, none: a negative), or a TFRecord glob of records already
                       converted with this label_map. Or a mapping {path, format, image_dir, split}: format one of
                       cntk, voc, coco, solo, list, records (default: recognised from the path); image_dir: coco's
                       image folder; split: voc's ImageSets/Main split (default trainval). All but records go
                       through tfsynth.convert with label_map; records are checked against label_map.
    real_data_dir      the older field for a CNTK tsv folder (real_data: {path: DIR, format: cntk}); give one of
                       the two. Neither: ../shared/data/real/cntk_fridge_us beside the repository (25 photos with
                       products and 5 negatives)
    num_images         rendered training images per row (1000)
    validation_images  rendered validation images of each dataset (100): evaluation during training and early
                       stopping read these, never the real photos
    num_train_steps    training steps per row (1000)
    preset             the renderer's preset: fast, default or photoreal (default)
    width, height      render size in pixels (the generator's 640x480)
    seed               base seed of the renders (0)
    num_workers        render processes (the generator's default)
    overrides          {key: value} applied to every row's pipeline.config: a key of
                       config_util.merge_external_params_with_configs (batch_size, learning_rate, ...) or a dotted
                       field path (model.ssd.freeze_batchnorm); not num_classes, which follows label_map
    notes              lines copied into the report

Row fields (each row: name, then only what it changes):

    name               (required, unique) its label is the name up to the first ':' ("b1" of "b1: no COCO
                       checkpoint"), what --rows takes
    kind               train (default: render, fine-tune, score) or coco_mapped (score the COCO model before
                       fine-tuning; reads only name, kind and class_mapping)
    class_mapping      coco_mapped rows (required): YAML {COCO class: [classes of label_map]}; a COCO detection
                       counts as one of each class it maps to
    cues               the cues that vary (the generator's --cues): '-color' (all but colour: colour held fixed),
                       'color,viewpoint' (only these), 'none'
    num_images, num_train_steps, catalog, pipeline_config    replace the study's
    products_per_image, distractors                          N or MIN,MAX per image (generator: 6,24 and 0,4)
    fine_tune          false: no COCO checkpoint (and the config's freeze_variables dropped)
    freeze_variables, update_trainable_variables             lists of variable-name regular expressions
    early_stopping     {metric, patience, every_n_steps}: stop on the rendered validation images
    overrides          like the study's, applied after them, to this row's pipeline.config only

Before anything is fetched, rendered or trained, check_study cross-checks the files (label map, catalogs,
pipeline.configs, class_init, class_mapping, real photos); each error names the file and the entry.

Example (configs/studies/cues.yaml holds the paper's cue study; configs/studies/own_products_example.yaml a study of
a user's own products):

    title: Cue study
    pipeline_config: configs/ssdlite_fridge_quick.config
    catalog: configs/fridge_us_catalog.yaml
    label_map: configs/fridge_us_label_map.pbtxt
    num_images: 1000
    num_train_steps: 300
    rows:
      - {name: all cues}
      - {name: color fixed, cues: -color}
      - {name: no transfer, fine_tune: false}
      - {name: heads only, freeze_variables: [FeatureExtractor]}
      - {name: COCO model, kind: coco_mapped, class_mapping: configs/coco_to_fridge_us.yaml}
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from typing import Any, Optional

import yaml
from absl import app, flags, logging

from tfsynth.utils.files import write_atomically

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real" / "cntk_fridge_us"
PRETRAINED_NAME = "ssdlite_mobilenet_v2_coco"


_COCO_MAPPED_FIELDS = {"name", "kind", "class_mapping"}  # a coco_mapped row renders and trains nothing
_EARLY_STOPPING_KEYS = {"metric", "patience", "every_n_steps"}


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and the field."""


@dataclasses.dataclass
class RowSpec:
    """One row of a study; None means "as the study's shared setting"."""

    name: str
    kind: str = "train"  # train | coco_mapped
    cues: Optional[str] = None
    num_images: Optional[int] = None
    products_per_image: Optional[str] = None
    distractors: Optional[str] = None
    catalog: Optional[str] = None
    pipeline_config: Optional[str] = None
    num_train_steps: Optional[int] = None
    fine_tune: bool = True
    freeze_variables: Optional[list] = None
    update_trainable_variables: Optional[list] = None
    early_stopping: Optional[dict] = None  # {metric, patience, every_n_steps}
    class_mapping: Optional[str] = None
    # key=value overrides of this row's pipeline.config, applied after the study's (same keys as Study.overrides).
    overrides: Optional[dict] = None


# The forms real photos may come in: the four readers of tfsynth.convert, a list of image files, converted records.
REAL_DATA_FORMATS = ("cntk", "voc", "coco", "solo", "list", "records")
_REAL_DATA_KEYS = ("path", "format", "image_dir", "split")
_RECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".record")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_CNTK_BOXES, _CNTK_LABELS = ".bboxes.tsv", ".bboxes.labels.tsv"
_REAL_DATA_EXPECTED = ("a folder in CNTK tsv layout (or a subfolder of one), a VOC folder, a Unity SOLO folder, a "
                       "COCO instances JSON, a text file listing image paths, or a TFRecord glob; or a mapping "
                       "{path, format, image_dir, split} with format one of " + ", ".join(REAL_DATA_FORMATS))


@dataclasses.dataclass
class RealData:
    """The real photos a study scores and the form they are in (the study field real_data; see the docstring)."""

    path: str
    format: str = "auto"  # one of REAL_DATA_FORMATS; auto: recognised from the path by real_data_format
    image_dir: Optional[str] = None  # coco: the images' folder (default: the JSON's folder)
    split: Optional[str] = None  # voc: ImageSets/Main split of VOC year folders (default: trainval)

    def describe(self) -> str:
        extra = "".join(f", {key} {value}" for key, value in (("image_dir", self.image_dir), ("split", self.split))
                        if value)
        return f"{self.path} ({self.format}{extra})"


@dataclasses.dataclass
class Study:
    """The shared settings of a study and its rows."""

    title: str
    pipeline_config: str
    catalog: str
    label_map: str
    rows: list[RowSpec]
    num_images: int = 1000
    validation_images: int = 100
    num_train_steps: int = 1000
    preset: str = "default"
    width: Optional[int] = None  # render size; None: the generator's default (640x480)
    height: Optional[int] = None
    seed: int = 0
    num_workers: Optional[int] = None
    # The real photos (RealData; a path or mapping in YAML); real_data_dir is the older field for a CNTK folder.
    # Neither: DEFAULT_REAL_DIR. real_photos() says which applies.
    real_data: Optional[RealData] = None
    real_data_dir: Optional[str] = None
    # Optional YAML {our class: COCO class}: start the class head from those COCO classes (tfsynth.pretrained.class_head)
    # and fine-tune everything ("full"); without it, the OD API's "detection" restore (feature extractor only).
    class_init: Optional[str] = None
    # key=value overrides of every row's pipeline.config (config_util.merge_external_params_with_configs keys or
    # dotted paths), e.g. {batch_size: 2}.
    overrides: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    source: Optional[str] = None  # the study file (set by load_study; not a YAML field)

    def real_photos(self) -> tuple[RealData, str]:
        """The real photos to score and the field that named them (for error messages)."""
        if self.real_data is not None:
            return self.real_data, "real_data"
        if self.real_data_dir:
            return RealData(self.real_data_dir, "cntk"), "real_data_dir"
        return RealData(str(DEFAULT_REAL_DIR), "cntk"), "real_data_dir (default)"


def _resolve(path: Optional[str], base: pathlib.Path) -> Optional[str]:
    """A path as written in a study file: relative to the file's folder, else to the repository root (a glob: where
    it matches something)."""
    if path is None:
        return None
    path = os.path.expanduser(str(path))
    candidate = pathlib.Path(path)
    if candidate.is_absolute():
        return str(candidate)
    for root in (base, REPO_ROOT):
        if glob.has_magic(path) and glob.glob(str(root / candidate)):
            return str(root.resolve() / candidate)
        if (root / candidate).exists():
            return str((root / candidate).resolve())
    return str((REPO_ROOT / candidate).resolve())


def parse_real_data(value: Any, where: str, base: pathlib.Path) -> RealData:
    """The real_data field (a path or a mapping {path, format, image_dir, split}) with its paths resolved from
    `base`; where names the file and field (or the flag) for errors. The path need not exist yet: check_study
    looks at it before the study runs."""
    if isinstance(value, (str, pathlib.Path)) and str(value).strip():
        return RealData(_resolve(str(value), base))
    if not isinstance(value, dict):
        raise StudyError(f"{where}: expected a path or a mapping {{path, format, image_dir, split}}, got {value!r}")
    unknown = sorted(set(value) - set(_REAL_DATA_KEYS))
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {unknown}; expected some of {list(_REAL_DATA_KEYS)}")
    if not isinstance(value.get("path"), str) or not value["path"].strip():
        raise StudyError(f"{where}: key 'path': expected the path of the real photos, got {value.get('path')!r}")
    data_format = value.get("format") or "auto"
    if data_format not in ("auto", *REAL_DATA_FORMATS):
        raise StudyError(f"{where}: key 'format': expected one of {['auto', *REAL_DATA_FORMATS]}, "
                         f"got {data_format!r}")
    if value.get("image_dir") and data_format not in ("auto", "coco"):
        raise StudyError(f"{where}: key 'image_dir' applies to format coco only, not {data_format}")
    if value.get("split") and data_format not in ("auto", "voc"):
        raise StudyError(f"{where}: key 'split' applies to format voc only, not {data_format}")
    return RealData(_resolve(value["path"], base), data_format, _resolve(value.get("image_dir"), base),
                    str(value["split"]) if value.get("split") else None)


def _is_solo_folder(folder: str) -> bool:
    return any(glob.glob(os.path.join(glob.escape(folder), "sequence.*", "*.frame_data.json")))


def _is_voc_folder(folder: str) -> bool:
    """A VOC year folder, a VOCdevkit (year folders inside) or a folder of .xml files (or of Annotations/)."""
    if any(os.path.isdir(os.path.join(folder, sub)) for sub in ("ImageSets", "Annotations")):
        return True
    if glob.glob(os.path.join(glob.escape(folder), "*.xml")):
        return True
    years = glob.glob(os.path.join(glob.escape(folder), "*"))
    return any(os.path.isdir(os.path.join(year, "ImageSets")) for year in years)


def real_data_format(real: RealData, where: str) -> str:
    """The form of the real photos (real.format, or recognised from the path); StudyError naming `where` when the
    path is missing or not of that form."""
    path = real.path
    if real.format == "records" or (real.format == "auto" and (glob.has_magic(path)
                                                                or path.endswith(_RECORD_SUFFIXES))):
        if not glob.glob(path):
            raise StudyError(f"{where}: no file matches {path!r}; expected TFRecord files (a glob such as "
                             "'DIR/real-*.tfrecord') converted with the study's label map")
        return "records"
    if not os.path.exists(path):
        raise StudyError(f"{where}: {path} does not exist; expected {_REAL_DATA_EXPECTED}")
    if real.format != "auto":
        wants_file = real.format in ("coco", "list")
        if wants_file != os.path.isfile(path):
            raise StudyError(f"{where}: {path} is {'a folder' if wants_file else 'a file'}; format {real.format} "
                             f"expects {'a file' if wants_file else 'a folder'}")
        found = real.format
    elif os.path.isfile(path):
        found = "coco" if path.lower().endswith(".json") else "list"
    elif _is_solo_folder(path):
        found = "solo"
    elif _is_voc_folder(path):
        found = "voc"
    else:
        found = "cntk"
    if found == "coco" and real.image_dir and not os.path.isdir(real.image_dir):
        raise StudyError(f"{where}: image_dir {real.image_dir} is not a folder; expected the folder of the COCO "
                         "JSON's images")
    return found


def read_image_list(list_path: str, where: str) -> tuple[str, list[str]]:
    """The images of a file list and how they are annotated: ('cntk' or 'voc', image paths).

    One image path a line, relative to the list's folder; blank lines and '#' comments skipped. Each image's
    annotations lie beside it as convert's readers expect them: N.bboxes.tsv + N.bboxes.labels.tsv (cntk) or N.xml
    (voc); an image with none is a negative. One list holds one of the two kinds.
    """
    folder = os.path.dirname(os.path.abspath(list_path))
    images: list[str] = []
    kinds: dict[str, int] = {}
    try:
        lines = pathlib.Path(list_path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise StudyError(f"{where}: cannot read the file list {list_path}: {error}") from None
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        at = f"{where}: {list_path}:{number}"
        image = os.path.normpath(os.path.join(folder, os.path.expanduser(entry)))
        if not image.lower().endswith(_IMAGE_SUFFIXES):
            raise StudyError(f"{at}: {entry!r}: expected the path of an image ({', '.join(_IMAGE_SUFFIXES)})")
        if not os.path.isfile(image):
            raise StudyError(f"{at}: image {image} does not exist")
        stem = os.path.splitext(image)[0]
        if os.path.isfile(stem + ".xml"):
            kinds.setdefault("voc", number)
        elif os.path.isfile(stem + _CNTK_BOXES) or os.path.isfile(stem + _CNTK_LABELS):
            kinds.setdefault("cntk", number)
        images.append(image)
    if not images:
        raise StudyError(f"{where}: {list_path} lists no images; expected one image path a line")
    if len(kinds) > 1:
        raise StudyError(f"{where}: {list_path}: line {kinds['cntk']} has CNTK box files beside its image but line "
                         f"{kinds['voc']} a VOC .xml; expected one kind of annotation for the whole list")
    return next(iter(kinds), "cntk"), images


def stage_image_list(list_path: str, staging: pathlib.Path, where: str) -> tuple[str, str]:
    """Lays the listed images and their annotations out (symbolic links; VOC XML rewritten to name its staged
    image) as one folder that convert's cntk or voc reader reads; returns (format, folder).

    Staged names are numbered in list order (00001_N.jpg), so images of the same name from different folders
    do not collide.
    """
    kind, images = read_image_list(list_path, where)
    if staging.exists():
        shutil.rmtree(staging)
    image_dir = staging / "JPEGImages" if kind == "voc" else staging
    image_dir.mkdir(parents=True)
    for index, image in enumerate(images, 1):
        name = f"{index:05d}_{os.path.basename(image)}"
        stem = os.path.splitext(image)[0]
        staged_stem = os.path.splitext(name)[0]
        os.symlink(image, image_dir / name)
        if kind == "cntk":
            for suffix in (_CNTK_BOXES, _CNTK_LABELS):
                if os.path.isfile(stem + suffix):
                    os.symlink(stem + suffix, staging / (staged_stem + suffix))
            continue
        annotations = staging / "Annotations"
        annotations.mkdir(exist_ok=True)
        if os.path.isfile(stem + ".xml"):
            try:
                tree = ElementTree.parse(stem + ".xml")
            except ElementTree.ParseError as error:
                raise StudyError(f"{where}: {stem}.xml: not well-formed XML: {error}") from None
            root = tree.getroot()
        else:  # a negative: an annotation without objects
            root = ElementTree.Element("annotation")
            tree = ElementTree.ElementTree(root)
        filename = root.find("filename")
        if filename is None:
            filename = ElementTree.SubElement(root, "filename")
        filename.text = name
        tree.write(annotations / f"{staged_stem}.xml", encoding="unicode")
    return kind, str(staging)


def load_study(path: str) -> Study:
    """Reads and checks a study YAML file; errors name the file, the row and the field."""
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StudyError(f"{path}: cannot read study: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not data["rows"]:
        raise StudyError(f"{path}: expected a mapping with a non-empty list 'rows'")
    study_fields = {f.name for f in dataclasses.fields(Study)} - {"rows", "source"}
    row_fields = {f.name for f in dataclasses.fields(RowSpec)}
    unknown = sorted(set(data) - study_fields - {"rows"})
    if unknown:
        raise StudyError(f"{path}: unknown field(s) {unknown}; expected some of {sorted(study_fields | {'rows'})}")
    rows = []
    for index, entry in enumerate(data["rows"]):
        where = f"{path}: rows[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise StudyError(f"{where}: expected a mapping with at least a 'name'")
        bad = sorted(set(entry) - row_fields)
        if bad:
            raise StudyError(f"{where} ({entry['name']!r}): unknown field(s) {bad}; expected some of "
                             f"{sorted(row_fields)}")
        row = RowSpec(**entry)
        if row.kind not in ("train", "coco_mapped"):
            raise StudyError(f"{where} ({row.name!r}): field 'kind': expected train or coco_mapped, got {row.kind!r}")
        if row.early_stopping is not None:
            if not isinstance(row.early_stopping, dict) or set(row.early_stopping) - _EARLY_STOPPING_KEYS:
                raise StudyError(f"{where} ({row.name!r}): field 'early_stopping': expected a mapping with some of "
                                 f"{sorted(_EARLY_STOPPING_KEYS)}, got {row.early_stopping!r}")
        if row.overrides is not None and not isinstance(row.overrides, dict):
            raise StudyError(f"{where} ({row.name!r}): field 'overrides': expected a mapping of config keys to "
                             f"values, got {row.overrides!r}")
        if row.kind == "coco_mapped" and not row.class_mapping:
            raise StudyError(f"{where} ({row.name!r}): field 'class_mapping' is needed for kind coco_mapped")
        # A field the row's kind never reads would be ignored without a word: refuse it instead.
        read_by_kind = _COCO_MAPPED_FIELDS if row.kind == "coco_mapped" else row_fields - {"class_mapping"}
        unused = sorted(set(entry) - read_by_kind)
        if unused:
            raise StudyError(f"{where} ({row.name!r}): field(s) {unused} have no effect on a row of kind "
                             f"{row.kind}; it reads only {sorted(read_by_kind)}")
        rows.append(row)
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise StudyError(f"{path}: row names must be unique, got {names}")
    missing = [key for key in ("title", "pipeline_config", "catalog", "label_map") if key not in data]
    if missing:
        raise StudyError(f"{path}: missing field(s) {missing}")
    if data.get("real_data") is not None and data.get("real_data_dir") is not None:
        raise StudyError(f"{path}: fields 'real_data' and 'real_data_dir' both name real photos; expected one "
                         "(real_data_dir: DIR is real_data: {path: DIR, format: cntk})")
    if not isinstance(data.get("overrides", {}), dict):
        raise StudyError(f"{path}: field 'overrides': expected a mapping of config keys to values, "
                         f"got {data['overrides']!r}")
    study = Study(rows=rows, **{k: v for k, v in data.items() if k != "rows"})
    resolved = pathlib.Path(path).resolve()
    base = resolved.parent
    study.source = str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)
    for attribute in ("pipeline_config", "catalog", "label_map", "real_data_dir", "class_init"):
        setattr(study, attribute, _resolve(getattr(study, attribute), base))
    if study.real_data is not None:
        study.real_data = parse_real_data(study.real_data, f"{path}: field 'real_data'", base)
    for row in rows:
        for attribute in ("catalog", "pipeline_config", "class_mapping"):
            setattr(row, attribute, _resolve(getattr(row, attribute), base))
    for attribute in ("pipeline_config", "catalog", "label_map"):
        if not pathlib.Path(getattr(study, attribute)).exists():
            raise StudyError(f"{path}: field {attribute!r}: {getattr(study, attribute)} does not exist")
    return study


def _label_map_classes(path: str) -> dict[str, int]:
    """Class name -> id of the study's label map, which must number its classes 1..K without gaps: num_classes is
    K, and the class head's columns 1..K are the ids (a gap would shift every class after it)."""
    from tfsynth.utils import label_map_util
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
    from tfsynth.pretrained.class_head import yaml_key_lines
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
    from tfsynth.generate.catalog import CatalogError, load_catalog
    from tfsynth.pretrained.class_head import (COCO_LABEL_MAP, classes_sharing_a_start, coco_class_names,
                                               sharing_warning, unknown_coco_class)
    from tfsynth.utils import config_util
    trained = [row for row in rows if row.kind == "train"]
    warnings: list[str] = []
    classes = _label_map_classes(study.label_map)

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
            model = config_util.get_configs_from_pipeline_file(config_path)["model"]
        except (OSError, ValueError) as error:
            raise StudyError(f"{where}: {error}") from None
        architecture = model.WhichOneof("model")
        if architecture not in ("ssd", "faster_rcnn"):
            raise StudyError(f"{where}: {config_path}: model is {architecture or 'not set'}; expected ssd or "
                             "faster_rcnn (whose num_classes the study sets from its label map)")

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


def slug(text: str) -> str:
    """A folder name for a row."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60] or "row"


class _AttemptClock:
    """The seconds a step has run over all its attempts, kept in a file beside its done marker while it runs.

    A killed or interrupted step resumes in a later attempt; without this its recorded wall time would count the last
    attempt only. A thread rewrites the file every `interval` seconds, so at most that much is lost to a hard kill.
    """

    def __init__(self, done_marker: pathlib.Path, interval: float = 30.0):
        self.path = done_marker.with_name(done_marker.name + ".seconds")
        self.interval = interval
        self.earlier = self._read()
        self.start = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _read(self) -> float:
        try:
            return float(json.loads(self.path.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def total(self) -> float:
        return self.earlier + time.time() - self.start

    def save(self) -> None:
        write_atomically(self.path, json.dumps({"seconds": self.total()}) + "\n")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.save()

    def __enter__(self) -> "_AttemptClock":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.save()


def row_label(row: RowSpec) -> str:
    """A row's short label: its name up to the first ':' ("b1" for "b1: no COCO checkpoint")."""
    return row.name.split(":", 1)[0].strip()


def select_rows(study: Study, selectors: Optional[list[str]]) -> list[RowSpec]:
    """The study's rows named by selectors (a row's label or whole name), in study order; every row when None."""
    if not selectors:
        return list(study.rows)
    chosen: set[int] = set()
    for selector in selectors:
        matches = [row for row in study.rows if selector in (row_label(row), row.name)]
        if len(matches) != 1:
            raise StudyError(f"{study.source or study.title}: --rows {selector!r} names "
                             f"{'no row' if not matches else f'{len(matches)} rows'}; its rows are "
                             f"{[row_label(row) for row in study.rows]}")
        chosen.add(id(matches[0]))
    return [row for row in study.rows if id(row) in chosen]


def run_step(name: str, done_marker: pathlib.Path, command: list[str], clock_interval: float = 30.0) -> float:
    """Runs one step's command unless its done marker exists; returns its wall time in seconds, summed over every
    attempt when an earlier one was interrupted (for a step done earlier, the time its marker recorded, so a resumed
    study still reports every step's time)."""
    if done_marker.exists():
        logging.info("[%s] complete, skipped (%s exists)", name, done_marker)
        try:
            return float(json.loads(done_marker.read_text()).get("seconds", 0.0))
        except (ValueError, AttributeError):  # a marker from an older version: plain text
            return 0.0
    logging.info("[%s] %s", name, " ".join(command))
    with _AttemptClock(done_marker, clock_interval) as clock:
        completed = subprocess.run(command, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise SystemExit(f"step '{name}' failed (exit {completed.returncode}): {' '.join(command)}")
    elapsed = clock.total()
    write_atomically(done_marker, json.dumps({"command": command, "seconds": elapsed}) + "\n")
    clock.path.unlink(missing_ok=True)
    return elapsed


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class StudyRunner:
    """Runs a study's rows in output_dir, sharing pretrained weights, real records and renders between rows."""

    def __init__(self, study: Study, output_dir: pathlib.Path):
        self.study = study
        self.out = pathlib.Path(output_dir).resolve()
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        self._checked: Optional[tuple[str, ...]] = None
        self._real_format: Optional[str] = None

    def check(self, selectors: Optional[list[str]] = None) -> list[str]:
        """check_study on the chosen rows (once per choice); logs and returns its warnings."""
        chosen = select_rows(self.study, selectors)
        names = tuple(row.name for row in chosen)
        if self._checked != names:
            self.warnings = check_study(self.study, chosen)
            for warning in self.warnings:
                logging.warning("%s", warning)
            real, field = self.study.real_photos()
            self._real_format = real_data_format(real, f"field {field!r}")
            self._checked = names
        return self.warnings

    # Shared inputs -------------------------------------------------------------------------------------------
    @property
    def pretrained_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / PRETRAINED_NAME

    @property
    def initialised_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / f"{PRETRAINED_NAME}_class_init"

    def fetch_pretrained(self) -> None:
        self.timings["pretrained"] = run_step(
            "pretrained", self.out / "pretrained" / ".done",
            python_module("tfsynth.pretrained", "--fetch", PRETRAINED_NAME, "--output_dir", str(self.out / "pretrained")))
        if self.study.class_init:
            self.timings["class_init"] = run_step(
                "class_init", self.initialised_dir / ".done",
                python_module("tfsynth.pretrained.class_head", "--source", str(self.pretrained_dir),
                              "--label_map", self.study.label_map, "--init_from", self.study.class_init,
                              "--output_dir", str(self.initialised_dir)))

    @property
    def real_dir(self) -> pathlib.Path:
        """Where the real photos' records are converted: one folder per source (its form, path and options, and a
        file list's contents), so a study pointed at other photos never scores the records of earlier ones."""
        real, field = self.study.real_photos()
        data_format = self._real_format or real_data_format(real, f"field {field!r}")
        identity = [data_format, real.path, real.image_dir, real.split, self.study.label_map]
        if data_format == "list":
            identity.append(hashlib.sha256(pathlib.Path(real.path).read_bytes()).hexdigest())
        return self.out / "real" / f"{data_format}_{hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]}"

    @property
    def real_records(self) -> str:
        real, field = self.study.real_photos()
        if (self._real_format or real_data_format(real, f"field {field!r}")) == "records":
            return real.path
        return str(self.real_dir / "real-*.tfrecord")

    def convert_real(self) -> None:
        """The real photos as records with the study's label map's ids: converted by tfsynth.convert, or, when
        they are records already, checked against the label map."""
        real, field = self.study.real_photos()
        where = f"field {field!r}"
        data_format = real_data_format(real, where)
        if data_format == "records":
            check_real_records(real.path, self.study.label_map, where)
            return
        real_dir = self.real_dir
        input_path = real.path
        if data_format == "list" and not (real_dir / ".done").exists():
            data_format, input_path = stage_image_list(real.path, real_dir / "photos", where)
        elif data_format == "list":
            data_format, input_path = read_image_list(real.path, where)[0], str(real_dir / "photos")
        options = [*(["--image_dir", real.image_dir] if real.image_dir else []),
                   *(["--split", real.split] if real.split else [])]
        self.timings["convert_real"] = run_step(
            "convert_real", real_dir / ".done",
            python_module("tfsynth.convert", "--input_format", data_format, "--input_path", input_path, *options,
                          "--output_dir", str(real_dir), "--name", "real", "--label_map", self.study.label_map))

    def render(self, row: RowSpec) -> pathlib.Path:
        """The row's synthetic dataset (train-* and val-* records), rendered once per distinct setting."""
        args = ["--catalog", row.catalog or self.study.catalog, "--label_map", self.study.label_map,
                "--num_images", str(row.num_images or self.study.num_images),
                "--validation_images", str(self.study.validation_images), "--seed", str(self.study.seed),
                "--preset", self.study.preset]
        for flag, value in (("--cues", row.cues), ("--products_per_image", row.products_per_image),
                            ("--distractors", row.distractors), ("--width", self.study.width),
                            ("--height", self.study.height)):
            if value is not None:
                args += [flag, str(value)]
        key = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:12]
        dataset_dir = self.out / "datasets" / key
        workers = ["--num_workers", str(self.study.num_workers)] if self.study.num_workers else []
        self.timings[f"render {key}"] = run_step(
            f"render {row.name}", dataset_dir / ".done",
            python_module("tfsynth.generate", "--output_dir", str(dataset_dir), *args, *workers))
        return dataset_dir

    # Rows ----------------------------------------------------------------------------------------------------
    def pipeline_config_for(self, row: RowSpec, dataset_dir: pathlib.Path, row_dir: pathlib.Path) -> str:
        """Writes the row's pipeline.config (the template with the row's paths and changes); returns its path."""
        from tfsynth.utils import config_util
        template = row.pipeline_config or self.study.pipeline_config
        configs = config_util.get_configs_from_pipeline_file(template)
        steps = row.num_train_steps or self.study.num_train_steps
        # num_classes follows the label map, whatever the template says (its 8 would fail training only after
        # the renders, with a message about the label map).
        configs = config_util.merge_external_params_with_configs(configs, kwargs_dict={
            **self.study.overrides, **(row.overrides or {}),
            "train_input_path": str(dataset_dir / "train-*.tfrecord"),
            "eval_input_path": str(dataset_dir / "val-*.tfrecord"),
            "label_map_path": self.study.label_map, "train_steps": steps,
            "num_classes": len(_label_map_classes(self.study.label_map))})
        train_config = configs["train_config"]
        if row.fine_tune and self.study.class_init:
            train_config.fine_tune_checkpoint = str(self.initialised_dir / "checkpoint" / "ckpt-0")
            train_config.fine_tune_checkpoint_type = "full"
        elif row.fine_tune:
            train_config.fine_tune_checkpoint = str(self.pretrained_dir / "checkpoint" / "ckpt-0")
        else:
            # Without COCO weights there is nothing to keep: frozen layers would stay random.
            train_config.ClearField("fine_tune_checkpoint")
            del train_config.freeze_variables[:]
        # A schedule that ends before the last step would train the tail at the warm-up or final rate.
        optimizer = getattr(train_config.optimizer, train_config.optimizer.WhichOneof("optimizer"))
        rate = optimizer.learning_rate
        if rate.WhichOneof("learning_rate") == "cosine_decay_learning_rate":
            rate.cosine_decay_learning_rate.total_steps = steps
            rate.cosine_decay_learning_rate.warmup_steps = min(rate.cosine_decay_learning_rate.warmup_steps,
                                                               steps // 5)
        if row.freeze_variables is not None:
            del train_config.freeze_variables[:]
            train_config.freeze_variables.extend(row.freeze_variables)
        if row.update_trainable_variables is not None:
            del train_config.update_trainable_variables[:]
            train_config.update_trainable_variables.extend(row.update_trainable_variables)
        row_dir.mkdir(parents=True, exist_ok=True)
        path = config_util.save_pipeline_config(config_util.create_pipeline_proto_from_configs(configs),
                                                str(row_dir))
        return str(path)

    def train(self, row: RowSpec, pipeline_config: str, model_dir: pathlib.Path) -> tuple[str, list[str]]:
        """Trains the row; returns the checkpoint to evaluate and the command."""
        command = python_module("tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline_config}",
                                f"--model_dir={model_dir}", "--alsologtostderr")
        if row.early_stopping:
            stopping = row.early_stopping
            command += [f"--eval_every_n_steps={int(stopping.get('every_n_steps', 200))}",
                        f"--early_stopping_metric={stopping.get('metric', 'PascalBoxes_Precision/mAP@0.5IOU')}",
                        f"--early_stopping_patience={int(stopping.get('patience', 3))}"]
        self.timings[f"train {row.name}"] = run_step(f"train {row.name}", model_dir / ".done", command)
        best = model_dir / "best"
        return (str(best) if row.early_stopping and best.is_dir() else str(model_dir)), command

    def run_row(self, row: RowSpec):
        """Renders, trains and scores one row; returns a report.Row."""
        from tfsynth.eval.checkpoint_eval import evaluate_checkpoint
        from tfsynth.report import Row
        row_dir = self.out / "rows" / slug(row.name)
        start = time.time()
        if row.kind == "coco_mapped":
            mapping = coco_class_mapping(row.class_mapping, str(self.pretrained_dir / "label_map.pbtxt"),
                                         self.study.label_map)
            evaluation = evaluate_checkpoint(str(self.pretrained_dir / "pipeline.config"),
                                             str(self.pretrained_dir / "checkpoint"), self.real_records,
                                             self.study.label_map, class_mapping=mapping)
            return Row(row.name, evaluation, None, command="(no training)",
                       details={"seconds": time.time() - start, "class_mapping": row.class_mapping})
        dataset_dir = self.render(row)
        pipeline_config = self.pipeline_config_for(row, dataset_dir, row_dir)
        model_dir = row_dir / "model"
        checkpoint, command = self.train(row, pipeline_config, model_dir)
        evaluate_start = time.time()
        evaluation = evaluate_checkpoint(pipeline_config, checkpoint, self.real_records, self.study.label_map)
        # The row's own wall time: its render (shared renders counted for each row that uses them) and training,
        # as recorded when they ran, plus this evaluation; what the row costs when run alone.
        seconds = (self.timings[f"render {dataset_dir.name}"] + self.timings[f"train {row.name}"]
                   + time.time() - evaluate_start)
        details = {"seconds": seconds, "pipeline_config": pipeline_config, "checkpoint": checkpoint,
                   "num_images": row.num_images or self.study.num_images,
                   "num_train_steps": row.num_train_steps or self.study.num_train_steps,
                   "cues": row.cues or "all", "fine_tune": row.fine_tune}
        return Row(row.name, evaluation, str(model_dir), command=" ".join(command), details=details)

    def run(self, report_dir: Optional[pathlib.Path] = None, selectors: Optional[list[str]] = None) -> pathlib.Path:
        """Runs the study's rows (those named by selectors, else all) and writes the report; returns report.md.

        A subset gets its own report folder (report_<labels>), so it never overwrites the whole study's report.
        """
        from tfsynth.report import write_report
        chosen = select_rows(self.study, selectors)
        warnings = self.check(selectors)  # the files agree: before any download, conversion or render
        self.out.mkdir(parents=True, exist_ok=True)
        self.convert_real()  # seconds, and it finds real photos of classes the label map lacks: before the fetch
        if any(row.fine_tune or row.kind == "coco_mapped" for row in chosen):
            self.fetch_pretrained()
        rows = [self.run_row(row) for row in chosen]
        real, _ = self.study.real_photos()
        notes = list(self.study.notes) + [
            f"Evaluated on every real photo of {real.path} (as {self._real_format}; never used for training or "
            "stopping).",
            f"Renders per row: {self.study.num_images} unless the row says otherwise, preset {self.study.preset}, "
            f"seed {self.study.seed}; training steps: {self.study.num_train_steps} unless the row says otherwise.",
            "Step wall times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items() if v)]
        notes += [f"Warning: {warning}" for warning in warnings]
        if self.study.source:
            command = ["python", "-m", "tfsynth.experiments", self.study.source, "--output_dir", str(self.out)]
            if selectors:
                command += ["--rows", ",".join(row_label(row) for row in chosen)]
            notes.append(f"Reproduce these rows (resumes where it stopped): `{shlex.join(command)}`; one row alone: "
                         "add `--rows LABEL` (a row's name up to its ':').")
        if report_dir is None:
            report_dir = self.out / ("report_" + "_".join(slug(row_label(row)) for row in chosen) if selectors
                                     else "report")
        settings = {key: value for key, value in dataclasses.asdict(self.study).items() if key != "rows"}
        return write_report(rows, report_dir, self.study.title, notes, settings)


def check_real_records(pattern: str, label_map_path: str, where: str) -> int:
    """Checks that records of real photos use the label map's ids (records converted without it number classes
    in sorted name order); returns the number of records. StudyError names the file, record and class."""
    from tfsynth.data import tfrecord
    from tfsynth.utils import label_map_util
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
    from tfsynth.pretrained.class_head import unknown_coco_class
    from tfsynth.utils import label_map_util
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


FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("usage: python -m tfsynth.experiments STUDY.yaml --output_dir DIR")
    try:
        study = load_study(argv[1])
        report = StudyRunner(study, pathlib.Path(FLAGS.output_dir)).run(selectors=FLAGS.rows)
    except StudyError as error:
        raise SystemExit(f"experiments: error: {error}") from None
    print(f"experiments: report written to {report}")


if __name__ == "__main__":
    flags.DEFINE_string("output_dir", "runs/study", "Where the study's renders, models and report go.")
    flags.DEFINE_list("rows", None, "Run only these rows, by label (a row's name up to its ':') or whole name; "
                      "their report goes to OUTPUT_DIR/report_<labels>.")
    app.run(main)
