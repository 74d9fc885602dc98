"""Batch normalization whose training mode can be fixed at construction (the OD API's FreezableBatchNormalization).

training=False freezes the layer (inference statistics, no moving-average updates) whatever the caller passes;
training=None follows the call's `training` argument. The class keeps the Keras BatchNormalization variable names
(gamma, beta, moving_mean, moving_variance) that the OD API's checkpoints hold.
"""
from typing import Optional

import tf_keras as keras


class FreezableBatchNormalization(keras.layers.BatchNormalization):
    """keras BatchNormalization with a construction-time `training` override."""

    def __init__(self, training: Optional[bool] = None, **kwargs):
        super().__init__(**kwargs)
        self._training = training

    def call(self, inputs, training=None):
        if self._training is False:
            training = False
        return super().call(inputs, training=training)
