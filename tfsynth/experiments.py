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
    x_label            the quantity the rows vary (each row's x), plotted against mAP@0.5 in the report
    ratios             ['A/B', ...]: the report states row A's mAP@0.5 over row B's (labels), e.g. "a/b1c'"
    hour_scale         the --scale at which the study fits a 2-core machine in about an hour (--scale hour)
    num_images         rendered training images per row (1000)
    validation_images  rendered validation images of each dataset (100): evaluation during training and early
                       stopping read these, never the real photos
    num_train_steps    training steps per row (1000)
    preset             the renderer's preset: fast, default or photoreal (default)
    width, height      render size in pixels (the generator's 640x480)
    seed               base seed of the renders (0)
    repeats            runs of every trained row (1): run K renders its own dataset with seed + K - 1 and trains on
                       it (named "LABEL run K" from the second on); the report adds each row's mean mAP@0.5, sample
                       sd and range over its runs, ratios and the x_label plot use the means, and the paired
                       differences the first runs. A single run moves by a few points with its renders, which the
                       bootstrap interval over the photos does not cover
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
    fine_tune_checkpoint_type   detection (the COCO feature extractor), classification (the backbone alone:
                       SSD's extra layers or FPN and the box predictor from scratch; without fine_tune_checkpoint,
                       the COCO SSDLite's MobileNetV2, tfsynth.pretrained's ssdlite_mobilenet_v2_coco_backbone) or
                       full (everything; needs class_init or fine_tune_checkpoint). Default: full with class_init,
                       else detection
    fine_tune_checkpoint        a checkpoint of the row's own (prefix or folder), e.g. a Zoo model fetched with
                       python -m tfsynth.pretrained --fetch NAME --sha256 HEX
    looks_per_class    render the first N looks (catalog products) of each class only (the 3D model dictionary)
    distractor_kinds   render the first N distractor kinds of the catalog only (0: no distractors)
    x                  the row's value of the study's x_label (a number draws a line, text one bar per row)
    freeze_variables, update_trainable_variables             lists of variable-name regular expressions
    early_stopping     {metric, patience, every_n_steps}: evaluate on the rendered validation images every
                       every_n_steps (200), stop after patience (3) evaluations without a better metric
                       (PascalBoxes_Precision/mAP@0.5IOU) and score the best checkpoint; the report gives the step
                       it stopped at, the best step and its validation score
    overrides          like the study's, applied after them, to this row's pipeline.config only

Before anything is fetched, rendered or trained, check_study cross-checks the files (label map, catalogs,
pipeline.configs, class_init, class_mapping, real photos); each error names the file and the entry.

--scale S runs every row at S times its renders, validation renders and steps (floors in
tfsynth/studies/scaling.py); --scale hour uses the study's hour_scale. The report states the scale.

This module is the command; the study itself lives in tfsynth/studies/: spec.py (these fields, read and checked for
form), checks.py (check_study), steps.py (resumable steps), runner.py (StudyRunner) and report.py.

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

import pathlib

from absl import app, flags

from tfsynth.studies.runner import StudyRunner
from tfsynth.studies.scaling import apply_scale, parse_scale
from tfsynth.studies.spec import load_study
from tfsynth.utils import cli
from tfsynth.utils.preflight import check_output_dir

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    """Runs the study of argv[1]; its errors (StudyError, a step's failure) end as one line (tfsynth.utils.cli)."""
    if len(argv) != 2:
        raise app.UsageError("usage: python -m tfsynth.experiments STUDY.yaml --output_dir DIR")
    check_output_dir(FLAGS.output_dir, "--output_dir")
    study = load_study(argv[1])
    apply_scale(study, parse_scale(FLAGS.scale, study))
    report = StudyRunner(study, pathlib.Path(FLAGS.output_dir)).run(selectors=FLAGS.rows)
    print(f"experiments: report written to {report}")


if __name__ == "__main__":
    flags.DEFINE_string("output_dir", "runs/study", "Where the study's renders, models and report go.")
    flags.DEFINE_list("rows", None, "Run only these rows, by label (a row's name up to its ':') or whole name; "
                      "their report goes to OUTPUT_DIR/report_<labels>.")
    flags.DEFINE_string("scale", None, "Run every row at this fraction of its renders and steps (a number in "
                        "(0, 1]), or 'hour': the study's hour_scale, about an hour on 2 cores. Default: as written.")
    cli.run(main, "experiments")
