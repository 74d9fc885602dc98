"""--scale: one study at a fraction of its renders and steps, every row kept (apply_scale, parse_scale).

A study written at the paper's sizes takes hours on a 2-core machine; at a scale s each count of renders, validation
renders and training steps (the study's and each row's, and an early-stopping row's evaluation interval) becomes s
times as large, with floors that keep every row trainable and scoreable. Counts that differ keep their order, so a
row's quantity (renders, steps) still orders the plot; the report states the scale it ran at.
"""
from __future__ import annotations

from typing import Optional

from tfsynth.studies.spec import Study, StudyError

# Floors: a few batches of renders, enough steps to leave the warm-up, a validation set the evaluation can score.
MIN_IMAGES = 16
MIN_VALIDATION_IMAGES = 8
MIN_STEPS = 20
MIN_EVAL_INTERVAL = 5


def _scaled(value: Optional[int], scale: float, floor: int) -> Optional[int]:
    if value is None:
        return None
    return max(floor, int(round(value * scale))) if value >= floor else value


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_scale(value: Optional[str], study: Study, where: str = "--scale") -> float:
    """The scale a flag asks for: a number in (0, 1], or 'hour' for the study's hour_scale (the scale at which
    it fits a 2-core machine in about an hour). None: 1. StudyError naming `where` otherwise."""
    if value is None or str(value).strip() == "":
        return 1.0
    text = str(value).strip().lower()
    if text == "hour":
        if study.hour_scale is None:
            raise StudyError(f"{where} hour: the study {study.source or study.title} has no field 'hour_scale'; "
                             "give a number in (0, 1]")
        return float(study.hour_scale)
    try:
        scale = float(text)
    except ValueError:
        raise StudyError(f"{where} {value!r}: expected a number in (0, 1] or 'hour'") from None
    if not 0 < scale <= 1:
        raise StudyError(f"{where} {value!r}: expected a number in (0, 1] (1: the study as written) or 'hour'")
    return scale


def apply_scale(study: Study, scale: float) -> Study:
    """Scales the study's renders, validation renders and steps (and each row's, and early stopping's
    every_n_steps) by `scale` in place; returns the study. Rows are kept; study.scale records the scale. A row's
    x that is its own number of renders or steps becomes the scaled number (the plot shows what ran)."""
    if not 0 < scale <= 1:
        raise StudyError(f"scale {scale}: expected a number in (0, 1]")
    if scale == 1:
        return study
    study.num_images = _scaled(study.num_images, scale, MIN_IMAGES)
    study.validation_images = _scaled(study.validation_images, scale, MIN_VALIDATION_IMAGES)
    study.num_train_steps = _scaled(study.num_train_steps, scale, MIN_STEPS)
    for row in study.rows:
        # A row whose plotted quantity is its own count of renders or steps (the size study's) is plotted at the
        # count it runs with, not the study file's.
        x_is_images = _is_count(row.x) and row.x == row.num_images
        x_is_steps = _is_count(row.x) and row.x == row.num_train_steps
        row.num_images = _scaled(row.num_images, scale, MIN_IMAGES)
        row.num_train_steps = _scaled(row.num_train_steps, scale, MIN_STEPS)
        if x_is_images:
            row.x = row.num_images
        elif x_is_steps:
            row.x = row.num_train_steps
        if row.early_stopping and row.early_stopping.get("every_n_steps"):
            row.early_stopping = dict(row.early_stopping, every_n_steps=_scaled(
                int(row.early_stopping["every_n_steps"]), scale, MIN_EVAL_INTERVAL))
    study.scale = study.scale * scale
    return study


def describe_scale(study: Study) -> str:
    """The report's line on the scale a study ran at."""
    if study.scale == 1:
        return "Scale 1 (the study as written)."
    return (f"Scale {study.scale:g}: renders, validation renders and training steps are {study.scale:g} times the "
            f"study file's, never below {MIN_IMAGES} renders, {MIN_VALIDATION_IMAGES} validation renders and "
            f"{MIN_STEPS} steps (a count already below that is kept); the rows are the study's, each at this "
            "reduced size.")
