"""Reports of real-photo evaluations: results.json, a Markdown table and PNG plots.

Plots: per-class AP@0.5 of every row, precision-recall curves of the first row, the training loss curve (read
from TensorBoard event files), and real photos with detections beside their ground truth.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import pathlib
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from tfsynth.eval.bootstrap import paired_difference
from tfsynth.eval.checkpoint_eval import CheckpointEvaluation, ImageResult, finite_or_none
from tfsynth.utils.files import write_atomically


@dataclasses.dataclass
class Row:
    """One line of a comparison: how it was made and what it scored on the real photos."""

    name: str
    evaluation: CheckpointEvaluation
    model_dir: Optional[str] = None  # where its TensorBoard events are (None for untrained rows)
    command: str = ""
    details: dict = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict:
        interval = self.evaluation.map50_interval()
        return {"name": self.name, "mAP@0.5": finite_or_none(self.evaluation.pascal_map50),
                "mAP@0.5_interval": [finite_or_none(interval.low), finite_or_none(interval.high)],
                "coco_mAP": finite_or_none(self.evaluation.coco_map),
                "coco_mAP@0.5": finite_or_none(self.evaluation.metrics.get("DetectionBoxes_Precision/mAP@.50IOU")),
                "per_class_AP@0.5": {k: finite_or_none(v) for k, v in self.evaluation.per_class_ap.items()},
                "command": self.command, "model_dir": self.model_dir, **self.details}


def read_scalar_series(model_dir: str, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a scalar summary in model_dir's event files (train/ subfolder included)."""
    import tensorflow as tf
    steps, values = [], []
    pattern_list = [os.path.join(model_dir, "**", "events.out.tfevents.*")]
    for path in sorted(p for pattern in pattern_list for p in glob.glob(pattern, recursive=True)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag != tag:
                    continue
                number = value.simple_value if value.HasField("simple_value") else \
                    float(tf.make_ndarray(value.tensor))
                steps.append(event.step)
                values.append(number)
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps)[order], np.asarray(values)[order]


@contextlib.contextmanager
def _figure(path: pathlib.Path, size: tuple[float, float]) -> Iterator[Any]:
    """Yields the axis of a new figure; saves it to path when the block adds something, then closes it."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=size)
    try:
        yield axis
        if axis.has_data():
            figure.tight_layout()
            figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)


def plot_per_class_ap(rows: Sequence[Row], path: pathlib.Path) -> None:
    classes = list(rows[0].evaluation.per_class_ap)
    width = 0.8 / len(rows)
    with _figure(path, (max(6, len(classes) * 1.1), 4)) as axis:
        for index, row in enumerate(rows):
            values = [np.nan_to_num(row.evaluation.per_class_ap.get(c, np.nan)) * 100 for c in classes]
            axis.bar(np.arange(len(classes)) + index * width, values, width, label=row.name)
        axis.set_xticks(np.arange(len(classes)) + width * (len(rows) - 1) / 2, classes, rotation=30)
        axis.set_ylabel("AP@0.5 (%)")
        axis.set_ylim(0, 100)
        axis.legend(fontsize=7)
        axis.set_title("Per-class AP on the real photos")


def plot_pr_curves(row: Row, path: pathlib.Path) -> None:
    with _figure(path, (6, 5)) as axis:
        for name, (precision, recall) in row.evaluation.pr_curves.items():
            axis.plot(recall, precision, label=f"{name} (AP {row.evaluation.per_class_ap[name] * 100:.1f})")
        axis.set_xlabel("recall")
        axis.set_ylabel("precision")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
        axis.legend(fontsize=7)
        axis.set_title(f"Precision-recall at IoU 0.5: {row.name}")


def plot_loss_curve(model_dir: str, path: pathlib.Path) -> bool:
    """Total and component losses over steps; False when the events hold no loss."""
    with _figure(path, (6, 4)) as axis:
        for tag in ("Loss/total_loss", "Loss/localization_loss", "Loss/classification_loss"):
            steps, values = read_scalar_series(model_dir, tag)
            if len(steps):
                axis.plot(steps, values, label=tag)
        plotted = axis.has_data()
        if plotted:
            axis.set_xlabel("step")
            axis.set_ylabel("loss")
            axis.legend(fontsize=8)
            axis.set_title("Training loss")
    return plotted


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_quantity_against_map(points: Sequence[tuple[str, Any, Optional[float]]], x_label: Optional[str],
                              path: pathlib.Path) -> bool:
    """The study's one plot: mAP@0.5 on the real photos against the quantity its rows vary.

    points: (row label, the row's x or None, mAP@0.5 in [0, 1] or None). Numeric x (renders, looks): a line over
    the rows that have one, log-scaled when it spans more than a factor 8; otherwise one bar per row, labelled
    with its x or its label. False when no row has a score.
    """
    scored = [(label, x, value) for label, x, value in points if value is not None]
    if not scored:
        return False
    with _figure(path, (6.5, 4)) as axis:
        numeric = [(x, value, label) for label, x, value in scored if x is not None]
        if numeric and _numeric([x for x, _, _ in numeric]) and len(numeric) == len(scored):
            numeric.sort()
            xs = [x for x, _, _ in numeric]
            axis.plot(xs, [value * 100 for _, value, _ in numeric], marker="o")
            for x, value, label in numeric:
                axis.annotate(label, (x, value * 100), textcoords="offset points", xytext=(4, 4), fontsize=7)
            if min(xs) > 0 and max(xs) / min(xs) > 8:
                axis.set_xscale("log")
            axis.set_xticks(xs, [f"{x:g}" for x in xs])
            axis.minorticks_off()
        else:
            names = [f"{label}\n{x}" if x is not None else label for label, x, _ in scored]
            axis.bar(range(len(scored)), [value * 100 for _, _, value in scored])
            axis.set_xticks(range(len(scored)), names, fontsize=7)
        axis.set_xlabel(x_label or "row")
        axis.set_ylabel("mAP@0.5 on the real photos (%)")
        axis.set_ylim(0, 100)
        axis.set_title(f"mAP@0.5 against {x_label or 'row'}")
    return True


def repeat_summaries(rows: Sequence[dict]) -> list[dict]:
    """Each repeated row's runs (rows as in results.json, a run's details naming the row's label in repeat_of):
    {row, runs, mAP@0.5 of each run, mean, sd (sample; None for one run), min, max}, in the order of the rows.
    A run that scored n/a counts as missing, and the summary says how many runs it has."""
    groups: dict[str, list[Optional[float]]] = {}
    for row in rows:
        if row.get("repeat_of"):
            groups.setdefault(row["repeat_of"], []).append(row["mAP@0.5"])
    summaries = []
    for label, scores in groups.items():
        finite = [score for score in scores if score is not None]
        summaries.append({
            "row": label, "runs": len(scores), "mAP@0.5_runs": scores,
            "mAP@0.5_mean": float(np.mean(finite)) if finite else None,
            "mAP@0.5_sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            "mAP@0.5_min": min(finite) if finite else None, "mAP@0.5_max": max(finite) if finite else None})
    return summaries


def repeat_lines(summaries: Sequence[dict]) -> list[str]:
    """The report's table of repeated rows: mean, spread and each run's mAP@0.5."""
    if not summaries:
        return []
    lines = ["", "Repeats (each run on its own renders; the spread is the run-to-run variation that one row's "
             "interval above does not cover):", "",
             "| row | runs | mAP@0.5 mean | sd | min to max | each run |", "|---|---|---|---|---|---|"]
    for summary in summaries:
        sd = summary["mAP@0.5_sd"]
        lines.append(f"| {summary['row']} | {summary['runs']} | {_percent(summary['mAP@0.5_mean'])} | "
                     f"{'-' if sd is None else f'{sd * 100:.2f}'} | {_percent(summary['mAP@0.5_min'])} to "
                     f"{_percent(summary['mAP@0.5_max'])} | "
                     + ", ".join(_percent(score) for score in summary["mAP@0.5_runs"]) + " |")
    return lines


def ratio_lines(rows: Sequence[dict], ratios: Sequence[str]) -> list[str]:
    """One line per 'A/B' of ratios: the two rows' mAP@0.5 and A's over B's (rows as in results.json); a
    repeated row counts with its mean over runs."""
    by_label = {row["name"].split(":", 1)[0].strip(): row["mAP@0.5"] for row in rows}
    means = {summary["row"]: summary["mAP@0.5_mean"] for summary in repeat_summaries(rows)}
    by_label.update(means)
    lines = []
    for ratio in ratios:
        top, bottom = (part.strip() for part in ratio.split("/"))
        if top not in by_label or bottom not in by_label:
            lines.append(f"{ratio}: not computed (row {top if top not in by_label else bottom} was not run)")
            continue
        a, b = by_label[top], by_label[bottom]
        value = "n/a" if a is None or b is None else ("inf (denominator 0)" if b == 0 else f"{a / b:.2f}")
        mean_note = " (means over runs)" if top in means or bottom in means else ""
        lines.append(f"mAP@0.5 ratio {top}/{bottom} = {value} ({_percent(a)} / {_percent(b)}){mean_note}")
    return lines


def _later_run(details: dict) -> bool:
    """A second or later run of a repeated row: the table of repeats speaks for it in plots and comparisons."""
    return details.get("run", 1) > 1


def difference_lines(rows: Sequence[Row]) -> list[str]:
    """Each later row's mAP@0.5 minus the first row's on the same photos, with its paired bootstrap interval
    (a repeated row by its first run)."""
    lines = []
    for row in rows[1:]:
        if _later_run(row.details):
            continue
        try:
            difference = paired_difference(row.evaluation.matches, rows[0].evaluation.matches)
        except ValueError:  # scored on other photos or classes: no pairing
            continue
        label, first = row.name.split(":", 1)[0].strip(), rows[0].name.split(":", 1)[0].strip()
        verdict = "these photos cannot tell them apart" if difference.low <= 0 <= difference.high else \
            "a difference these photos resolve"
        lines.append(f"- {label} - {first}: {difference.value * 100:+.1f} points (95 % paired interval "
                     f"{difference.low * 100:+.1f} to {difference.high * 100:+.1f}): {verdict}")
    return [""] + lines if lines else []


def stopping_lines(rows: Sequence[dict]) -> list[str]:
    """The early-stopping table, when a row stopped early: each trained row's step limit, the step it stopped at and
    its real score; for a stopping row also the best step and its validation score (a fixed row trains to the end)."""
    if not any(row.get("early_stopping") for row in rows):
        return []
    lines = ["", "Early stopping (on the rendered validation split; the real photos are never read for it):", "",
             "| row | max steps | stopped at step | stopped early | best step | validation metric at best | "
             "real mAP@0.5 |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("early_stopping"):
            best = row.get("best_validation")
            lines.append(f"| {row['name']} | {row.get('max_steps')} | {row.get('stopped_at_step')} | "
                         f"{'yes' if row.get('stopped_early') else 'no'} | {row.get('best_step', '-')} | "
                         f"{row.get('validation_metric')} = {'-' if best is None else f'{best * 100:.2f}'} | "
                         f"{_percent(row['mAP@0.5'])} |")
        elif row.get("num_train_steps"):  # a fixed number of steps: scored at its last step
            steps = row["num_train_steps"]
            lines.append(f"| {row['name']} | {steps} | {steps} | no (fixed steps) | - | - | "
                         f"{_percent(row['mAP@0.5'])} |")
    return lines


def draw_detections_beside_groundtruth(result: ImageResult, class_names: dict[int, str], path: pathlib.Path,
                                       min_score: float = 0.3, max_side: int = 640) -> None:
    """Left: ground truth (green); right: detections with score >= min_score (orange)."""
    import io
    from PIL import Image, ImageDraw
    image = Image.open(io.BytesIO(result.image.read_encoded())).convert("RGB")
    scale = max_side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    panels = []
    for boxes, classes, scores, colour in (
            (result.groundtruth_boxes, result.groundtruth_classes, None, (40, 220, 60)),
            (result.detection_boxes, result.detection_classes, result.detection_scores, (255, 140, 0))):
        panel = image.copy()
        draw = ImageDraw.Draw(panel)
        for index, (ymin, xmin, ymax, xmax) in enumerate(np.asarray(boxes) * scale):
            if scores is not None and scores[index] < min_score:
                continue
            text = class_names.get(int(classes[index]), str(int(classes[index])))
            if scores is not None:
                text += f" {scores[index]:.2f}"
            draw.rectangle([xmin, ymin, xmax, ymax], outline=colour, width=3)
            left, top, right, bottom = draw.textbbox((xmin + 2, ymin + 2), text)
            draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=colour)
            draw.text((xmin + 2, ymin + 2), text, fill=(0, 0, 0))
        panels.append(panel)
    sheet = Image.new("RGB", (image.width * 2 + 8, image.height), (255, 255, 255))
    sheet.paste(panels[0], (0, 0))
    sheet.paste(panels[1], (image.width + 8, 0))
    sheet.save(path)


def _percent(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}"


def write_report(rows: Sequence[Row], report_dir: pathlib.Path, title: str, notes: Sequence[str] = (),
                 settings: Optional[dict[str, Any]] = None, num_example_images: int = 4,
                 x_label: Optional[str] = None, ratios: Sequence[str] = ()) -> pathlib.Path:
    """Writes report_dir/{report.md, results.json, *.png}; returns the path of report.md.

    x_label: the quantity the rows vary (each row's details['x']), plotted against mAP@0.5 (map_vs_quantity.png);
    ratios: 'A/B' row labels whose mAP@0.5 ratio the report states.
    """
    report_dir = pathlib.Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    results = {"title": title, "settings": settings or {}, "rows": [row.as_json() for row in rows]}
    results["repeats"] = repeat_summaries(results["rows"])
    results["ratios"] = ratio_lines(results["rows"], ratios)
    write_atomically(report_dir / "results.json", json.dumps(results, indent=2) + "\n")
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes]
    lines += ["", "| row | mAP@0.5 (PASCAL) | 95 % interval | COCO mAP | COCO mAP@0.5 | wall time (min) |",
              "|---|---|---|---|---|---|"]
    for row in results["rows"]:
        minutes = f"{row['seconds'] / 60:.1f}" if row.get("seconds") is not None else "-"
        low, high = row["mAP@0.5_interval"]
        lines.append(f"| {row['name']} | {_percent(row['mAP@0.5'])} | {_percent(low)} to {_percent(high)} | "
                     f"{_percent(row['coco_mAP'])} | {_percent(row['coco_mAP@0.5'])} | {minutes} |")
    lines += ["", "- 95 % interval: percentile bootstrap over the real photos (2000 draws with replacement); it "
              "says how much these few photos can tell, not how the model would score on other photos."]
    lines += repeat_lines(results["repeats"])
    lines += difference_lines(rows)
    if results["ratios"]:
        lines += [""] + [f"- {line}" for line in results["ratios"]]
    lines += stopping_lines(results["rows"])
    classes = list(rows[0].evaluation.per_class_ap)
    lines += ["", "Per-class AP@0.5 (%):", "", "| row | " + " | ".join(classes) + " |",
              "|---|" + "---|" * len(classes)]
    for row in results["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(_percent(row["per_class_AP@0.5"][c]) for c in classes)
                     + " |")
    # A repeated row is one point, at its mean over runs.
    means = {summary["row"]: summary["mAP@0.5_mean"] for summary in results["repeats"]}
    points = [(row["name"].split(":", 1)[0].strip(), row.get("x"), means.get(row.get("repeat_of"), row["mAP@0.5"]))
              for row in results["rows"] if not _later_run(row)]
    if plot_quantity_against_map(points, x_label, report_dir / "map_vs_quantity.png"):
        lines += ["", f"![mAP@0.5 against {x_label or 'row'}](map_vs_quantity.png)"]
    plot_per_class_ap([row for row in rows if not _later_run(row.details)], report_dir / "per_class_ap.png")
    lines += ["", "![per-class AP](per_class_ap.png)", ""]
    plot_pr_curves(rows[0], report_dir / "pr_curves.png")
    lines += ["![precision-recall curves](pr_curves.png)", ""]
    if rows[0].model_dir and plot_loss_curve(rows[0].model_dir, report_dir / "loss_curve.png"):
        lines += ["![training loss](loss_curve.png)", ""]
    examples = [r for r in rows[0].evaluation.images if len(r.groundtruth_boxes)][:num_example_images]
    if examples:
        lines += [f"Real photos, ground truth (left) and detections with score >= 0.3 (right), {rows[0].name}:", ""]
    for index, result in enumerate(examples):
        name = f"detections_{index}.png"
        draw_detections_beside_groundtruth(result, rows[0].evaluation.class_names, report_dir / name)
        lines.append(f"![{result.image.filename}]({name})")
    lines += ["", "Commands:", ""] + [f"- {row['name']}: `{row['command']}`" for row in results["rows"] if
                                       row["command"]]
    report_path = report_dir / "report.md"
    write_atomically(report_path, "\n".join(lines) + "\n")
    return report_path
