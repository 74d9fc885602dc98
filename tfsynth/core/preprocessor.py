"""Data augmentation ops with the OD API's names and semantics (object_detection/core/preprocessor.py).

Conventions (the OD API's): one image [height, width, channels] float32 with values in [0, 255]; boxes
[N, 4] float32 normalized [ymin, xmin, ymax, xmax]. Ops that move pixels take `(image, boxes, box_fields)` and
return the same triple, where box_fields is a dict of per-box tensors (classes, weights, area, ...) that are
dropped together with their boxes; colour ops take and return the image only. `preprocess()` applies a list
of (op, kwargs) pairs, as built by tfsynth.builders.preprocessor_builder, to an InputDataFields tensor dict.

Randomness: by default TF's stateful random ops, with `seed` passed through as op-level seed (tf.random.set_seed
fixes the sequence). `preprocess(..., stateless_seed=...)` makes every random op of that call stateless instead
(tf.random.stateless_*), keyed on the given seed folded with the op's position in the traced graph: the result of
an element then depends on its seed only, not on how many elements were drawn before or in which thread, so an
input pipeline restored from a checkpoint augments exactly as an uninterrupted one. Same distributions either way.
"""
from __future__ import annotations

import math
import threading
from typing import Callable, Optional, Sequence

import tensorflow as tf

from tfsynth.core.standard_fields import InputDataFields as fields

BoxFields = dict  # field name -> tensor whose first dimension indexes the boxes

# Per-box entries of an InputDataFields dict that follow their boxes through crops.
PER_BOX_FIELDS = (
    fields.groundtruth_classes, fields.groundtruth_weights, fields.groundtruth_confidences,
    fields.groundtruth_area, fields.groundtruth_is_crowd, fields.groundtruth_difficult,
    fields.groundtruth_group_of, fields.groundtruth_truncated, fields.groundtruth_label_types,
)

_IMAGE_ONLY_OPS: set[Callable] = set()


def _image_only(op: Callable) -> Callable:
    """Marks an op that changes pixel values only (boxes untouched)."""
    _IMAGE_ONLY_OPS.add(op)
    return op


# ----------------------------------------------------------------------------------------------------------
# Small helpers on normalized boxes
# ----------------------------------------------------------------------------------------------------------

class _StatelessSeeds:
    """The seeds of one stateless preprocess() call: one per random op, in the order the ops are traced.

    The order is fixed by the Python code, so the n-th op always gets fold_in(seed, n), whatever ran before."""

    def __init__(self, seed: tf.Tensor):
        self.seed = seed
        self.count = 0

    def next(self) -> tf.Tensor:
        self.count += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.count)


# The stateless seeds of the preprocess() call being traced in this thread (None: stateful ops). Thread-local:
# tf.data may trace several map functions at once.
_local = threading.local()


def _stateless_seed() -> Optional[tf.Tensor]:
    """The seed for the next random op when preprocess() runs stateless, else None."""
    seeds = getattr(_local, "seeds", None)
    return seeds.next() if seeds is not None else None


def _uniform(minval=0.0, maxval=1.0, seed=None, shape=()):
    stateless = _stateless_seed()
    if stateless is not None:
        return tf.random.stateless_uniform(shape, stateless, minval, maxval, dtype=tf.float32)
    return tf.random.uniform(shape, minval, maxval, dtype=tf.float32, seed=seed)


def _random_int(minval, maxval, seed=None):
    """Integer in [minval, maxval)."""
    stateless = _stateless_seed()
    if stateless is not None:
        return tf.random.stateless_uniform([], stateless, minval, maxval, dtype=tf.int32)
    return tf.random.uniform([], minval, maxval, dtype=tf.int32, seed=seed)


def _normal(shape, stddev, seed=None):
    stateless = _stateless_seed()
    if stateless is not None:
        return tf.random.stateless_normal(shape, stateless, stddev=stddev)
    return tf.random.normal(shape, stddev=stddev, seed=seed)


def _gather(boxes: tf.Tensor, box_fields: BoxFields, indices: tf.Tensor):
    return tf.gather(boxes, indices), {name: tf.gather(value, indices) for name, value in box_fields.items()}


def _change_frame(boxes: tf.Tensor, window) -> tf.Tensor:
    """Boxes normalized to the image -> normalized to `window` [ymin, xmin, ymax, xmax] (same frame)."""
    window = tf.cast(window, tf.float32)
    height, width = window[2] - window[0], window[3] - window[1]
    return (boxes - tf.stack([window[0], window[1], window[0], window[1]])) / tf.stack(
        [height, width, height, width])


def _area(boxes: tf.Tensor) -> tf.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _fraction_inside(boxes: tf.Tensor, window) -> tf.Tensor:
    """Fraction of each box's area inside `window` (0 for boxes of zero area)."""
    window = tf.cast(window, tf.float32)
    ymin = tf.maximum(boxes[:, 0], window[0])
    xmin = tf.maximum(boxes[:, 1], window[1])
    ymax = tf.minimum(boxes[:, 2], window[2])
    xmax = tf.minimum(boxes[:, 3], window[3])
    inter = tf.maximum(ymax - ymin, 0.0) * tf.maximum(xmax - xmin, 0.0)
    return tf.math.divide_no_nan(inter, _area(boxes))


def _outside(boxes: tf.Tensor, window) -> tf.Tensor:
    """True for boxes entirely outside `window` (OD API prune_completely_outside_window)."""
    window = tf.cast(window, tf.float32)
    return ((boxes[:, 0] >= window[2]) | (boxes[:, 2] <= window[0])
            | (boxes[:, 1] >= window[3]) | (boxes[:, 3] <= window[1]))


def _crop_boxes(boxes, box_fields, window, overlap_thresh, clip_boxes=True):
    """Keeps boxes not entirely outside `window` whose inside fraction is >= overlap_thresh; moves them into
    the window's frame (clipped to [0, 1] when clip_boxes)."""
    keep = tf.logical_not(_outside(boxes, window)) & (_fraction_inside(boxes, window) >= overlap_thresh)
    boxes, box_fields = _gather(boxes, box_fields, tf.reshape(tf.where(keep), [-1]))
    boxes = _change_frame(boxes, window)
    if clip_boxes:
        boxes = tf.clip_by_value(boxes, 0.0, 1.0)
    return boxes, box_fields


def _keep_inside_unit(boxes, box_fields):
    """Drops boxes entirely outside [0, 1]^2 and clips the rest to it."""
    keep = tf.logical_not(_outside(boxes, [0.0, 0.0, 1.0, 1.0]))
    boxes, box_fields = _gather(boxes, box_fields, tf.reshape(tf.where(keep), [-1]))
    return tf.clip_by_value(boxes, 0.0, 1.0), box_fields


def _maybe(probability_to_apply, apply: Callable, skip: Callable, seed=None):
    """Runs `apply` with the given probability, else `skip` (both return the same structure)."""
    return tf.cond(_uniform(seed=seed) < probability_to_apply, apply, skip)


def _pad_with_color(image, offset_y, offset_x, target_height, target_width, pad_color):
    padded = tf.image.pad_to_bounding_box(image, offset_y, offset_x, target_height, target_width)
    inside = tf.image.pad_to_bounding_box(tf.ones_like(image), offset_y, offset_x, target_height, target_width)
    return padded + (1.0 - inside) * tf.cast(pad_color, tf.float32)


# ----------------------------------------------------------------------------------------------------------
# Geometric ops: (image, boxes, box_fields) -> (image, boxes, box_fields)
# ----------------------------------------------------------------------------------------------------------

def random_horizontal_flip(image, boxes, box_fields=None, keypoint_flip_permutation=None, probability=0.5,
                           seed=None):
    """Mirrors image and boxes left-right with `probability`."""
    box_fields = box_fields or {}

    def flip():
        flipped = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1]], axis=1)
        return tf.image.flip_left_right(image), flipped

    new_image, new_boxes = _maybe(probability, flip, lambda: (image, boxes), seed)
    return new_image, new_boxes, box_fields


def random_vertical_flip(image, boxes, box_fields=None, keypoint_flip_permutation=None, probability=0.5,
                         seed=None):
    """Mirrors image and boxes top-bottom with `probability`."""
    box_fields = box_fields or {}

    def flip():
        flipped = tf.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], axis=1)
        return tf.image.flip_up_down(image), flipped

    new_image, new_boxes = _maybe(probability, flip, lambda: (image, boxes), seed)
    return new_image, new_boxes, box_fields


def random_rotation90(image, boxes, box_fields=None, keypoint_rot_permutation=None, probability=0.5, seed=None):
    """Rotates image and boxes 90 degrees counter-clockwise with `probability`."""
    box_fields = box_fields or {}

    def rotate():
        rotated = tf.stack([1.0 - boxes[:, 3], boxes[:, 0], 1.0 - boxes[:, 1], boxes[:, 2]], axis=1)
        return tf.image.rot90(image), rotated

    new_image, new_boxes = _maybe(probability, rotate, lambda: (image, boxes), seed)
    return new_image, new_boxes, box_fields


def random_image_scale(image, boxes, box_fields=None, min_scale_ratio=0.5, max_scale_ratio=2.0, seed=None):
    """Resizes the image by one random factor in [min_scale_ratio, max_scale_ratio] (boxes stay normalized)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    ratio = _uniform(min_scale_ratio, max_scale_ratio, seed)
    new_size = tf.cast(tf.round(shape * ratio), tf.int32)
    new_image = tf.image.resize(image, new_size, method=tf.image.ResizeMethod.BILINEAR)
    return new_image, boxes, box_fields or {}


def random_jitter_boxes(image, boxes, box_fields=None, ratio=0.05, seed=None):
    """Moves each box corner by up to `ratio` of the box's height/width (boxes clipped to [0, 1])."""
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    scale = tf.stack([height, width, height, width], axis=1)
    jitter = _uniform(-ratio, ratio, seed, shape=tf.shape(boxes)) * scale
    return image, tf.clip_by_value(boxes + jitter, 0.0, 1.0), box_fields or {}


def _sample_crop_window(image, boxes, min_object_covered, aspect_ratio_range, area_range, seed=None):
    """OD API crop sampling: tf.image.sample_distorted_bounding_box over the (clipped) boxes."""
    clipped = tf.clip_by_value(boxes, 0.0, 1.0)
    settings = dict(bounding_boxes=tf.expand_dims(clipped, 0), min_object_covered=min_object_covered,
                    aspect_ratio_range=aspect_ratio_range, area_range=area_range, max_attempts=100,
                    use_image_if_no_bounding_boxes=True)
    stateless = _stateless_seed()
    if stateless is not None:
        begin, size, window = tf.image.stateless_sample_distorted_bounding_box(tf.shape(image), seed=stateless,
                                                                               **settings)
    else:
        begin, size, window = tf.image.sample_distorted_bounding_box(tf.shape(image), seed=seed or 0, **settings)
    return begin, size, window[0, 0]


def random_crop_image(image, boxes, box_fields=None, min_object_covered=1.0, aspect_ratio_range=(0.75, 1.33),
                      area_range=(0.1, 1.0), overlap_thresh=0.3, clip_boxes=True, random_coef=0.0, seed=None):
    """Crops a random window that covers at least `min_object_covered` of some box; keeps the boxes of which at
    least `overlap_thresh` lies inside the window. With probability `random_coef` the input is left as is."""
    box_fields = box_fields or {}

    def crop():
        begin, size, window = _sample_crop_window(image, boxes, min_object_covered, aspect_ratio_range,
                                                  area_range, seed)
        new_image = tf.slice(image, begin, size)
        new_boxes, new_fields = _crop_boxes(boxes, box_fields, window, overlap_thresh, clip_boxes)
        return new_image, new_boxes, new_fields

    if random_coef <= 0.0:
        return crop()
    return _maybe(1.0 - random_coef, crop, lambda: (image, boxes, box_fields), seed)


_SSD_CROP_DEFAULTS = dict(
    min_object_covered=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
    aspect_ratio_range=((0.5, 2.0),) * 7,
    area_range=((0.1, 1.0),) * 7,
    overlap_thresh=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
    clip_boxes=(True,) * 7,
    random_coef=(0.15,) * 7,
)


def _select_one(branches: Sequence[Callable], seed=None):
    """Runs one of `branches`, chosen uniformly at random."""
    index = _random_int(0, len(branches), seed)
    return tf.switch_case(index, list(branches))


def ssd_random_crop(image, boxes, box_fields=None, min_object_covered=None, aspect_ratio_range=None,
                    area_range=None, overlap_thresh=None, clip_boxes=None, random_coef=None, seed=None):
    """SSD's crop (Liu et al. 2016): one of several random_crop_image settings, picked at random per image.
    Unset arguments take the OD API's seven default operations."""
    box_fields = box_fields or {}
    settings = dict(min_object_covered=min_object_covered, aspect_ratio_range=aspect_ratio_range,
                    area_range=area_range, overlap_thresh=overlap_thresh, clip_boxes=clip_boxes,
                    random_coef=random_coef)
    settings = {k: (v if v is not None else _SSD_CROP_DEFAULTS[k]) for k, v in settings.items()}
    count = len(settings["min_object_covered"])
    if any(len(v) != count for v in settings.values()):
        raise ValueError(f"ssd_random_crop: every operation setting needs {count} entries, got "
                         f"{ {k: len(v) for k, v in settings.items()} }")

    def branch(i):
        return lambda: random_crop_image(image, boxes, box_fields, **{k: v[i] for k, v in settings.items()},
                                         seed=seed)

    return _select_one([branch(i) for i in range(count)], seed)


def random_crop_to_aspect_ratio(image, boxes, box_fields=None, aspect_ratio=1.0, overlap_thresh=0.3,
                                clip_boxes=True, seed=None):
    """Crops the largest window of width/height `aspect_ratio` at a random position."""
    box_fields = box_fields or {}
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    float_h, float_w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    target_w = tf.cast(tf.minimum(float_w, tf.floor(float_h * aspect_ratio)), tf.int32)
    target_h = tf.cast(tf.minimum(float_h, tf.floor(tf.cast(target_w, tf.float32) / aspect_ratio)), tf.int32)
    offset_y = _random_int(0, height - target_h + 1, seed)
    offset_x = _random_int(0, width - target_w + 1, seed)
    new_image = image[offset_y:offset_y + target_h, offset_x:offset_x + target_w]
    window = tf.cast(tf.stack([offset_y, offset_x, offset_y + target_h, offset_x + target_w]), tf.float32)
    window /= tf.stack([float_h, float_w, float_h, float_w])
    new_boxes, new_fields = _crop_boxes(boxes, box_fields, window, overlap_thresh, clip_boxes)
    return new_image, new_boxes, new_fields


def random_pad_image(image, boxes, box_fields=None, min_image_size=None, max_image_size=None, pad_color=None,
                     seed=None):
    """Places the image at a random offset on a canvas of random size between min_image_size (default the
    image) and max_image_size (default twice the image), filled with pad_color (default the mean colour)."""
    box_fields = box_fields or {}
    if pad_color is None:
        pad_color = tf.reduce_mean(image, axis=[0, 1])
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    own = tf.stack([height, width])
    max_size = tf.stack([height * 2, width * 2]) if max_image_size is None else tf.cast(max_image_size, tf.int32)
    max_size = tf.maximum(max_size, own)
    min_size = own if min_image_size is None else tf.maximum(tf.cast(min_image_size, tf.int32), own)
    target_h = tf.cond(max_size[0] > min_size[0], lambda: _random_int(min_size[0], max_size[0], seed),
                       lambda: max_size[0])
    target_w = tf.cond(max_size[1] > min_size[1], lambda: _random_int(min_size[1], max_size[1], seed),
                       lambda: max_size[1])
    offset_y = tf.cond(target_h > height, lambda: _random_int(0, target_h - height, seed), lambda: 0)
    offset_x = tf.cond(target_w > width, lambda: _random_int(0, target_w - width, seed), lambda: 0)
    new_image = _pad_with_color(image, offset_y, offset_x, target_h, target_w, pad_color)
    window = tf.cast(tf.stack([-offset_y, -offset_x, target_h - offset_y, target_w - offset_x]), tf.float32)
    window /= tf.cast(tf.stack([height, width, height, width]), tf.float32)
    return new_image, _change_frame(boxes, window), box_fields


def random_absolute_pad_image(image, boxes, box_fields=None, max_height_padding=1, max_width_padding=1,
                              pad_color=None, seed=None):
    """random_pad_image with at most max_height_padding / max_width_padding pixels added."""
    shape = tf.shape(image)
    max_size = tf.stack([shape[0] + int(max_height_padding), shape[1] + int(max_width_padding)])
    return random_pad_image(image, boxes, box_fields, min_image_size=None, max_image_size=max_size,
                            pad_color=pad_color, seed=seed)


def random_crop_pad_image(image, boxes, box_fields=None, min_object_covered=1.0,
                          aspect_ratio_range=(0.75, 1.33), area_range=(0.1, 1.0), overlap_thresh=0.3,
                          clip_boxes=True, random_coef=0.0, min_padded_size_ratio=(1.0, 1.0),
                          max_padded_size_ratio=(2.0, 2.0), pad_color=None, seed=None):
    """random_crop_image, then random_pad_image to between min/max_padded_size_ratio of the input size."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    image, boxes, box_fields = random_crop_image(
        image, boxes, box_fields, min_object_covered=min_object_covered, aspect_ratio_range=aspect_ratio_range,
        area_range=area_range, overlap_thresh=overlap_thresh, clip_boxes=clip_boxes, random_coef=random_coef,
        seed=seed)
    min_size = tf.cast(tf.constant(min_padded_size_ratio, tf.float32) * shape, tf.int32)
    max_size = tf.cast(tf.constant(max_padded_size_ratio, tf.float32) * shape, tf.int32)
    return random_pad_image(image, boxes, box_fields, min_image_size=min_size, max_image_size=max_size,
                            pad_color=pad_color, seed=seed)


def ssd_random_crop_pad(image, boxes, box_fields=None, min_object_covered=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
                        aspect_ratio_range=((0.5, 2.0),) * 6, area_range=((0.1, 1.0),) * 6,
                        overlap_thresh=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0), clip_boxes=(True,) * 6,
                        random_coef=(0.15,) * 6, min_padded_size_ratio=((1.0, 1.0),) * 6,
                        max_padded_size_ratio=((2.0, 2.0),) * 6, pad_color=(None,) * 6, seed=None):
    """One of several random_crop_pad_image settings, picked at random per image."""
    box_fields = box_fields or {}

    def branch(i):
        return lambda: random_crop_pad_image(
            image, boxes, box_fields, min_object_covered=min_object_covered[i],
            aspect_ratio_range=aspect_ratio_range[i], area_range=area_range[i],
            overlap_thresh=overlap_thresh[i], clip_boxes=clip_boxes[i], random_coef=random_coef[i],
            min_padded_size_ratio=min_padded_size_ratio[i], max_padded_size_ratio=max_padded_size_ratio[i],
            pad_color=pad_color[i], seed=seed)

    return _select_one([branch(i) for i in range(len(min_object_covered))], seed)


def ssd_random_crop_fixed_aspect_ratio(image, boxes, box_fields=None,
                                       min_object_covered=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
                                       aspect_ratio=1.0, area_range=((0.1, 1.0),) * 7,
                                       overlap_thresh=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
                                       clip_boxes=(True,) * 7, random_coef=(0.15,) * 7, seed=None):
    """ssd_random_crop with every crop of width/height `aspect_ratio` (then cropped to it exactly)."""
    count = len(min_object_covered)
    image, boxes, box_fields = ssd_random_crop(
        image, boxes, box_fields, min_object_covered=min_object_covered,
        aspect_ratio_range=((aspect_ratio, aspect_ratio),) * count, area_range=area_range,
        overlap_thresh=overlap_thresh, clip_boxes=clip_boxes, random_coef=random_coef, seed=seed)
    return random_crop_to_aspect_ratio(image, boxes, box_fields, aspect_ratio=aspect_ratio,
                                       overlap_thresh=overlap_thresh[0], clip_boxes=clip_boxes[0], seed=seed)


def random_square_crop_by_scale(image, boxes, box_fields=None, max_border=128, scale_min=0.6, scale_max=1.3,
                                num_scales=8, seed=None):
    """CenterNet's crop: a square of side scale * max(height, width) (scale one of num_scales values in
    [scale_min, scale_max]) centred at a random pixel at least a border away from the edges; parts outside the
    image are zero. Boxes entirely outside the square are dropped, the rest clipped to it."""
    box_fields = box_fields or {}
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    scales = tf.linspace(float(scale_min), float(scale_max), int(num_scales))
    scale = tf.gather(scales, _random_int(0, int(num_scales), seed))
    size = tf.cast(scale * tf.cast(tf.maximum(height, width), tf.float32), tf.int32)

    def border(dimension):
        # Smallest max_border / 2**k that stays below half the dimension.
        k = tf.math.ceil(tf.math.log(2.0 * max_border / tf.cast(dimension, tf.float32)) / math.log(2.0))
        divisor = tf.cast(tf.clip_by_value(tf.pow(2.0, k), 1.0, float(max_border)), tf.int32)
        return max_border // divisor

    h_border, w_border = border(height), border(width)
    y_center = _random_int(h_border, height - h_border + 1, seed)
    x_center = _random_int(w_border, width - w_border + 1, seed)
    half = size // 2
    top, left = y_center - half, x_center - half
    ymin, xmin = tf.maximum(top, 0), tf.maximum(left, 0)
    ymax, xmax = tf.minimum(top + size, height), tf.minimum(left + size, width)
    cropped = image[ymin:ymax, xmin:xmax]
    new_image = tf.image.pad_to_bounding_box(cropped, ymin - top, xmin - left, size, size)
    window = tf.cast(tf.stack([top, left, top + size, left + size]), tf.float32)
    window /= tf.cast(tf.stack([height, width, height, width]), tf.float32)
    new_boxes, new_fields = _keep_inside_unit(_change_frame(boxes, window), box_fields)
    return new_image, new_boxes, new_fields


def random_scale_crop_and_pad_to_square(image, boxes, box_fields=None, scale_min=0.1, scale_max=2.0,
                                        output_size=512, resize_method=tf.image.ResizeMethod.BILINEAR,
                                        seed=None):
    """EfficientDet's augmentation: resize so the longer side is output_size * scale (scale uniform in
    [scale_min, scale_max]), take a random output_size square crop of it (when larger), pad to
    output_size x output_size with zeros at the bottom/right. Boxes outside are dropped, the rest clipped."""
    box_fields = box_fields or {}
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = _uniform(scale_min, scale_max, seed)
    target = scale * float(output_size)
    ratio = target / tf.reduce_max(shape)
    scaled_size = tf.cast(tf.round(shape * ratio), tf.int32)
    scaled = tf.image.resize(image, scaled_size, method=resize_method)
    offset_y = _random_int(0, tf.maximum(scaled_size[0] - output_size, 0) + 1, seed)
    offset_x = _random_int(0, tf.maximum(scaled_size[1] - output_size, 0) + 1, seed)
    cropped = scaled[offset_y:offset_y + output_size, offset_x:offset_x + output_size]
    new_image = tf.image.pad_to_bounding_box(cropped, 0, 0, output_size, output_size)
    size_f = tf.cast(scaled_size, tf.float32)
    window = tf.cast(tf.stack([offset_y, offset_x, offset_y + output_size, offset_x + output_size]), tf.float32)
    window /= tf.stack([size_f[0], size_f[1], size_f[0], size_f[1]])
    new_boxes, new_fields = _keep_inside_unit(_change_frame(boxes, window), box_fields)
    # Drop boxes clipped to nothing (a sliver on the crop edge).
    keep = tf.reshape(tf.where(_area(new_boxes) > 0.0), [-1])
    new_boxes, new_fields = _gather(new_boxes, new_fields, keep)
    return new_image, new_boxes, new_fields


def resize_image(image, boxes, box_fields=None, new_height=600, new_width=1024,
                 method=tf.image.ResizeMethod.BILINEAR):
    """Resizes to [new_height, new_width] (boxes stay normalized)."""
    return tf.image.resize(image, [new_height, new_width], method=method), boxes, box_fields or {}


def random_resize_method(image, boxes, box_fields=None, target_size=(300, 300), seed=None):
    """Resizes to target_size with one of bilinear / nearest / bicubic / area, picked at random."""
    methods = [tf.image.ResizeMethod.BILINEAR, tf.image.ResizeMethod.NEAREST_NEIGHBOR,
               tf.image.ResizeMethod.BICUBIC, tf.image.ResizeMethod.AREA]
    branches = [lambda m=m: tf.image.resize(image, target_size, method=m) for m in methods]
    return _select_one(branches, seed), boxes, box_fields or {}


def scale_boxes_to_pixel_coordinates(image, boxes, box_fields=None):
    """Normalized boxes -> pixel coordinates of this image."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    return image, boxes * tf.stack([shape[0], shape[1], shape[0], shape[1]]), box_fields or {}


# ----------------------------------------------------------------------------------------------------------
# Colour ops: image -> image (values stay in [0, 255])
# ----------------------------------------------------------------------------------------------------------

def _on_unit_scale(image, adjust: Callable):
    """Applies `adjust` to the RGB channels scaled to [0, 1]; clips back to [0, 255]."""
    rgb = tf.clip_by_value(adjust(image[:, :, :3] / 255.0) * 255.0, 0.0, 255.0)
    return tf.concat([rgb, image[:, :, 3:]], axis=-1)


@_image_only
def normalize_image(image, original_minval, original_maxval, target_minval=0.0, target_maxval=1.0):
    """Linearly maps [original_minval, original_maxval] to [target_minval, target_maxval]."""
    scale = (target_maxval - target_minval) / (original_maxval - original_minval)
    return (tf.cast(image, tf.float32) - original_minval) * scale + target_minval


@_image_only
def random_pixel_value_scale(image, minval=0.9, maxval=1.1, seed=None):
    """Multiplies every pixel value by its own factor in [minval, maxval]."""
    return tf.clip_by_value(image * _uniform(minval, maxval, seed, tf.shape(image)), 0.0, 255.0)


@_image_only
def random_rgb_to_gray(image, probability=0.1, seed=None):
    """With `probability`, replaces the colours by their grey value (3 channels kept)."""
    def gray():
        return tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image[:, :, :3]))
    gray_rgb = _maybe(probability, gray, lambda: image[:, :, :3], seed)
    return tf.concat([gray_rgb, image[:, :, 3:]], axis=-1)


@_image_only
def random_adjust_brightness(image, max_delta=0.2, seed=None):
    """Adds one random delta in [-max_delta, max_delta] (on the [0, 1] scale)."""
    delta = _uniform(-max_delta, max_delta, seed)
    return _on_unit_scale(image, lambda x: tf.image.adjust_brightness(x, delta))


@_image_only
def random_adjust_contrast(image, min_delta=0.8, max_delta=1.25, seed=None):
    """Scales contrast by a factor in [min_delta, max_delta]."""
    factor = _uniform(min_delta, max_delta, seed)
    return _on_unit_scale(image, lambda x: tf.image.adjust_contrast(x, factor))


@_image_only
def random_adjust_hue(image, max_delta=0.02, seed=None):
    """Shifts hue by a delta in [-max_delta, max_delta]."""
    delta = _uniform(-max_delta, max_delta, seed)
    return _on_unit_scale(image, lambda x: tf.image.adjust_hue(x, delta))


@_image_only
def random_adjust_saturation(image, min_delta=0.8, max_delta=1.25, seed=None):
    """Scales saturation by a factor in [min_delta, max_delta]."""
    factor = _uniform(min_delta, max_delta, seed)
    return _on_unit_scale(image, lambda x: tf.image.adjust_saturation(x, factor))


@_image_only
def random_distort_color(image, color_ordering=0, seed=None):
    """The OD API's colour distortion: brightness (32/255), saturation and contrast (0.5-1.5), hue (0.2), in
    ordering 0 (brightness, saturation, hue, contrast) or 1 (brightness, contrast, saturation, hue)."""
    steps = {
        "brightness": lambda x: random_adjust_brightness(x, 32.0 / 255.0, seed),
        "saturation": lambda x: random_adjust_saturation(x, 0.5, 1.5, seed),
        "hue": lambda x: random_adjust_hue(x, 0.2, seed),
        "contrast": lambda x: random_adjust_contrast(x, 0.5, 1.5, seed),
    }
    orders = {0: ("brightness", "saturation", "hue", "contrast"),
              1: ("brightness", "contrast", "saturation", "hue")}
    if color_ordering not in orders:
        raise ValueError(f"random_distort_color.color_ordering must be 0 or 1, got {color_ordering}")
    for name in orders[color_ordering]:
        image = steps[name](image)
    return image


@_image_only
def random_black_patches(image, max_black_patches=10, probability=0.5, size_to_image_ratio=0.1, seed=None):
    """Up to max_black_patches square black patches (side size_to_image_ratio * min(height, width)), each
    added with `probability` at a random position."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.maximum(1, tf.cast(size_to_image_ratio * tf.cast(tf.minimum(height, width), tf.float32), tf.int32))
    for _ in range(max_black_patches):
        def add_patch(image=image):
            y = _random_int(0, tf.maximum(height - side, 0) + 1, seed)
            x = _random_int(0, tf.maximum(width - side, 0) + 1, seed)
            patch = tf.image.pad_to_bounding_box(tf.ones([side, side, tf.shape(image)[2]]), y, x,
                                                 tf.maximum(height, side), tf.maximum(width, side))
            return image * (1.0 - patch[:height, :width])
        image = _maybe(probability, add_patch, lambda image=image: image, seed)
    return image


@_image_only
def random_jpeg_quality(image, random_coef=0.0, min_jpeg_quality=0, max_jpeg_quality=100, seed=None):
    """With probability 1 - random_coef, JPEG-compresses the image at a quality in
    [min_jpeg_quality, max_jpeg_quality] and decodes it again."""
    def compress():
        quality = _random_int(min_jpeg_quality, max_jpeg_quality + 1, seed)
        # adjust_jpeg_quality (encode + decode) takes the quality as a tensor, unlike encode_jpeg.
        unit = tf.image.adjust_jpeg_quality(tf.clip_by_value(image, 0.0, 255.0) / 255.0, quality)
        return tf.reshape(unit * 255.0, tf.shape(image))
    return _maybe(1.0 - random_coef, compress, lambda: image, seed)


@_image_only
def random_patch_gaussian(image, random_coef=0.0, min_patch_size=1, max_patch_size=250,
                          min_gaussian_stddev=0.0, max_gaussian_stddev=1.0, seed=None):
    """With probability 1 - random_coef, adds Gaussian noise (stddev in [min, max] on the [0, 1] scale) to a
    square patch of random size and centre (Lopes et al. 2019)."""
    def add_noise():
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        size = _random_int(min_patch_size, max_patch_size + 1, seed)
        y_center = _random_int(0, height, seed)
        x_center = _random_int(0, width, seed)
        rows = tf.range(height)[:, None]
        cols = tf.range(width)[None, :]
        half = size // 2
        mask = ((rows >= y_center - half) & (rows < y_center - half + size)
                & (cols >= x_center - half) & (cols < x_center - half + size))
        stddev = _uniform(min_gaussian_stddev, max_gaussian_stddev, seed)
        noise = _normal(tf.shape(image), stddev, seed) * 255.0
        noisy = tf.clip_by_value(image + noise, 0.0, 255.0)
        return tf.where(mask[:, :, None], noisy, image)
    return _maybe(1.0 - random_coef, add_noise, lambda: image, seed)


@_image_only
def subtract_channel_mean(image, means=None):
    """Subtracts a per-channel mean."""
    return image - tf.constant(means, tf.float32)


# ----------------------------------------------------------------------------------------------------------
# Applying a list of options to a tensor dict
# ----------------------------------------------------------------------------------------------------------

def preprocess(tensor_dict: dict, preprocess_options: Sequence[tuple[Callable, dict]], seed=None,
               stateless_seed: Optional[tf.Tensor] = None) -> dict:
    """Applies each (op, kwargs) in order to an InputDataFields dict.

    tensor_dict['image'] is [H, W, C] (or [1, H, W, C], kept 4-D on output) in [0, 255]; groundtruth_boxes are
    normalized; the PER_BOX_FIELDS present are filtered with the boxes. Returns a new dict.
    stateless_seed (shape [2] integer tensor): every random op of this call is stateless, keyed on it (see the
    module docstring); None keeps TF's stateful random ops.
    """
    if stateless_seed is None:
        return _preprocess(tensor_dict, preprocess_options)
    previous = getattr(_local, "seeds", None)
    _local.seeds = _StatelessSeeds(tf.cast(stateless_seed, tf.int64))
    try:
        return _preprocess(tensor_dict, preprocess_options)
    finally:
        _local.seeds = previous


def _preprocess(tensor_dict: dict, preprocess_options: Sequence[tuple[Callable, dict]]) -> dict:
    """preprocess() with the randomness already chosen."""
    out = dict(tensor_dict)
    image = tf.cast(out[fields.image], tf.float32)
    batched = image.shape.rank == 4
    if batched:
        image = tf.squeeze(image, 0)
    boxes = out.get(fields.groundtruth_boxes)
    if boxes is None:
        boxes = tf.zeros([0, 4], tf.float32)
    box_fields = {name: out[name] for name in PER_BOX_FIELDS if name in out}
    geometric = [op for op, _ in preprocess_options if op not in _IMAGE_ONLY_OPS]
    if geometric and fields.groundtruth_instance_masks in out:
        raise NotImplementedError(f"preprocess: instance masks are not supported by {geometric[0].__name__}")
    for op, kwargs in preprocess_options:
        if op in _IMAGE_ONLY_OPS:
            image = op(image, **kwargs)
        else:
            image, boxes, box_fields = op(image, boxes, box_fields, **kwargs)
    out[fields.image] = tf.expand_dims(image, 0) if batched else image
    if fields.groundtruth_boxes in tensor_dict:
        out[fields.groundtruth_boxes] = boxes
    out.update(box_fields)
    return out
