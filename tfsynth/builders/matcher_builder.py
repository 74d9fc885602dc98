"""Matcher / RegionSimilarityCalculator protos -> matcher / similarity calculator."""
from tfsynth.builders.config_check import require_oneof
from tfsynth.core import matchers, region_similarity


def _argmax(c):
    matched = unmatched = None
    if not c.ignore_thresholds:
        matched, unmatched = c.matched_threshold, c.unmatched_threshold
    return matchers.ArgMaxMatcher(matched, unmatched, c.negatives_lower_than_unmatched, c.force_match_for_each_row,
                                  c.use_matmul_gather)


_MATCHERS = {
    "argmax_matcher": _argmax,
    "bipartite_matcher": lambda c: matchers.GreedyBipartiteMatcher(c.use_matmul_gather),
}

_SIMILARITIES = {
    "iou_similarity": lambda c: region_similarity.IouSimilarity(),
    "ioa_similarity": lambda c: region_similarity.IoaSimilarity(),
    "neg_sq_dist_similarity": lambda c: region_similarity.NegSqDistSimilarity(),
    "thresholded_iou_similarity": lambda c: region_similarity.ThresholdedIouSimilarity(c.iou_threshold),
}


def build(config, where: str = "matcher"):
    kind = require_oneof(config, "matcher_oneof", _MATCHERS, where)
    return _MATCHERS[kind](getattr(config, kind))


def build_similarity_calculator(config, where: str = "similarity_calculator"):
    kind = require_oneof(config, "region_similarity", _SIMILARITIES, where)
    return _SIMILARITIES[kind](getattr(config, kind))
