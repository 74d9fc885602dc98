"""The Faster R-CNN feature extractor around a backbone split in two halves (the OD API's ResNet and
Inception-ResNet-v2 Keras extractors): the first half gives the features the RPN sees and proposals are cropped
from, the second half runs on each crop. Both Keras models share the backbone's layers, so one checkpoint of the
whole backbone (a 'classification' fine-tune checkpoint) fills both."""
from typing import Any, Optional

import tf_keras as keras


class SplitBackboneFeatureExtractor:
    """The two Keras models of Faster R-CNN over a backbone that has `model` (image -> last output),
    `image_input`, `proposal_features` (the first half's output tensor) and `apply_second_half(tensor)`.
    Subclasses make the backbone (`_make_backbone`) and preprocess images."""

    def __init__(self, is_training: bool, batch_norm_trainable: bool = False, weight_decay: float = 0.0):
        self._is_training = is_training
        self._train_batch_norm = batch_norm_trainable and is_training
        self._weight_decay = weight_decay
        self._backbone: Optional[Any] = None

    @property
    def is_keras_model(self) -> bool:
        return True

    def _make_backbone(self) -> Any:
        raise NotImplementedError

    def _ensure_backbone(self) -> Any:
        if self._backbone is None:
            self._backbone = self._make_backbone()
        return self._backbone

    @property
    def classification_backbone(self) -> keras.Model:
        """The whole backbone (image -> its last output), the object a 'classification' fine-tune checkpoint
        restores into."""
        return self._ensure_backbone().model

    def get_proposal_feature_extractor_model(self, name: Optional[str] = None) -> keras.Model:
        """image [B, H, W, 3] -> the first half's features [B, H/16, W/16, C]."""
        backbone = self._ensure_backbone()
        return keras.Model(inputs=backbone.image_input, outputs=backbone.proposal_features, name=name)

    def get_box_classifier_feature_extractor_model(self, name: Optional[str] = None) -> keras.Model:
        """cropped first-half features [K, h, w, C] -> the second half's output (the same layers)."""
        backbone = self._ensure_backbone()
        crops = keras.layers.Input(shape=(None, None, backbone.proposal_features.shape[-1]))
        return keras.Model(inputs=crops, outputs=backbone.apply_second_half(crops), name=name)
