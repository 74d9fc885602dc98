"""batch_assign_targets: one tf.map_fn over a batch gives each image the targets that assigning it alone gives."""
import numpy as np
import pytest
import tensorflow as tf

from tfsynth.core.box_coders import FasterRcnnBoxCoder
from tfsynth.core.matchers import ArgMaxMatcher
from tfsynth.core.region_similarity import IouSimilarity
from tfsynth.core.target_assigner import TargetAssigner, batch_assign_targets


def _boxes(rng: np.random.Generator, count: int) -> tf.Tensor:
    corners = np.sort(rng.uniform(0.0, 1.0, (count, 2, 2)), axis=1)  # [count, (min, max), (y, x)]
    return tf.constant(np.concatenate([corners[:, 0], corners[:, 1]], axis=1), tf.float32)


@pytest.mark.parametrize("with_weights", [False, True])
def test_a_batch_assigns_each_image_as_alone(with_weights):
    rng = np.random.default_rng(0)
    assigner = TargetAssigner(IouSimilarity(), ArgMaxMatcher(0.5, 0.4, force_match_for_each_row=True),
                              FasterRcnnBoxCoder([10.0, 10.0, 5.0, 5.0]))
    anchors = _boxes(rng, 300)
    counts = [3, 0, 7, 1]  # an image without boxes among them
    boxes = [_boxes(rng, count) for count in counts]
    classes = [tf.one_hot(rng.integers(1, 4, count), 4) for count in counts]
    weights = [tf.constant(rng.choice([0.0, 1.0], count, p=[0.3, 0.7]), tf.float32) for count in counts] \
        if with_weights else None
    unmatched = tf.constant([1.0, 0.0, 0.0, 0.0])
    batch = tf.function(batch_assign_targets, autograph=False)(assigner, anchors, boxes, classes, unmatched,
                                                                weights)
    for index in range(len(counts)):
        alone = assigner.assign(anchors, boxes[index], classes[index], unmatched,
                                weights[index] if with_weights else None)
        for got, expected in zip(batch, alone):
            np.testing.assert_array_equal(got[index].numpy(), expected.numpy())
    assert np.any(batch[4][2].numpy() >= 0)  # matches exist: the comparison is not of empty targets
