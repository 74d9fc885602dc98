"""Faster R-CNN ResNet v1 FPN Keras feature extractors (the OD API's
faster_rcnn_resnet_v1_fpn_keras_feature_extractor.py): the ResNet backbone's conv2..conv5 outputs through the FPN
top-down pathway (levels fpn_min_level..5) plus strided 3x3 "bottom_up_block" convs up to fpn_max_level; the box
classifier is two fully connected layers (1024, ReLU) on the flattened crops.

The proposal model is a layer (ResnetFpnFeatures) holding classification_backbone, fpn_features_generator and
coarse_feature_layers, as the OD API's _ResnetFPN: its checkpoints keep the backbone under
_feature_extractor_for_proposal_features/classification_backbone/..., and the FPN's variables, created when the
layer first runs, are named private__resnet_fpn/FeatureMaps/... Checked against a golden the real OD API wrote for
faster_rcnn_resnet50_v1_fpn_640x640 (variables, checkpoint keys, outputs).
"""
from typing import List, Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.models.faster_rcnn_resnet_keras import CHANNEL_MEANS, ResnetV1Backbone
from tfsynth.models.feature_map_generators import KerasFpnTopDownFeatureMaps, create_conv_block, fpn_and_coarse_maps
from tfsynth.models.ssd_feature_extractor import pad_to_multiple
from tfsynth.models.ssd_resnet_v1_fpn_keras import RESNET_BLOCK_NAMES, RESNET_OUTPUT_LAYERS, ResnetV1LayerFactory

# The OD API pads the image to a multiple of 32 (the coarsest backbone stride) before the backbone, whatever the
# config's pad_to_multiple, which its model builder does not pass to the Keras FPN extractors.
PAD_TO_MULTIPLE = 32


class ResnetFpnFeatures(keras.layers.Layer):
    """image -> FPN maps of levels fpn_min_level..fpn_max_level, fine to coarse: the backbone's block outputs
    through the top-down pathway, then the strided coarse blocks on the last map."""

    def __init__(self, classification_backbone: keras.Model, fpn_features_generator: KerasFpnTopDownFeatureMaps,
                 coarse_feature_layers: List[List[keras.layers.Layer]], fpn_min_level: int, base_fpn_max_level: int,
                 **kwargs):
        # 'private__resnet_fpn' is the name Keras generates for the OD API's private class _ResnetFPN; the FPN's
        # variable names start with it.
        super().__init__(name="private__resnet_fpn", **kwargs)
        self.classification_backbone = classification_backbone
        self.fpn_features_generator = fpn_features_generator
        self.coarse_feature_layers = coarse_feature_layers
        self._blocks = [f"block{level - 1}" for level in range(fpn_min_level, base_fpn_max_level + 1)]

    def call(self, images: tf.Tensor) -> List[tf.Tensor]:
        by_block = dict(zip(RESNET_BLOCK_NAMES, self.classification_backbone(pad_to_multiple(images,
                                                                                              PAD_TO_MULTIPLE))))
        return fpn_and_coarse_maps(self.fpn_features_generator, self.coarse_feature_layers,
                                   [(block, by_block[block]) for block in self._blocks])


class FasterRCNNResnetV1FpnKerasFeatureExtractor:
    """preprocess (mean subtraction), a multi-level proposal model and a fully connected box classifier."""

    def __init__(self, is_training: bool, resnet_depth: int, first_stage_features_stride: int = 16,
                 batch_norm_trainable: bool = False, conv_hyperparams=None, weight_decay: float = 0.0,
                 fpn_min_level: int = 2, fpn_max_level: int = 6, additional_layer_depth: int = 256,
                 override_base_feature_extractor_hyperparams: bool = False):
        if resnet_depth not in RESNET_OUTPUT_LAYERS:
            raise ValueError(f"ResNet depth {resnet_depth}: expected one of {sorted(RESNET_OUTPUT_LAYERS)}")
        if conv_hyperparams is None:
            raise ValueError("faster_rcnn feature_extractor.conv_hyperparams: required by the FPN extractors")
        if not 2 <= fpn_min_level <= 5 or fpn_max_level < fpn_min_level:
            raise ValueError(f"faster_rcnn feature_extractor.fpn: min_level {fpn_min_level} / max_level "
                             f"{fpn_max_level}: expected 2 <= min_level <= 5 and max_level >= min_level")
        self._is_training = is_training
        self._first_stage_features_stride = first_stage_features_stride
        self._train_batch_norm = batch_norm_trainable and is_training
        self._freeze_batchnorm = not batch_norm_trainable
        self._conv_hyperparams = conv_hyperparams
        self._weight_decay = weight_decay
        self._resnet_depth = resnet_depth
        self._fpn_min_level = fpn_min_level
        self._fpn_max_level = fpn_max_level
        self._additional_layer_depth = additional_layer_depth
        self._override_base_feature_extractor_hyperparams = override_base_feature_extractor_hyperparams
        self._base_fpn_max_level = min(fpn_max_level, 5)
        self._num_levels = self._base_fpn_max_level + 1 - fpn_min_level
        self._backbone: Optional[ResnetV1Backbone] = None
        self.classification_backbone: Optional[keras.Model] = None
        self._fpn_features_generator = None
        self._coarse_feature_layers: List[List[keras.layers.Layer]] = []

    @property
    def is_keras_model(self) -> bool:
        return True

    def preprocess(self, resized_inputs: tf.Tensor) -> tf.Tensor:
        """VGG-style per-channel mean subtraction (inputs 0..255, RGB); inputs without 3 channels are unchanged."""
        if resized_inputs.shape[3] == 3:
            return resized_inputs - [[list(CHANNEL_MEANS)]]
        return resized_inputs

    def get_proposal_feature_extractor_model(self, name: Optional[str] = None) -> keras.layers.Layer:
        """image -> [FPN maps of levels fpn_min_level..fpn_max_level], fine to coarse (a ResnetFpnFeatures). `name`
        is unused, as in the OD API, where it only opens a name scope that no TF2 variable takes."""
        layer_factory = ResnetV1LayerFactory(
            self._train_batch_norm,
            conv_hyperparams=(self._conv_hyperparams if self._override_base_feature_extractor_hyperparams
                              else None), weight_decay=self._weight_decay)
        self._backbone = ResnetV1Backbone(self._resnet_depth, self._train_batch_norm, layer_factory=layer_factory)
        full = self._backbone.model
        self.classification_backbone = keras.Model(
            inputs=full.inputs, outputs=[full.get_layer(n).output for n in RESNET_OUTPUT_LAYERS[self._resnet_depth]])
        self._fpn_features_generator = KerasFpnTopDownFeatureMaps(
            num_levels=self._num_levels, depth=self._additional_layer_depth, is_training=self._is_training,
            conv_hyperparams=self._conv_hyperparams, freeze_batchnorm=self._freeze_batchnorm, name="FeatureMaps")
        for level in range(self._base_fpn_max_level, self._fpn_max_level):
            self._coarse_feature_layers.append(
                create_conv_block(False, 3, "SAME", 2, f"bottom_up_block{level}", self._conv_hyperparams,
                                  self._is_training, self._freeze_batchnorm, self._additional_layer_depth))
        return ResnetFpnFeatures(self.classification_backbone, self._fpn_features_generator,
                                 self._coarse_feature_layers, self._fpn_min_level, self._base_fpn_max_level)

    def get_box_classifier_feature_extractor_model(self, name: Optional[str] = None) -> keras.Model:
        """crops [K, h, w, C] -> [K, 1, 1, 1024] through two fully connected layers."""
        return keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(units=1024, activation="relu"),
            # The OD API leaves this batch norm unnamed: Keras names it after its class, FreezableBatchNorm.
            self._conv_hyperparams.build_batch_norm(training=(self._is_training and not self._freeze_batchnorm),
                                                    name="freezable_batch_norm"),
            keras.layers.Dense(units=1024, activation="relu"),
            keras.layers.Reshape((1, 1, 1024)),
        ], name=name)
