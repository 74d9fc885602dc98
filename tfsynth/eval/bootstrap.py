"""How far a mAP measured on a few real photos can be trusted: percentile bootstrap intervals over the photos.

A dev set of 30 photos holds a few dozen boxes per class, so one photo more or less moves mAP@0.5 by points. The
photos are drawn with replacement (the unit a user collects), each draw scored as the PASCAL evaluator scores it;
the interval is the central `level` of the draws. Comparing two models on the same photos, the same draws score
both (a paired bootstrap), which removes the photos' shared difficulty from the difference.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from tfsynth.eval.pascal_metrics import ImageMatches


@dataclasses.dataclass(frozen=True)
class Interval:
    """A measured value and the bootstrap interval around it, both in mAP units (0-1)."""

    value: float
    low: float
    high: float
    level: float

    def describe(self, scale: float = 100.0) -> str:
        """E.g. '48.8 (95 % interval 41.0 to 56.5)'."""
        return (f"{self.value * scale:.1f} ({self.level * 100:.0f} % interval {self.low * scale:.1f} to "
                f"{self.high * scale:.1f})")


def _bootstrap(num_images: int, statistic: Callable[[np.ndarray], float], resamples: int, level: float,
               seed: int) -> Interval:
    """statistic(image indices) on all images, and the central `level` of it over draws with replacement."""
    if num_images == 0:
        raise ValueError("a bootstrap interval needs at least one image")
    draws = np.random.default_rng(seed).integers(0, num_images, size=(resamples, num_images))
    samples = np.array([statistic(draw) for draw in draws])
    samples = samples[~np.isnan(samples)]  # a draw without any ground truth has no mAP
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail]) if len(samples) else (np.nan, np.nan)
    return Interval(float(statistic(np.arange(num_images))), float(low), float(high), level)


def map_interval(matches: ImageMatches, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """mAP@0.5 of all images and its percentile bootstrap interval over the images."""
    return _bootstrap(len(matches.groundtruth_counts), matches.mean_average_precision, resamples, level, seed)


def paired_difference(first: ImageMatches, second: ImageMatches, resamples: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Interval:
    """mAP of `first` minus mAP of `second` on the same images, with its paired bootstrap interval: an interval
    that holds 0 means these photos cannot tell the two apart."""
    if first.class_ids != second.class_ids or not np.array_equal(first.groundtruth_counts,
                                                                  second.groundtruth_counts):
        raise ValueError("paired_difference: the two evaluations are not of the same images, classes and boxes")
    return _bootstrap(len(first.groundtruth_counts),
                      lambda images: first.mean_average_precision(images) - second.mean_average_precision(images),
                      resamples, level, seed)
