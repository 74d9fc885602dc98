"""A study as data: its fields (RowSpec, RealData, Study), read from YAML and checked for form by load_study.

Every field is documented in tfsynth/experiments.py's docstring (the command that runs a study). Paths are resolved
here (from the study file's folder, else the repository root), and the real photos' form is recognised here
(real_data_format; a file list is read by read_image_list and laid out for convert by stage_image_list). Checks that
read the files a study names against each other are in tfsynth.studies.checks; running it is tfsynth.studies.runner.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import pathlib
import re
import shutil
import xml.etree.ElementTree as ElementTree
from typing import Any, Optional

import yaml

from tfsynth.generate import render_gl, sampler
from tfsynth.utils.shared_data import SHARED_DATA
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_REAL_DIR = SHARED_DATA / "real" / "cntk_fridge_us"


_COCO_MAPPED_FIELDS = {"name", "kind", "class_mapping", "x"}  # a coco_mapped row renders and trains nothing
_EARLY_STOPPING_KEYS = {"metric", "patience", "every_n_steps"}
FINE_TUNE_CHECKPOINT_TYPES = ("detection", "classification", "full")


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
    # What the checkpoint restores (the OD API's fine_tune_checkpoint_type); None: the study's way (full with
    # class_init, else detection). classification: the backbone only, from fine_tune_checkpoint or, without it,
    # from the COCO SSDLite's backbone (tfsynth.pretrained's ssdlite_mobilenet_v2_coco_backbone).
    fine_tune_checkpoint_type: Optional[str] = None
    fine_tune_checkpoint: Optional[str] = None  # a checkpoint prefix or folder of the user's (e.g. a Zoo model)
    # The dictionary of 3D models: the first N looks (products) of each class, the first N distractor kinds of the
    # catalog; a derived catalog is written for the row (tfsynth.studies.catalogs).
    looks_per_class: Optional[int] = None
    distractor_kinds: Optional[int] = None
    x: Any = None  # the row's value of the study's quantity (x_label), plotted against mAP@0.5


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
    """The real photos a study scores and the form they are in (the study field real_data; see
    tfsynth/experiments.py's docstring)."""

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
    # Independent runs of every trained row: run k renders its own dataset with seed + k (training follows from
    # its data), so the report can give each row's mean and spread over runs, not one draw (see report.py).
    repeats: int = 1
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
    # The report's plot: the quantity the rows vary (each row's x) against mAP@0.5 on the real photos.
    x_label: Optional[str] = None
    # Ratios of two rows' mAP@0.5 the report states, "LABEL/LABEL" (e.g. "a/b1c'": the transfer's gain).
    ratios: list = dataclasses.field(default_factory=list)
    # The --scale at which this study fits a 2-core machine in about an hour (--scale hour uses it).
    hour_scale: Optional[float] = None
    scale: float = 1.0  # the scale applied (tfsynth.studies.scaling.apply_scale); 1: as written
    source: Optional[str] = None  # the study file (set by load_study; not a YAML field)

    def real_photos(self) -> tuple[RealData, str]:
        """The real photos to score and the field that named them (for error messages)."""
        if self.real_data is not None:
            return self.real_data, "real_data"
        if self.real_data_dir:
            return RealData(self.real_data_dir, "cntk"), "real_data_dir"
        return RealData(str(DEFAULT_REAL_DIR), "cntk"), "real_data_dir (default)"


def restore_of(row: RowSpec, study: Study) -> str:
    """What the row's checkpoint restores: its fine_tune_checkpoint_type, else full with class_init (the class head
    started from COCO's), else detection (the feature extractor)."""
    if row.fine_tune_checkpoint_type:
        return row.fine_tune_checkpoint_type
    return "full" if study.class_init and not row.fine_tune_checkpoint else "detection"


def needs_backbone(row: RowSpec, study: Study) -> bool:
    """True when the row restores the COCO SSDLite's backbone as a classification checkpoint."""
    return (row.kind == "train" and row.fine_tune and not row.fine_tune_checkpoint
            and restore_of(row, study) == "classification")


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
    if found in ("cntk", "voc", "solo") and not _holds_images(path):
        # Found now, not minutes later in the conversion step with a message naming no flag or field.
        raise StudyError(f"{where}: {path} holds no image files (.jpg, .jpeg, .png, .bmp) in any of its folders; "
                         f"expected {_REAL_DATA_EXPECTED}")
    return found


def _holds_images(folder: str) -> bool:
    """Whether any file below folder (at any depth) has an image suffix; stops at the first."""
    for _, _, files in os.walk(folder):
        if any(name.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")) for name in files):
            return True
    return False


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
    study_fields = {f.name for f in dataclasses.fields(Study)} - {"rows", "source", "scale"}
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
            _check_early_stopping(row.early_stopping, f"{where} ({row.name!r}): field 'early_stopping")
        for field in ("freeze_variables", "update_trainable_variables"):
            _check_patterns(getattr(row, field), f"{where} ({row.name!r}): field {field!r}")
        if row.fine_tune_checkpoint_type is not None and row.fine_tune_checkpoint_type not in \
                FINE_TUNE_CHECKPOINT_TYPES:
            raise StudyError(f"{where} ({row.name!r}): field 'fine_tune_checkpoint_type': expected one of "
                             f"{list(FINE_TUNE_CHECKPOINT_TYPES)}, got {row.fine_tune_checkpoint_type!r}")
        if (row.fine_tune_checkpoint_type or row.fine_tune_checkpoint) and not row.fine_tune:
            raise StudyError(f"{where} ({row.name!r}): fields 'fine_tune_checkpoint_type' and "
                             "'fine_tune_checkpoint' need fine_tune (true): fine_tune false restores nothing")
        for field, minimum in _ROW_COUNTS.items():
            check_count(getattr(row, field), minimum, f"{where} ({row.name!r}): field {field!r}")
        _check_render_options(row, f"{where} ({row.name!r})")
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
    if not isinstance(data.get("ratios", []), list) or not all(
            isinstance(r, str) and r.count("/") == 1 for r in data.get("ratios", [])):
        raise StudyError(f"{path}: field 'ratios': expected a list of 'LABEL/LABEL' strings (row labels), got "
                         f"{data.get('ratios')!r}")
    row_labels = [row_label(row) for row in rows]
    labels = set(row_labels)
    for ratio in data.get("ratios", []):
        for label in ratio.split("/"):
            if label.strip() not in labels:
                raise StudyError(f"{path}: field 'ratios': {ratio!r}: {label.strip()!r} is not a row label; the "
                                 f"labels are {sorted(labels)}")
    for field, minimum in STUDY_COUNTS.items():
        check_count(data.get(field), minimum, f"{path}: field {field!r}")
    if data.get("preset") is not None:
        try:
            render_gl.get_preset(data["preset"])
        except (ValueError, NotImplementedError) as error:
            raise StudyError(f"{path}: field 'preset': {error}") from None
    repeated = sorted({label for label in row_labels if row_labels.count(label) > 1})
    if repeated:
        raise StudyError(f"{path}: row labels (a name up to its ':') must be unique, as --rows and ratios name rows "
                         f"by them; {repeated} name several rows")
    hour_scale = data.get("hour_scale")
    if hour_scale is not None and (isinstance(hour_scale, bool) or not isinstance(hour_scale, (int, float))
                                   or not 0 < hour_scale <= 1):
        raise StudyError(f"{path}: field 'hour_scale': expected a number in (0, 1], got {hour_scale!r}")
    study = Study(rows=rows, **{k: v for k, v in data.items() if k != "rows"})
    resolved = pathlib.Path(path).resolve()
    base = resolved.parent
    study.source = str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)
    for attribute in ("pipeline_config", "catalog", "label_map", "real_data_dir", "class_init"):
        setattr(study, attribute, _resolve(getattr(study, attribute), base))
    if study.real_data is not None:
        study.real_data = parse_real_data(study.real_data, f"{path}: field 'real_data'", base)
    for row in rows:
        for attribute in ("catalog", "pipeline_config", "class_mapping", "fine_tune_checkpoint"):
            setattr(row, attribute, _resolve(getattr(row, attribute), base))
    for attribute in ("pipeline_config", "catalog", "label_map"):
        if not pathlib.Path(getattr(study, attribute)).exists():
            raise StudyError(f"{path}: field {attribute!r}: {getattr(study, attribute)} does not exist")
    return study


# The counts a study and a row may set, and the least each may be (None: not set, the default applies).
STUDY_COUNTS = {"num_images": 1, "validation_images": 0, "num_train_steps": 1, "width": 16, "height": 16,
                "seed": 0, "num_workers": 1, "repeats": 1}
_ROW_COUNTS = {"num_images": 1, "num_train_steps": 1, "looks_per_class": 1, "distractor_kinds": 0}


def _check_early_stopping(settings: dict, where: str) -> None:
    """Each early_stopping value as the trainer's flags will read it, so a bad one stops the study before
    rendering (where: "... field 'early_stopping", completed with the key)."""
    check_count(settings.get("patience"), 0, f"{where}.patience'")  # 0: keep the best, never stop
    check_count(settings.get("every_n_steps"), 1, f"{where}.every_n_steps'")
    metric = settings.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric.strip()):
        raise StudyError(f"{where}.metric': expected a metric name such as 'PascalBoxes_Precision/mAP@0.5IOU', "
                         f"got {metric!r}")


def _check_patterns(patterns: Any, where: str) -> None:
    """A list of regular expressions (freeze_variables, update_trainable_variables), each compiled now."""
    if patterns is None:
        return
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise StudyError(f"{where}: expected a list of regular expressions (strings), got {patterns!r}")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise StudyError(f"{where}: {pattern!r} is not a regular expression ({error})") from None


def check_count(value: Any, minimum: int, where: str) -> None:
    """StudyError naming `where` unless value is None or an integer >= minimum (a bool is no count)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise StudyError(f"{where}: expected an integer >= {minimum}, got {value!r}")


def _check_render_options(row: RowSpec, where: str) -> None:
    """The row's options for the generator, checked as the generator will read them, before anything runs."""
    try:
        if row.cues is not None:
            sampler.parse_cues(str(row.cues))
        for field in ("products_per_image", "distractors"):
            if getattr(row, field) is not None:
                sampler.parse_range(str(getattr(row, field)), field)
    except ValueError as error:
        raise StudyError(f"{where}: {error}") from None


def slug(text: str) -> str:
    """A folder name for a row."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60] or "row"


def row_label(row: RowSpec) -> str:
    """A row's short label: its name up to the first ':' ("b1" for "b1: no COCO checkpoint")."""
    return row.name.split(":", 1)[0].strip()


def run_name(row: RowSpec, run: int) -> str:
    """The name of a row's run (0-based) in a study of repeats: the first keeps the row's name, a later one adds
    "run K" to its label ("a run 2: COCO SSDLite ..."), so every run has a label of its own in the report."""
    if run == 0:
        return row.name
    label, colon, rest = row.name.partition(":")
    return f"{label.strip()} run {run + 1}{colon}{rest}"


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
