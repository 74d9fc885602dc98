"""The paper's studies beside the cues (issue 19): every study file through the checker at its reduced scale, --scale,
the dictionary's cut catalogs, the rows' restores (b1c': the COCO backbone as a classification checkpoint fills the
backbone only), early stopping's patience on a fake sequence of validation scores, and the report's plot and ratio.

Fast: no renders and no training; two small models are built for the classification restore.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import yaml
from google.protobuf import text_format

from tfsynth.generate.catalog import load_catalog
from tfsynth.main_job import STUDIES, apply_overrides
from tfsynth.studies import catalogs, report
from tfsynth.studies.checks import check_study
from tfsynth.studies.runner import BACKBONE_NAME, StudyRunner
from tfsynth.studies.scaling import MIN_IMAGES, MIN_STEPS, apply_scale, describe_scale, parse_scale
from tfsynth.studies.spec import REPO_ROOT, StudyError, load_study, row_label
from tfsynth.training import checkpoints
from tfsynth.utils import config_io

STUDY_DIR = REPO_ROOT / "configs" / "studies"
NEW_STUDIES = ("size", "dictionary", "architecture", "layers", "early_stopping")


@pytest.mark.parametrize("name", NEW_STUDIES + ("full", "cues"))
def test_study_files_load_and_check_at_their_hour_scale(name):
    path = STUDY_DIR / ("main_full.yaml" if name == "full" else f"{name}.yaml")
    assert STUDIES[name] == path  # each runs by main_job --recipe NAME too
    study = load_study(str(path))
    rows = [row.name for row in study.rows]
    scale = parse_scale("hour", study)
    assert 0 < study.hour_scale <= 1 and scale == study.hour_scale
    apply_scale(study, scale)
    assert [row.name for row in study.rows] == rows and study.scale == pytest.approx(scale)
    check_study(study)  # raises StudyError naming file and field on any problem
    if name in NEW_STUDIES:
        assert study.x_label and all(row.x is not None for row in study.rows)


def test_full_recipe_has_b1c_stand_in_and_the_ratio():
    study = load_study(str(STUDY_DIR / "main_full.yaml"))
    labels = [row_label(row) for row in study.rows]
    assert {"a", "b1c'", "b1", "b2"} <= set(labels)
    stand_in = study.rows[labels.index("b1c'")]
    assert stand_in.fine_tune_checkpoint_type == "classification" and "not ImageNet" in stand_in.name
    assert study.ratios == ["a/b1c'"]


def test_scale_shrinks_every_count_and_keeps_rows_in_order():
    study = load_study(str(STUDY_DIR / "size.yaml"))
    before = [(row.num_images, row.num_train_steps) for row in study.rows]
    apply_scale(study, 0.1)
    after = [(row.num_images, row.num_train_steps) for row in study.rows]
    assert len(after) == len(before) == 5
    assert after == [(max(MIN_IMAGES, round(n / 10)), max(MIN_STEPS, round(s / 10))) for n, s in before]
    assert [n for n, _ in after] == sorted(n for n, _ in after)  # the quantity keeps its order
    assert [row.x for row in study.rows] == [n for n, _ in after]  # plotted at the renders it ran with
    assert study.num_images == 400 and study.validation_images == 10 and study.num_train_steps == 480
    stopping = load_study(str(STUDY_DIR / "early_stopping.yaml"))
    apply_scale(stopping, 0.25)
    assert stopping.rows[1].early_stopping["every_n_steps"] == 50 and stopping.rows[1].early_stopping["patience"] == 3
    assert "Scale 0.25" in describe_scale(stopping)


@pytest.mark.parametrize("value, message", [("0", r"\(0, 1\]"), ("1.5", r"\(0, 1\]"), ("half", "number")])
def test_scale_refuses_what_is_no_fraction(value, message):
    with pytest.raises(StudyError, match=message):
        parse_scale(value, load_study(str(STUDY_DIR / "size.yaml")))


def test_scale_hour_needs_the_study_field():
    with pytest.raises(StudyError, match="no field 'hour_scale'"):
        parse_scale("hour", load_study(str(STUDY_DIR / "main_quick.yaml")))


def test_main_job_scale_flag_is_an_override_of_the_recipe():
    study = load_study(str(STUDIES["size"]))
    changes = apply_overrides(study, {"scale": "hour"})
    assert [(c.flag, c.value) for c in changes] == [("--scale", "0.6")]
    assert study.num_train_steps == 2880


def test_dictionary_rows_render_cut_catalogs(tmp_path):
    source = str(REPO_ROOT / "configs" / "fridge_us_catalog.yaml")
    looks, distractors = catalogs.count_entries(source)
    one = load_catalog(catalogs.derived_catalog(source, 1, None, tmp_path))
    assert len(one.products) == len(looks) and len(one.distractors) == distractors == 25
    none = load_catalog(catalogs.derived_catalog(source, 2, 0, tmp_path))
    assert len(none.products) == sum(min(2, n) for n in looks.values()) and not none.distractors
    study = load_study(str(STUDY_DIR / "dictionary.yaml"))
    runner = StudyRunner(study, tmp_path / "out")
    assert runner.catalog_for(study.rows[2]) == study.catalog  # all looks: the catalog itself
    study.rows[3].distractor_kinds = 26
    with pytest.raises(StudyError, match="'distractor_kinds': 26, but the catalog .* has 25 distractors"):
        check_study(study)


def test_row_restores_reach_the_pipeline_config(tmp_path):
    study = load_study(str(STUDY_DIR / "main_full.yaml"))
    runner = StudyRunner(study, tmp_path / "out")
    by_label = {row_label(row): row for row in study.rows}
    train = {}
    for label in ("a", "b1c'", "b1"):
        path = runner.pipeline_config_for(by_label[label], tmp_path / "data", tmp_path / label)
        train[label] = config_io.get_configs_from_pipeline_file(path)["train_config"]
    assert train["a"].fine_tune_checkpoint_type == "full"
    assert train["b1c'"].fine_tune_checkpoint_type == "classification"
    assert BACKBONE_NAME in train["b1c'"].fine_tune_checkpoint
    assert not train["b1"].fine_tune_checkpoint and not train["b1"].freeze_variables
    layers = load_study(str(STUDY_DIR / "layers.yaml"))
    runner = StudyRunner(layers, tmp_path / "layers")
    configs = [config_io.get_configs_from_pipeline_file(runner.pipeline_config_for(
        row, tmp_path / "data", tmp_path / f"l{index}"))["train_config"] for index, row in enumerate(layers.rows)]
    assert list(configs[0].update_trainable_variables) == ["BoxPredictor"] and not configs[0].freeze_variables
    assert list(configs[1].freeze_variables) == ["Conv1", "expanded_conv", "block_([0-9]|1[0-2])_"]
    assert not configs[2].freeze_variables and not configs[2].update_trainable_variables


def test_classification_restore_needs_a_mobilenet_v2_backbone(tmp_path):
    study = load_study(str(STUDY_DIR / "architecture.yaml"))
    study.rows[2].fine_tune, study.rows[2].fine_tune_checkpoint_type = True, "classification"
    with pytest.raises(StudyError, match="does not fit faster_rcnn_resnet50_keras"):
        check_study(study)


def _small_config(tmp_path: pathlib.Path, source: pathlib.Path, size: int, name: str) -> pathlib.Path:
    from tfsynth.protos import pipeline_pb2
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(source.read_text(), config)
    config.model.ssd.image_resizer.fixed_shape_resizer.height = size
    config.model.ssd.image_resizer.fixed_shape_resizer.width = size
    config.model.ssd.feature_extractor.depth_multiplier = 0.35  # small and fast; the same in source and target
    path = tmp_path / name
    path.write_text(text_format.MessageToString(config))
    return path


def test_coco_backbone_checkpoint_fills_the_backbone_only(tmp_path):
    """b1c' and the FPNLite row: the detector's backbone written as a classification checkpoint restores into the
    SSDLite's and the FPNLite's classification_backbone, and nothing else."""
    from tfsynth.pretrained.backbone import write_backbone_checkpoint
    from tfsynth.pretrained.ssdlite_convert import build_model
    ssdlite = _small_config(tmp_path, REPO_ROOT / "configs" / "ssdlite_fridge_full.config", 96, "ssdlite.config")
    source = build_model(ssdlite)
    for variable in source.variables:  # values no initialiser gives
        variable.assign(tf.random.stateless_uniform(variable.shape, [7, len(variable.name)], 0.5, 1.5))
    detection = tf.train.Checkpoint(model=source).save(str(tmp_path / "detection" / "ckpt"))
    count = write_backbone_checkpoint(ssdlite, detection, tmp_path / "backbone")
    source_backbone = [v.numpy() for v in source.feature_extractor.classification_backbone.variables]
    assert count == len(source_backbone)
    keys = [name for name, _ in tf.train.list_variables(str(tmp_path / "backbone" / "ckpt-0"))]
    assert all(k.startswith(("feature_extractor/", "save_counter", "_CHECKPOINTABLE")) for k in keys)

    fpnlite = _small_config(tmp_path, REPO_ROOT / "configs" / "ssd_mobilenet_v2_fpnlite_fridge.config", 128,
                            "fpnlite.config")
    for config in (ssdlite, fpnlite):
        target = build_model(config, is_training=True)
        backbone = target.feature_extractor.classification_backbone
        backbone_ids = {id(v) for v in backbone.variables}
        others = {v.name: v.numpy() for v in target.variables if id(v) not in backbone_ids}
        checkpoints.restore_fine_tune_checkpoint(target, str(tmp_path / "backbone" / "ckpt-0"), "classification")
        for ours, theirs in zip(backbone.variables, source_backbone, strict=True):
            np.testing.assert_array_equal(ours.numpy(), theirs)
        assert others and all(np.array_equal(v.numpy(), others[v.name]) for v in target.variables
                              if id(v) not in backbone_ids)  # extra layers, FPN, box predictor untouched


def test_early_stopping_stops_after_patience_evaluations_without_improvement(tmp_path):
    """The train loop's rule (tfsynth.training.model_lib): after each evaluation, stop once the keeper counts
    `patience` evaluations without a better validation score; the best checkpoint is the one scored."""
    scores = [0.10, 0.30, 0.28, 0.31, 0.31, 0.29, 0.30, 0.50]  # 0.31 twice: equal is no improvement
    patience, every = 3, 100
    variable = tf.Variable(0.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), max_to_keep=2)
    keeper = checkpoints.BestCheckpointKeeper(str(tmp_path), "PascalBoxes_Precision/mAP@0.5IOU")
    stopped_at = None
    for index, score in enumerate(scores):
        step = (index + 1) * every
        variable.assign(score)
        prefix = manager.save(checkpoint_number=step)
        keeper.update({"PascalBoxes_Precision/mAP@0.5IOU": score}, prefix, step)
        if keeper.evaluations_without_improvement >= patience:
            stopped_at = step
            break
    assert stopped_at == 700 and keeper.best_value == pytest.approx(0.31)
    # A run killed and resumed keeps its count toward the patience (and its best), so it stops where this one did.
    resumed = checkpoints.BestCheckpointKeeper(str(tmp_path), "PascalBoxes_Precision/mAP@0.5IOU")
    assert resumed.evaluations_without_improvement == 3 and resumed.best_value == pytest.approx(0.31)
    best = json.loads((tmp_path / "best" / "best_metrics.json").read_text())
    assert best["step"] == 400
    restored = tf.Variable(0.0)
    tf.train.Checkpoint(v=restored).restore(tf.train.latest_checkpoint(str(tmp_path / "best"))).expect_partial()
    assert restored.numpy() == pytest.approx(0.31)
    # The report's table reads these fields (runner.stopping_details).
    lines = report.stopping_lines([{"name": "e2: stop", "early_stopping": {"patience": 3}, "max_steps": 800,
                                    "stopped_at_step": stopped_at, "stopped_early": True, "best_step": best["step"],
                                    "validation_metric": "PascalBoxes_Precision/mAP@0.5IOU",
                                    "best_validation": keeper.best_value, "mAP@0.5": 0.42},
                                   {"name": "e1: fixed", "num_train_steps": 800, "mAP@0.5": 0.40}])
    assert "| e2: stop | 800 | 700 | yes | 400 | PascalBoxes_Precision/mAP@0.5IOU = 31.00 | 42.00 |" in lines
    assert "| e1: fixed | 800 | 800 | no (fixed steps) | - | - | 40.00 |" in lines


def test_report_plots_the_quantity_and_states_ratios(tmp_path):
    assert report.plot_quantity_against_map([("s250", 250, 0.2), ("s4000", 4000, 0.5), ("s1000", 1000, 0.4)],
                                            "renders", tmp_path / "line.png")
    assert report.plot_quantity_against_map([("l1", "box predictor", 0.3), ("l3", "everything", None)], None,
                                            tmp_path / "bars.png")
    assert (tmp_path / "line.png").stat().st_size > 1000 and (tmp_path / "bars.png").stat().st_size > 1000
    assert not report.plot_quantity_against_map([("x", 1, None)], "x", tmp_path / "none.png")
    rows = [{"name": "a: fine-tuned", "mAP@0.5": 0.5}, {"name": "b1c': backbone", "mAP@0.5": 0.25},
            {"name": "b1: scratch", "mAP@0.5": 0.0}]
    assert report.ratio_lines(rows, ["a/b1c'", "a/b1", "a/b9"]) == [
        "mAP@0.5 ratio a/b1c' = 2.00 (50.00 / 25.00)", "mAP@0.5 ratio a/b1 = inf (denominator 0) (50.00 / 0.00)",
        "a/b9: not computed (row b9 was not run)"]


@pytest.mark.parametrize("change, message", [
    (("num_images: 4000", "num_images: four"), r"field 'num_images': expected an integer >= 1, got 'four'"),
    (("num_images: 4000", "num_images: -4"), r"field 'num_images': expected an integer >= 1, got -4"),
    (("preset: default", "preset: fastest"), r"field 'preset': unknown preset 'fastest'"),
    (('  - name: "b2', '  - name: "a: again"\n    num_train_steps: 0\n  - name: "b2'),
     r"rows\[1\] \('a: again'\): field 'num_train_steps': expected an integer >= 1, got 0"),
    (('  - name: "b2', '  - name: "c: colour"\n    cues: -colour\n  - name: "b2'),
     r"rows\[1\] \('c: colour'\): --cues '-colour': unknown cue\(s\) \['colour'\]"),
    (('  - name: "b2', '  - name: "c: many"\n    products_per_image: 9,3\n  - name: "b2'),
     r"rows\[1\] \('c: many'\): --products_per_image '9,3': expected N or MIN,MAX"),
    (('  - name: "b2', '  - name: "a: again"\n  - name: "b2'),
     r"row labels .* must be unique.*\['a'\] name several rows"),
])
def test_study_values_are_checked_before_anything_runs(tmp_path, change, message):
    """Values the generator or trainer would refuse only after the photos are converted and weights fetched."""
    text = (STUDY_DIR / "main_full.yaml").read_text().replace("../", str(STUDY_DIR.parent) + "/")
    old, new = change
    assert old in text
    path = tmp_path / "study.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(StudyError, match=message):
        load_study(str(path))


def test_study_fields_are_checked_for_form(tmp_path):
    text = (STUDY_DIR / "dictionary.yaml").read_text()
    path = tmp_path / "study.yaml"
    for bad, message in (("looks_per_class: 1", "'looks_per_class': expected an integer >= 1"),
                         ("hour_scale: 1", "'hour_scale': expected a number in"),
                         ("x_label: looks per class, distractor kinds", "'ratios': 'd1/zz': 'zz' is not a row")):
        replacement = {"looks_per_class: 1": "looks_per_class: 0", "hour_scale: 1": "hour_scale: 3",
                       "x_label: looks per class, distractor kinds":
                           "x_label: looks\nratios: ['d1/zz']"}[bad]
        path.write_text(text.replace(bad, replacement, 1).replace("../", str(STUDY_DIR.parent) + "/"))
        with pytest.raises(StudyError, match=message):
            load_study(str(path))
    data = yaml.safe_load(text)
    assert data["rows"][0]["looks_per_class"] == 1


@pytest.mark.slow
def test_tiny_study_runs_backbone_dictionary_and_early_stopping_rows(tmp_path):
    """The new row kinds through the real runner at a tiny size: b1c' (the COCO backbone fetched as a
    classification checkpoint), a cut catalog without distractors, early stopping on the rendered validation
    split; the report states the scale, the ratio, the stopping step and draws the quantity plot."""
    from tests.test_main_path import _tiny_real_photos, tiny_study_header
    real = _tiny_real_photos(tmp_path / "real_photos")
    study_path = tmp_path / "study.yaml"
    study_path.write_text(tiny_study_header("tiny paper studies", real) + f"""
x_label: row number
ratios: ["a/b1c'"]
rows:
  - {{name: "a: fine-tuned", x: 1}}
  - {{name: "b1c': COCO backbone only", fine_tune_checkpoint_type: classification, x: 2}}
  - name: "d1: one look, no distractors, early stopping"
    looks_per_class: 1
    distractor_kinds: 0
    num_train_steps: 4
    early_stopping: {{every_n_steps: 1, patience: 1}}
    x: 3
""")
    study = apply_scale(load_study(str(study_path)), 0.5)
    report_path = StudyRunner(study, tmp_path / "out").run()
    results = json.loads((report_path.parent / "results.json").read_text())
    rows = {row["name"].split(":")[0]: row for row in results["rows"]}
    assert rows["a"]["restore"] == "full" and rows["b1c'"]["restore"] == "classification"
    backbone = tmp_path / "out" / "pretrained" / BACKBONE_NAME
    assert json.loads((backbone / "conversion.json").read_text())["restore_with"].endswith("classification")
    assert rows["d1"]["num_train_steps"] == 4 and rows["d1"]["stopped_at_step"] in (1, 2)
    assert rows["d1"]["best_step"] in (1, 2) and rows["d1"]["validation_metric"].startswith("PascalBoxes")
    text = report_path.read_text()
    assert "Scale 0.5" in text and "mAP@0.5 ratio a/b1c' = " in text and "Early stopping" in text
    assert "--scale 0.5" in text and (report_path.parent / "map_vs_quantity.png").stat().st_size > 1000
    # Each row has a bootstrap interval over the photos; each later row is paired with the first.
    for row in rows.values():
        low, high = row["mAP@0.5_interval"]
        assert 0.0 <= low <= high <= 1.0
    assert "95 % interval" in text and "- b1c' - a: " in text and "95 % paired interval" in text
    cut = next((tmp_path / "out" / "catalogs").glob("catalog_*.yaml"))
    assert not yaml.safe_load(cut.read_text())["distractors"]


def test_repeat_summaries_give_mean_spread_and_runs_and_ratios_use_the_means():
    rows = [{"name": "a: fine-tuned", "mAP@0.5": 0.50, "repeat_of": "a"},
            {"name": "a run 2: fine-tuned", "mAP@0.5": 0.54, "repeat_of": "a"},
            {"name": "a run 3: fine-tuned", "mAP@0.5": None, "repeat_of": "a"},
            {"name": "b2: coco mapped", "mAP@0.5": 0.26}]
    summary, = report.repeat_summaries(rows)
    assert summary["row"] == "a" and summary["runs"] == 3 and summary["mAP@0.5_runs"] == [0.50, 0.54, None]
    assert summary["mAP@0.5_mean"] == pytest.approx(0.52) and summary["mAP@0.5_sd"] == pytest.approx(0.04 / 2 ** 0.5)
    assert (summary["mAP@0.5_min"], summary["mAP@0.5_max"]) == (0.50, 0.54)
    assert report.repeat_lines([summary])[-1] == "| a | 3 | 52.00 | 2.83 | 50.00 to 54.00 | 50.00, 54.00, n/a |"
    assert report.ratio_lines(rows, ["a/b2"]) == ["mAP@0.5 ratio a/b2 = 2.00 (52.00 / 26.00) (means over runs)"]
    assert report.repeat_summaries(rows[3:]) == [] and report.repeat_lines([]) == []


def test_repeats_and_seed_are_study_fields_and_main_job_flags(tmp_path):
    text = (STUDY_DIR / "main_full.yaml").read_text().replace("../", str(STUDY_DIR.parent) + "/")
    path = tmp_path / "study.yaml"
    for bad, message in (("repeats: 0", r"field 'repeats': expected an integer >= 1, got 0"),
                         ("repeats: two", r"field 'repeats': expected an integer >= 1, got 'two'"),
                         ("repeats: true", r"field 'repeats': expected an integer >= 1, got True"),
                         ("seed: -1", r"field 'seed': expected an integer >= 0, got -1"),
                         ("num_workers: 0", r"field 'num_workers': expected an integer >= 1, got 0"),
                         ("width: 8", r"field 'width': expected an integer >= 16, got 8")):
        path.write_text(text + bad + "\n")
        with pytest.raises(StudyError, match=message):
            load_study(str(path))
    path.write_text(text + "repeats: 3\n")
    assert load_study(str(path)).repeats == 3
    study = load_study(str(STUDIES["full"]))
    changes = apply_overrides(study, {"seed": 0, "repeats": 3})
    assert (study.seed, study.repeats) == (0, 3)
    assert [(c.flag, c.value, c.recipe_value) for c in changes] == [("--seed", "0", "0"), ("--repeats", "3", "1")]
    with pytest.raises(StudyError, match="--repeats 0: expected an integer >= 1"):
        apply_overrides(load_study(str(STUDIES["full"])), {"repeats": 0})
    # A count of 0 was skipped as if not given; now the study's own minimum refuses it.
    with pytest.raises(StudyError, match=r"--num_images 0: expected an integer >= 1, got 0"):
        apply_overrides(load_study(str(STUDIES["full"])), {"num_images": 0})
