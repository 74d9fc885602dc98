"""Base class of the Keras SSD feature extractors (the OD API's SSDKerasFeatureExtractor) and shared helpers."""
from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.feature_map_generators import KerasMultiResolutionFeatureMaps


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


def scale_to_minus_one_to_one(resized_inputs: tf.Tensor) -> tf.Tensor:
    """[0, 255] -> [-1, 1]: the MobileNet extractors' preprocess."""
    return (2.0 / 255.0) * resized_inputs - 1.0


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

    def _depth_fn(self, depth: int) -> int:
        return max(int(depth * self._depth_multiplier), self._min_depth)

    def _backbone_batchnorm_training(self) -> bool:
        """Backbone batch norm updates its statistics only when training with batch norm not frozen."""
        return self._is_training and not self._freeze_batchnorm

    def _backbone_conv_hyperparams(self):
        """The config's conv_hyperparams reach the backbone only with override_base_feature_extractor_hyperparams;
        None leaves the backbone its own defaults."""
        return self._conv_hyperparams if self._override_base_feature_extractor_hyperparams else None

    def _mobilenet_backbone_kwargs(self) -> Dict:
        """Arguments that mobilenet_v1.mobilenet_v1 / mobilenet_v2.mobilenet_v2 take from the extractor's settings."""
        return {"batchnorm_training": self._backbone_batchnorm_training(),
                "conv_hyperparams": self._backbone_conv_hyperparams(),
                "use_explicit_padding": self._use_explicit_padding, "alpha": self._depth_multiplier,
                "min_depth": self._min_depth}

    @staticmethod
    def _backbone_with_outputs(full: keras.Model, output_layers: Sequence[str]) -> keras.Model:
        """The classification backbone: `full`'s graph cut at the named layers' outputs, in that order."""
        return keras.Model(inputs=full.inputs, outputs=[full.get_layer(name=name).output for name in output_layers])

    def _multi_resolution_layout(self, backbone_maps: Sequence[str]) -> Dict:
        """The OD API's SSD MobileNet feature map layout: two backbone maps, then extra maps of depth 512, 256, 256,
        128; num_layers keeps the first ones."""
        return {"from_layer": (list(backbone_maps) + ["", "", "", ""])[:self._num_layers],
                "layer_depth": [-1, -1, 512, 256, 256, 128][:self._num_layers],
                "use_explicit_padding": self._use_explicit_padding,
                "use_depthwise": self._use_depthwise}

    def _multi_resolution_feature_maps(self, feature_map_layout: Dict) -> KerasMultiResolutionFeatureMaps:
        """The extra feature maps (FeatureMaps/...) on top of the backbone maps, after the OD API's SSD MobileNets."""
        return KerasMultiResolutionFeatureMaps(
            feature_map_layout=feature_map_layout, depth_multiplier=self._depth_multiplier,
            min_depth=self._min_depth, insert_1x1_conv=True, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm, name="FeatureMaps")

    def _backbone_features(self, preprocessed_inputs: tf.Tensor, min_image_dim: int) -> List[tf.Tensor]:
        """classification_backbone's outputs for inputs of at least min_image_dim, padded to pad_to_multiple."""
        preprocessed_inputs = check_min_image_dim(min_image_dim, preprocessed_inputs)
        return self.classification_backbone(pad_to_multiple(preprocessed_inputs, self._pad_to_multiple))

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _extract_features(self, preprocessed_inputs: tf.Tensor) -> List[tf.Tensor]:
        raise NotImplementedError

    def call(self, inputs, **kwargs):
        return self._extract_features(inputs)

    def restore_from_classification_checkpoint_fn(self, feature_extractor_scope: str):
        raise NotImplementedError("TF2 checkpoints restore through restore_from_objects")
