"""Hyperparams proto -> KerasLayerHyperparams: the keyword arguments and norm/activation layers of a conv layer.

Follows the OD API's Keras path: L2 weight w becomes keras l2(w / 2) (slim's convention, so the regularization
loss equals the OD API's), batch_norm gives FreezableBatchNormalization(momentum=decay, epsilon, center, scale), a
conv followed by batch norm (with center) has no bias. batch_norm.train=false freezes that batch norm (the OD API's
Keras path ignores the field; here it is honoured rather than dropped).
"""
from typing import Any, Dict, Optional

import tensorflow as tf
import tf_keras as keras

from tfsynth.builders.config_check import reject_unhonoured, UnsupportedConfigError
from tfsynth.core.freezable_batch_norm import FreezableBatchNormalization
from tfsynth.models.layer_factory import fresh_initializer

_ACTIVATIONS = {"NONE": None, "RELU": tf.nn.relu, "RELU_6": tf.nn.relu6, "SWISH": tf.nn.swish}


def _regularizer(config, where: str):
    kind = config.WhichOneof("regularizer_oneof")
    if kind == "l1_regularizer":
        return keras.regularizers.l1(float(config.l1_regularizer.weight))
    if kind == "l2_regularizer":
        return keras.regularizers.l2(float(config.l2_regularizer.weight * 0.5))
    if kind is None:
        return None
    raise UnsupportedConfigError(f"{where}.regularizer.{kind}: not supported")


def _initializer(config, where: str):
    kind = config.WhichOneof("initializer_oneof")
    if kind == "truncated_normal_initializer":
        c = config.truncated_normal_initializer
        return keras.initializers.TruncatedNormal(mean=c.mean, stddev=c.stddev)
    if kind == "random_normal_initializer":
        c = config.random_normal_initializer
        return keras.initializers.RandomNormal(mean=c.mean, stddev=c.stddev)
    if kind == "variance_scaling_initializer":
        c = config.variance_scaling_initializer
        mode = c.DESCRIPTOR.fields_by_name["mode"].enum_type.values_by_number[c.mode].name.lower()
        return keras.initializers.VarianceScaling(scale=c.factor, mode=mode,
                                                  distribution="uniform" if c.uniform else "truncated_normal")
    if kind == "keras_initializer_by_name":
        return keras.initializers.get(config.keras_initializer_by_name)
    if kind is None:
        return None
    raise UnsupportedConfigError(f"{where}.initializer.{kind}: not supported")


class KerasLayerHyperparams:
    """What a conv_hyperparams block means for Keras layers (the OD API's class of the same name)."""

    def __init__(self, config, where: str = "conv_hyperparams"):
        reject_unhonoured(config, {"regularizer", "initializer", "activation", "batch_norm", "sync_batch_norm",
                                   "force_use_bias"}, where)
        norm = config.WhichOneof("normalizer_oneof")
        self._batch_norm_params: Optional[Dict[str, Any]] = None
        self._batch_norm_trainable = True
        if norm in ("batch_norm", "sync_batch_norm"):
            bn = getattr(config, norm)
            self._batch_norm_params = {"momentum": bn.decay, "center": bn.center, "scale": bn.scale,
                                       "epsilon": bn.epsilon}
            self._batch_norm_trainable = bn.train
        elif norm is not None:
            raise UnsupportedConfigError(f"{where}.{norm}: not supported")
        self._force_use_bias = config.force_use_bias
        activation_name = config.DESCRIPTOR.fields_by_name["activation"].enum_type.values_by_number[
            config.activation].name
        self._activation_fn = _ACTIVATIONS[activation_name]
        self._op_params = {"kernel_regularizer": _regularizer(config.regularizer, where),
                           "kernel_initializer": _initializer(config.initializer, where)}
        if self._op_params["kernel_initializer"] is None:
            self._op_params["kernel_initializer"] = "glorot_uniform"

    def use_batch_norm(self) -> bool:
        return self._batch_norm_params is not None

    def use_bias(self) -> bool:
        return self._force_use_bias or not (self.use_batch_norm() and self._batch_norm_params["center"])

    def regularizer_weight(self) -> float:
        """The kernel regularizer's Keras factor (l1, or l2 = half the config's weight), 0 without one: the weight
        decay the OD API hands a backbone with override_base_feature_extractor_hyperparams."""
        regularizer = self._op_params["kernel_regularizer"]
        if regularizer is None:
            return 0.0
        config = regularizer.get_config()
        return float(config.get("l1", config.get("l2", 0.0)))

    def batch_norm_params(self, **overrides) -> Dict[str, Any]:
        params = dict(self._batch_norm_params or {})
        params.update(overrides)
        return params

    def params(self, include_activation: bool = False, **overrides) -> Dict[str, Any]:
        """Keyword arguments for a keras Conv2D/DepthwiseConv2D/Dense."""
        params = dict(self._op_params)
        params["kernel_initializer"] = fresh_initializer(params["kernel_initializer"])
        params["activation"] = self._activation_fn if include_activation else None
        params["use_bias"] = self.use_bias()
        params.update(overrides)
        return params

    def build_batch_norm(self, training: Optional[bool] = None, **overrides):
        """A FreezableBatchNormalization (identity Lambda when the config has no batch_norm)."""
        if not self.use_batch_norm():
            return keras.layers.Lambda(tf.identity, name=overrides.get("name"))
        if not self._batch_norm_trainable:
            training = False
        return FreezableBatchNormalization(training=training, **self.batch_norm_params(**overrides))

    def build_activation_layer(self, name: str = "ActivationLayer"):
        return keras.layers.Lambda(self._activation_fn or tf.identity, name=name)


def build(config, where: str = "conv_hyperparams") -> KerasLayerHyperparams:
    """Hyperparams proto -> KerasLayerHyperparams (TF2: Keras layers only)."""
    return KerasLayerHyperparams(config, where)
