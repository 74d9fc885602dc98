"""Base class of the Keras SSD feature extractors (the OD API's SSDKerasFeatureExtractor) and shared helpers."""
from typing import List

import tensorflow as tf
import tf_keras as keras


def pad_to_multiple(images: tf.Tensor, multiple: int) -> tf.Tensor:
    """Zero-pads height and width at the bottom/right up to a multiple of `multiple`."""
    if multiple == 1:
        return images
    shape = tf.shape(images)
    height = tf.cast(tf.math.ceil(shape[1] / multiple), tf.int32) * multiple
    width = tf.cast(tf.math.ceil(shape[2] / multiple), tf.int32) * multiple
    return tf.pad(images, [[0, 0], [0, height - shape[1]], [0, width - shape[2]], [0, 0]])


def check_min_image_dim(min_dim: int, images: tf.Tensor) -> tf.Tensor:
    """Raises when the (static) image height or width is below min_dim."""
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None and (height < min_dim or width < min_dim):
        raise ValueError(f"image size {height}x{width} is too small: this feature extractor needs at least "
                         f"{min_dim}x{min_dim}")
    return images


class SSDKerasFeatureExtractor(keras.Model):
    """preprocess(resized images 0..255) -> normalized images; call(images) -> list of feature maps."""

    def __init__(self, is_training: bool, depth_multiplier: float, min_depth: int, pad_to_multiple: int,
                 conv_hyperparams, freeze_batchnorm: bool, inplace_batchnorm_update: bool,
                 use_explicit_padding: bool = False, use_depthwise: bool = False, num_layers: int = 6,
                 override_base_feature_extractor_hyperparams: bool = False, name=None):
        super().__init__(name=name)
        self._is_training = is_training
        self._depth_multiplier = depth_multiplier
        self._min_depth = min_depth
        self._pad_to_multiple = pad_to_multiple
        self._conv_hyperparams = conv_hyperparams
        self._freeze_batchnorm = freeze_batchnorm
        self._inplace_batchnorm_update = inplace_batchnorm_update
        self._use_explicit_padding = use_explicit_padding
        self._use_depthwise = use_depthwise
        self._num_layers = num_layers
        self._override_base_feature_extractor_hyperparams = override_base_feature_extractor_hyperparams

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        raise NotImplementedError

    def call(self, inputs, **kwargs):
        return self._extract_features(inputs)

    def restore_from_classification_checkpoint_fn(self, feature_extractor_scope: str):
        raise NotImplementedError("TF2 checkpoints restore through restore_from_objects")
