"""HardExampleMiner: the prefix NMS picks exactly the anchors that NMS over every anchor picks, in the same order.

The reference is the OD API's rule written plainly: tf.image.non_max_suppression over all anchors, then every kept
positive and the first max_negatives kept negatives. Cases where the prefix settles everything (the common one)
and each case where it must fall back to the full NMS.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfsynth.core.losses import HardExampleMiner

NUM_ANCHORS = 600


def _reference(miner: HardExampleMiner, boxes, losses, num_hard, match) -> np.ndarray:
    selected = tf.image.non_max_suppression(boxes, losses, num_hard, miner._iou_threshold)
    return miner._subsample(selected, match).numpy()


def _anchors(rng: np.random.Generator, count: int) -> np.ndarray:
    centres = rng.uniform(0.05, 0.95, (count, 2))
    sizes = rng.uniform(0.05, 0.4, (count, 2))
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)


def _case(seed: int, positive_fraction: float = 0.05, ignored_fraction: float = 0.0, tied: bool = False,
          duplicates: int = 0):
    rng = np.random.default_rng(seed)
    boxes = _anchors(rng, NUM_ANCHORS)
    losses = rng.gamma(1.0, 1.0, NUM_ANCHORS).astype(np.float32)
    if tied:  # many exactly equal losses: the order of ties must match the kernel's
        losses = np.round(losses * 4) / 4
    match = np.where(rng.uniform(size=NUM_ANCHORS) < positive_fraction, rng.integers(0, 5, NUM_ANCHORS), -1)
    match[rng.uniform(size=NUM_ANCHORS) < ignored_fraction] = -2
    if duplicates:
        # Near copies (IoU above 0.99) of some positives and of high-loss anchors, ranked above or below them.
        sources = np.concatenate([np.flatnonzero(match >= 0)[:duplicates], np.argsort(-losses)[:duplicates]])
        targets = rng.choice(np.setdiff1d(np.arange(NUM_ANCHORS), sources), len(sources), replace=False)
        boxes[targets] = boxes[sources] + rng.normal(0, 1e-4, (len(sources), 4)).astype(np.float32)
        losses[targets] = losses[sources] * rng.choice([0.5, 2.0], len(sources)).astype(np.float32)
    return tf.constant(boxes), tf.constant(losses), tf.constant(match.astype(np.int32))


@pytest.mark.parametrize("seed, options", [
    (0, {}),
    (1, {"tied": True}),
    (2, {"duplicates": 6}),
    (3, {"duplicates": 6, "tied": True}),
    (4, {"positive_fraction": 0.0}),
    (5, {"positive_fraction": 0.3}),
    (6, {"ignored_fraction": 0.9}),  # too few negatives survive in the prefix
])
@pytest.mark.parametrize("num_hard", [3000, 100])  # 100 < anchors: NMS truncates, so the full NMS runs
def test_prefix_nms_matches_full_nms(seed, options, num_hard):
    miner = HardExampleMiner(num_hard_examples=num_hard, iou_threshold=0.99, loss_type="cls",
                             max_negatives_per_positive=3, min_negatives_per_image=3)
    boxes, losses, match = _case(seed, **options)
    expected = _reference(miner, boxes, losses, num_hard, match)
    got = miner._mined_indices(boxes, losses, num_hard, match).numpy()
    np.testing.assert_array_equal(got, expected)
    assert len(expected) > 0


def test_prefix_nms_matches_inside_a_tf_function():
    miner = HardExampleMiner(num_hard_examples=3000, iou_threshold=0.99, loss_type="cls",
                             max_negatives_per_positive=3, min_negatives_per_image=3)
    boxes, losses, match = _case(7, duplicates=3)
    got = tf.function(lambda b, l, m: miner._mined_indices(b, l, 3000, m))(boxes, losses, match).numpy()
    np.testing.assert_array_equal(got, _reference(miner, boxes, losses, 3000, match))


def test_a_positive_suppressed_by_a_near_copy_is_left_out():
    # The fallback must really decide: a positive beyond the prefix with a higher-loss near copy is suppressed.
    miner = HardExampleMiner(num_hard_examples=3000, iou_threshold=0.99, loss_type="cls",
                             max_negatives_per_positive=3, min_negatives_per_image=3)
    boxes, losses, match = (t.numpy() for t in _case(8))
    positive = int(np.flatnonzero(match >= 0)[np.argmin(losses[match >= 0])])  # the lowest-loss positive
    copy = int(np.argmax(losses))
    boxes[copy] = boxes[positive]
    match[copy] = -1
    got = miner._mined_indices(tf.constant(boxes), tf.constant(losses), 3000, tf.constant(match)).numpy()
    assert positive not in got and copy in got
    np.testing.assert_array_equal(got, _reference(miner, tf.constant(boxes), tf.constant(losses), 3000,
                                                  tf.constant(match)))


def test_miner_losses_unchanged_for_low_iou_threshold():
    # Below the prefix threshold the miner is the plain NMS over every anchor.
    miner = HardExampleMiner(num_hard_examples=3000, iou_threshold=0.5, loss_type="cls",
                             max_negatives_per_positive=3, min_negatives_per_image=3)
    boxes, losses, match = _case(9)
    np.testing.assert_array_equal(miner._mined_indices(boxes, losses, 3000, match).numpy(),
                                  _reference(miner, boxes, losses, 3000, match))


@pytest.mark.parametrize("loss_type", ["cls", "both"])
def test_a_batch_mines_each_image_as_alone(loss_type):
    """The batch's selection runs in one tf.map_fn: each image's mined losses are those of mining it alone."""
    miner = HardExampleMiner(num_hard_examples=3000, iou_threshold=0.99, loss_type=loss_type,
                             max_negatives_per_positive=3, min_negatives_per_image=3)
    cases = [_case(seed, positive_fraction=fraction) for seed, fraction in ((10, 0.05), (11, 0.0), (12, 0.3))]
    boxes = [case[0] for case in cases]
    cls_losses = tf.stack([case[1] for case in cases])
    loc_losses = tf.stack([case[1][::-1] for case in cases])
    matches = [case[2] for case in cases]
    batch = tf.function(miner)(loc_losses, cls_losses, boxes, matches)
    alone = [miner(loc_losses[i:i + 1], cls_losses[i:i + 1], boxes[i:i + 1], matches[i:i + 1]) for i in range(3)]
    for got, expected in zip(batch, zip(*alone)):
        np.testing.assert_allclose(got.numpy(), sum(value.numpy() for value in expected), rtol=1e-6)
    selected = miner._selected_per_image(tf.unstack(loc_losses), tf.unstack(cls_losses), boxes, matches)
    for index, indices in enumerate(selected):
        image_losses = cls_losses[index] if loss_type == "cls" else cls_losses[index] * 0.05 + loc_losses[index] * 0.06
        np.testing.assert_array_equal(indices.numpy(), _reference(miner, boxes[index], image_losses, 3000,
                                                                  matches[index]))
