"""One model step on a batch from the input pipeline: unpad the ground truth, hand it to the model, compute the
losses (the OD API's model_lib.unstack_batch and _compute_losses_and_predictions_dicts)."""
from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from tfsynth.core.standard_fields import InputDataFields as fields

_UNPADDED_KEYS = (fields.groundtruth_boxes, fields.groundtruth_classes, fields.groundtruth_weights,
                  fields.groundtruth_confidences, fields.groundtruth_difficult, fields.groundtruth_is_crowd,
                  fields.groundtruth_area, fields.groundtruth_group_of)


def unstack_batch(labels: dict, unpad_groundtruth_tensors: bool = True) -> dict:
    """Batched label tensors -> per-image lists; padded ground truth cut to num_groundtruth_boxes per image."""
    result: dict = {}
    num_boxes = labels.get(fields.num_groundtruth_boxes)
    for key, value in labels.items():
        if key == fields.num_groundtruth_boxes or not isinstance(value, tf.Tensor) or value.shape.rank in (None, 0):
            result[key] = value
            continue
        items = tf.unstack(value) if value.shape[0] is not None else None
        if items is None:
            result[key] = value
            continue
        if unpad_groundtruth_tensors and num_boxes is not None and key in _UNPADDED_KEYS:
            counts = tf.unstack(tf.cast(num_boxes, tf.int32))
            items = [item[:count] for item, count in zip(items, counts)]
        result[key] = items
    if num_boxes is not None:
        result[fields.num_groundtruth_boxes] = num_boxes
    return result


def provide_groundtruth(model: Any, labels: dict, unpad_groundtruth_tensors: bool = True) -> None:
    """Calls model.provide_groundtruth with the per-image boxes, classes (one-hot) and weights of a batch."""
    unstacked = unstack_batch(labels, unpad_groundtruth_tensors)
    boxes = unstacked[fields.groundtruth_boxes]
    classes = unstacked[fields.groundtruth_classes]
    weights = unstacked.get(fields.groundtruth_weights)
    if weights is None:
        weights = [tf.ones(tf.shape(b)[:1], tf.float32) for b in boxes]
    kwargs = {"groundtruth_weights_list": weights}
    confidences = unstacked.get(fields.groundtruth_confidences)
    if confidences is not None:
        kwargs["groundtruth_confidences_list"] = confidences
    try:
        model.provide_groundtruth(groundtruth_boxes_list=boxes, groundtruth_classes_list=classes, **kwargs)
    except TypeError:  # a model without confidences support
        kwargs.pop("groundtruth_confidences_list", None)
        model.provide_groundtruth(groundtruth_boxes_list=boxes, groundtruth_classes_list=classes, **kwargs)


def float32_predictions(prediction_dict: dict) -> dict:
    """Floating predictions (tensors or lists of them) as float32. Under a mixed dtype policy the layers compute
    in float16/bfloat16; losses and box decoding are done in float32 (exp and sums overflow in float16)."""
    def cast(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(cast(v) for v in value)
        if isinstance(value, tf.Tensor) and value.dtype in (tf.float16, tf.bfloat16):
            return tf.cast(value, tf.float32)
        return value
    return {key: cast(value) for key, value in prediction_dict.items()}


def compute_losses(model: Any, features: dict, labels: dict, add_regularization_loss: bool = True,
                   unpad_groundtruth_tensors: bool = True) -> tuple[dict, dict]:
    """Forward pass with losses: returns (losses_dict with Loss/* entries incl. Loss/regularization_loss and
    Loss/total_loss, prediction_dict). features['image'] is the preprocessed batch."""
    provide_groundtruth(model, labels, unpad_groundtruth_tensors)
    prediction_dict = float32_predictions(model.predict(features[fields.image], features[fields.true_image_shape]))
    losses_dict = dict(model.loss(prediction_dict, features[fields.true_image_shape]))
    losses_dict = {name: tf.cast(value, tf.float32) for name, value in losses_dict.items()}
    losses = list(losses_dict.values())
    if add_regularization_loss:
        regularization = [tf.cast(r, tf.float32) for r in (model.regularization_losses() or [])]
        if regularization:
            regularization_loss = tf.add_n(regularization)
            losses.append(regularization_loss)
            losses_dict["Loss/regularization_loss"] = regularization_loss
    losses_dict["Loss/total_loss"] = tf.add_n(losses)
    return losses_dict, prediction_dict


def build_model_variables(model: Any, features: dict) -> None:
    """Runs the model's predict once so that all its variables exist (before restoring or selecting them).

    predict alone: postprocess (box decoding, non-max suppression) creates no variable, and tracing it cost a
    quarter of the time to the first training step. The variables are created in the same order and by the same
    graph operations as with postprocess, so a seeded run starts from the same weights."""
    model.predict(features[fields.image], features[fields.true_image_shape])


def one_hot_to_label_ids(classes: tf.Tensor, label_id_offset: int = 1) -> tf.Tensor:
    """Ground-truth classes as label-map ids: one-hot [.., num_classes] -> argmax + offset; ids pass through."""
    if classes.shape.rank is not None and classes.shape.rank >= 2 and classes.dtype.is_floating:
        return tf.argmax(classes, axis=-1, output_type=tf.int32) + label_id_offset
    return tf.cast(classes, tf.int32)
