"""The training and evaluation input pipelines (the OD API's inputs.train_input / eval_input).

A record goes: decode (dataset_builder.ExampleDecoder) -> drop NaN boxes and classes the label map does not
know -> data augmentation (train only) -> model.preprocess, or the image_resizer of the model config when no
model is given -> boxes re-expressed in the frame of the (possibly padded) model input -> classes one-hot
without background -> padded to max_number_of_boxes -> (features, labels) dicts, batched.

features: image [B, H, W, 3] float32 (bfloat16 with train_config.use_bfloat16), hash [B] int32,
true_image_shape [B, 3], original_image_spatial_shape [B, 2], optionally original_image (uint8, resized) and
source_id. labels: groundtruth_boxes [B, max_boxes, 4], groundtruth_classes [B, max_boxes, num_classes],
groundtruth_weights, num_groundtruth_boxes [B], groundtruth_area / is_crowd / difficult / group_of.
"""
from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

from tfsynth.builders import dataset_builder, pipeline_fields, preprocessor_builder
from tfsynth.core import preprocessor
from tfsynth.core.standard_fields import InputDataFields as fields

HASH_KEY = "hash"
HASH_BINS = 1 << 31
# Class ids in records start at 1 (0 is the background the one-hot encoding leaves out).
_LABEL_OFFSET = 1

_RESIZE_METHODS = {
    0: tf.image.ResizeMethod.BILINEAR,
    1: tf.image.ResizeMethod.NEAREST_NEIGHBOR,
    2: tf.image.ResizeMethod.BICUBIC,
    3: tf.image.ResizeMethod.AREA,
}


def _meta_architecture(model_config):
    kind = model_config.WhichOneof("model")
    if kind is None:
        raise ValueError("model: no meta-architecture set (expected ssd or faster_rcnn)")
    return getattr(model_config, kind)


def num_classes_of(model_config) -> int:
    """model.<arch>.num_classes."""
    return int(_meta_architecture(model_config).num_classes)


def _resize_method(resizer) -> str:
    # ResizeType enum: BILINEAR = 0, NEAREST_NEIGHBOR = 1, BICUBIC = 2, AREA = 3 (image_resizer.proto).
    return _RESIZE_METHODS[int(resizer.resize_method)]


def build_image_resizer(image_resizer_config) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """ImageResizer proto -> fn(image [H, W, C] float) -> (resized image, true shape [3] int32).

    Implements fixed_shape_resizer, keep_aspect_ratio_resizer (with pad_to_max_dimension) and
    identity_resizer; others raise NotImplementedError naming the resizer.
    """
    kind = image_resizer_config.WhichOneof("image_resizer_oneof")
    if kind == "fixed_shape_resizer":
        config = image_resizer_config.fixed_shape_resizer
        if config.convert_to_grayscale:
            raise NotImplementedError("fixed_shape_resizer.convert_to_grayscale is not implemented")

        def fixed(image):
            resized = tf.image.resize(image, [config.height, config.width], method=_resize_method(config))
            return resized, tf.shape(resized)
        return fixed
    if kind == "keep_aspect_ratio_resizer":
        config = image_resizer_config.keep_aspect_ratio_resizer
        if config.convert_to_grayscale:
            raise NotImplementedError("keep_aspect_ratio_resizer.convert_to_grayscale is not implemented")
        pad_value = list(config.per_channel_pad_value) or [0.0, 0.0, 0.0]

        def keep_aspect(image):
            shape = tf.cast(tf.shape(image)[:2], tf.float32)
            # Scale the short side to min_dimension unless that makes the long side exceed max_dimension.
            scale = config.min_dimension / tf.reduce_min(shape)
            scale = tf.where(tf.reduce_max(shape) * scale > config.max_dimension,
                             config.max_dimension / tf.reduce_max(shape), scale)
            new_size = tf.cast(tf.round(shape * scale), tf.int32)
            resized = tf.image.resize(image, new_size, method=_resize_method(config))
            true_shape = tf.shape(resized)
            if config.pad_to_max_dimension:
                size = config.max_dimension
                resized = preprocessor._pad_with_color(resized, 0, 0, size, size, pad_value[:image.shape[-1]])
                resized.set_shape([size, size, image.shape[-1]])
            return resized, true_shape
        return keep_aspect
    if kind == "identity_resizer":
        return lambda image: (image, tf.shape(image))
    raise NotImplementedError(f"image_resizer: {kind} is not implemented in tfsynth's input pipeline")


def spatial_image_size(image_resizer_config) -> list[Optional[int]]:
    """[height, width] of every model input for this resizer ([None, None] when it varies)."""
    kind = image_resizer_config.WhichOneof("image_resizer_oneof")
    if kind == "fixed_shape_resizer":
        return [image_resizer_config.fixed_shape_resizer.height, image_resizer_config.fixed_shape_resizer.width]
    if kind == "keep_aspect_ratio_resizer" and image_resizer_config.keep_aspect_ratio_resizer.pad_to_max_dimension:
        size = image_resizer_config.keep_aspect_ratio_resizer.max_dimension
        return [size, size]
    return [None, None]


def _filter_unusable_boxes(tensor_dict: dict) -> dict:
    """Drops boxes with NaN coordinates and classes the label map did not know (-1), with their fields."""
    boxes = tensor_dict[fields.groundtruth_boxes]
    keep = tf.logical_not(tf.reduce_any(tf.math.is_nan(boxes), axis=1))
    keep &= tensor_dict[fields.groundtruth_classes] > -1
    indices = tf.reshape(tf.where(keep), [-1])
    out = dict(tensor_dict)
    for name in (fields.groundtruth_boxes,) + preprocessor.PER_BOX_FIELDS:
        if name in out:
            out[name] = tf.gather(out[name], indices)
    return out


def _pad_or_clip(tensor: tf.Tensor, length: int) -> tf.Tensor:
    """First dimension padded with zeros / cut to `length`."""
    tensor = tensor[:length]
    padding = [[0, length - tf.shape(tensor)[0]]] + [[0, 0]] * (tensor.shape.rank - 1)
    padded = tf.pad(tensor, padding)
    padded.set_shape([length] + tensor.shape.as_list()[1:])
    return padded


def transform_input_data(tensor_dict: dict, model_preprocess_fn: Callable, image_resizer_fn: Callable,
                         num_classes: int, data_augmentation_fn: Optional[Callable] = None,
                         retain_original_image: bool = False, use_bfloat16: bool = False,
                         element_seed: Optional[tf.Tensor] = None) -> dict:
    """One decoded example -> model-ready tensors (see the module docstring for the order of steps).

    element_seed: when given, data_augmentation_fn is called as fn(dict, element_seed) (stateless randomness)."""
    out = _filter_unusable_boxes(tensor_dict)
    classes = out[fields.groundtruth_classes]
    # tf.data map functions do not add control dependencies on their own: tie the checks to the classes.
    checks = [
        tf.debugging.assert_less_equal(
            classes, num_classes,
            message=f"input record: a class id exceeds model num_classes ({num_classes}); check the label map"),
        tf.debugging.assert_greater_equal(
            classes, 1, message="input record: class id 0 is background; record class ids start at 1"),
    ]
    with tf.control_dependencies(checks):
        out[fields.groundtruth_classes] = tf.identity(classes)
    if retain_original_image:
        out[fields.original_image] = tf.cast(image_resizer_fn(tf.cast(out[fields.image], tf.float32))[0],
                                             tf.uint8)
    out[fields.image] = tf.cast(out[fields.image], tf.float32)
    if data_augmentation_fn is not None:
        out = data_augmentation_fn(out) if element_seed is None else data_augmentation_fn(out, element_seed)
    image, true_image_shape = model_preprocess_fn(tf.expand_dims(out[fields.image], 0))
    true_image_shape = tf.reshape(true_image_shape, [-1])
    # Boxes are normalized to the true (unpadded) image; re-express them in the padded model input's frame.
    padded = tf.cast(tf.shape(image)[1:3], tf.float32)
    true = tf.cast(true_image_shape[:2], tf.float32)
    frame = true / padded
    out[fields.groundtruth_boxes] = out[fields.groundtruth_boxes] * tf.concat([frame, frame], 0)
    image = tf.squeeze(image, 0)
    out[fields.image] = tf.cast(image, tf.bfloat16) if use_bfloat16 else image
    out[fields.true_image_shape] = tf.cast(true_image_shape, tf.int32)
    out[fields.groundtruth_classes] = tf.one_hot(
        tf.cast(out[fields.groundtruth_classes], tf.int32) - _LABEL_OFFSET, num_classes)
    out[fields.num_groundtruth_boxes] = tf.shape(out[fields.groundtruth_boxes])[0]
    return out


def pad_to_static_shapes(tensor_dict: dict, max_num_boxes: int, spatial_shape: list) -> dict:
    """Per-box fields padded/clipped to max_num_boxes; image shape set to `spatial_shape` where known."""
    out = dict(tensor_dict)
    for name in (fields.groundtruth_boxes,) + preprocessor.PER_BOX_FIELDS:
        if name in out:
            out[name] = _pad_or_clip(out[name], max_num_boxes)
    out[fields.num_groundtruth_boxes] = tf.minimum(out[fields.num_groundtruth_boxes], max_num_boxes)
    channels = out[fields.image].shape[-1]
    out[fields.image].set_shape(list(spatial_shape) + [channels])
    if fields.original_image in out:
        out[fields.original_image].set_shape(list(spatial_shape) + [channels])
    return out


def _features_and_labels(tensor_dict: dict, include_source_id: bool = False,
                         element_seed: Optional[tf.Tensor] = None) -> tuple[dict, dict]:
    source_id = tensor_dict[fields.source_id]
    # Records without a source_id still get a (random) hash, as in the OD API; keyed on the element's seed
    # (with an index the augmentation does not use, 0) in a reproducible pipeline.
    if element_seed is None:
        random_id = tf.random.uniform([], maxval=2**62, dtype=tf.int64)
    else:
        random_id = tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(element_seed, 0),
                                                maxval=2**62, dtype=tf.int64)
    source_id = tf.where(tf.equal(source_id, ""), tf.strings.as_string(random_id), source_id)
    features = {
        fields.image: tensor_dict[fields.image],
        HASH_KEY: tf.cast(tf.strings.to_hash_bucket_fast(source_id, HASH_BINS), tf.int32),
        fields.true_image_shape: tensor_dict[fields.true_image_shape],
        fields.original_image_spatial_shape: tensor_dict[fields.original_image_spatial_shape],
    }
    if include_source_id:
        features[fields.source_id] = source_id
    if fields.original_image in tensor_dict:
        features[fields.original_image] = tensor_dict[fields.original_image]
    labels = {name: tensor_dict[name] for name in (
        fields.num_groundtruth_boxes, fields.groundtruth_boxes, fields.groundtruth_classes,
        fields.groundtruth_weights, fields.groundtruth_area, fields.groundtruth_is_crowd,
        fields.groundtruth_difficult, fields.groundtruth_group_of) if name in tensor_dict}
    if fields.groundtruth_difficult in labels:
        labels[fields.groundtruth_difficult] = tf.cast(labels[fields.groundtruth_difficult], tf.int32)
    return features, labels


def _model_preprocess_fn(model, model_config) -> Callable:
    if model is not None:
        return model.preprocess
    resize = build_image_resizer(_meta_architecture(model_config).image_resizer)

    def resize_batch(images):
        resized, true_shape = resize(images[0])
        return tf.expand_dims(resized, 0), tf.expand_dims(true_shape, 0)
    return resize_batch


def _input_fn_dataset(input_config, model_config, model, batch_size: int, augmentation: list,
                      retain_original_image: bool, use_bfloat16: bool, drop_remainder: bool,
                      config_name: str, record_filter=None, seed: Optional[int] = None) -> tf.data.Dataset:
    arch = _meta_architecture(model_config)
    num_classes = int(arch.num_classes)
    image_resizer_fn = build_image_resizer(arch.image_resizer)
    model_preprocess_fn = _model_preprocess_fn(model, model_config)
    spatial_shape = spatial_image_size(arch.image_resizer)
    augment = ((lambda d, element_seed=None: preprocessor.preprocess(d, augmentation, stateless_seed=element_seed))
               if augmentation else None)

    def transform(tensor_dict, element_seed=None):
        out = transform_input_data(tensor_dict, model_preprocess_fn, image_resizer_fn, num_classes,
                                   data_augmentation_fn=augment, retain_original_image=retain_original_image,
                                   use_bfloat16=use_bfloat16, element_seed=element_seed)
        out = pad_to_static_shapes(out, input_config.max_number_of_boxes, spatial_shape)
        return _features_and_labels(out, include_source_id=input_config.include_source_id,
                                    element_seed=element_seed)

    return dataset_builder.build(input_config, transform, batch_size=batch_size, drop_remainder=drop_remainder,
                                 config_name=config_name, record_filter=record_filter, seed=seed)


def train_input(train_config, train_input_config, model_config, model=None,
                batch_size: Optional[int] = None, record_filter=None, seed: Optional[int] = None) -> tf.data.Dataset:
    """Training dataset of (features, labels): augmented with train_config.data_augmentation_options,
    batched by `batch_size` (default train_config.batch_size), incomplete last batch dropped; record_filter
    (tfsynth.data.record_checks.RecordFilter) leaves out the records an input check skipped.
    seed: a reproducible, resumable pipeline (seeded shuffles, order kept, stateless augmentation keyed on each
    record's place in the stream; see dataset_builder); None: the OD API's unseeded pipeline.
    Raises UnsupportedConfigError naming a field of train_config or the reader that tfsynth ignores and that
    would change what is trained."""
    pipeline_fields.check_train_config(train_config)
    augmentation = [preprocessor_builder.build(step, f"train_config.data_augmentation_options[{index}]")
                    for index, step in enumerate(train_config.data_augmentation_options)]
    return _input_fn_dataset(
        train_input_config, model_config, model, batch_size or train_config.batch_size, augmentation,
        retain_original_image=train_config.retain_original_images, use_bfloat16=train_config.use_bfloat16,
        drop_remainder=True, config_name="train_input_reader", record_filter=record_filter, seed=seed)


def eval_input(eval_config, eval_input_config, model_config, model=None,
               batch_size: Optional[int] = None, record_filter=None) -> tf.data.Dataset:
    """Evaluation dataset of (features, labels): no augmentation, original_image kept (resized) when
    eval_config.retain_original_images, every example kept (no dropped remainder), less the records
    record_filter leaves out. Raises UnsupportedConfigError naming a field of eval_config or the reader that
    tfsynth ignores and that would change what is scored."""
    pipeline_fields.check_eval_config(eval_config)
    return _input_fn_dataset(
        eval_input_config, model_config, model, batch_size or eval_config.batch_size, [],
        retain_original_image=eval_config.retain_original_images, use_bfloat16=False,
        drop_remainder=False, config_name="eval_input_reader", record_filter=record_filter)
