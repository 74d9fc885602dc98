"""BoxPredictor proto -> Keras box predictor (the OD API's box_predictor_builder.build_keras).

The predictor classes (tfsynth.models) take plain arguments; reading and checking the message is done here."""
from typing import List

from tfsynth.builders import hyperparams_builder
from tfsynth.builders.config_check import reject_unhonoured, require_oneof
from tfsynth.models import box_predictors, weight_shared_box_predictor


def _convolutional(c, where, is_training, num_classes, num_predictions_per_location_list, freeze_batchnorm,
                   add_background_class):
    reject_unhonoured(c, {"conv_hyperparams", "min_depth", "max_depth", "num_layers_before_predictor",
                          "use_dropout", "dropout_keep_probability", "kernel_size", "box_code_size",
                          "class_prediction_bias_init", "use_depthwise", "box_encodings_clip_range"}, where)
    hyperparams = hyperparams_builder.build(c.conv_hyperparams, f"{where}.conv_hyperparams")
    clip = None
    if c.HasField("box_encodings_clip_range"):
        clip = (c.box_encodings_clip_range.min, c.box_encodings_clip_range.max)
    num_class_slots = num_classes + 1 if add_background_class else num_classes
    box_heads, class_heads = [], []
    for index, num_predictions in enumerate(num_predictions_per_location_list):
        box_heads.append(box_predictors.ConvolutionalBoxHead(
            is_training=is_training, box_code_size=c.box_code_size, kernel_size=c.kernel_size,
            num_predictions_per_location=num_predictions, conv_hyperparams=hyperparams,
            freeze_batchnorm=freeze_batchnorm, use_depthwise=c.use_depthwise, box_encodings_clip_range=clip,
            name=f"ConvolutionalBoxHead_{index}"))
        class_heads.append(box_predictors.ConvolutionalClassHead(
            is_training=is_training, num_class_slots=num_class_slots, use_dropout=c.use_dropout,
            dropout_keep_prob=c.dropout_keep_probability, kernel_size=c.kernel_size,
            num_predictions_per_location=num_predictions, conv_hyperparams=hyperparams,
            freeze_batchnorm=freeze_batchnorm, class_prediction_bias_init=c.class_prediction_bias_init,
            use_depthwise=c.use_depthwise, name=f"ConvolutionalClassHead_{index}"))
    return box_predictors.ConvolutionalBoxPredictor(
        is_training=is_training, num_classes=num_classes, box_prediction_heads=box_heads,
        class_prediction_heads=class_heads, conv_hyperparams=hyperparams,
        num_layers_before_predictor=c.num_layers_before_predictor, min_depth=c.min_depth, max_depth=c.max_depth,
        freeze_batchnorm=freeze_batchnorm, inplace_batchnorm_update=False, name="BoxPredictor")


def _weight_shared(c, where, is_training, num_classes, num_predictions_per_location_list, freeze_batchnorm,
                   add_background_class):
    """WeightSharedConvolutionalBoxPredictor proto -> predictor (the OD API's build_weight_shared... keras)."""
    reject_unhonoured(c, {"conv_hyperparams", "num_layers_before_predictor", "depth", "kernel_size",
                          "box_code_size", "class_prediction_bias_init", "use_dropout", "dropout_keep_probability",
                          "share_prediction_tower", "use_depthwise", "box_encodings_clip_range"}, where)
    if len(set(num_predictions_per_location_list)) != 1:
        raise ValueError(f"{where}: needs the same number of anchors per location on every level, got "
                         f"{num_predictions_per_location_list}")
    hyperparams = hyperparams_builder.build(c.conv_hyperparams, f"{where}.conv_hyperparams")
    per_location = num_predictions_per_location_list[0]
    clip = ((c.box_encodings_clip_range.min, c.box_encodings_clip_range.max)
            if c.HasField("box_encodings_clip_range") else None)
    box_head = weight_shared_box_predictor.WeightSharedConvolutionalHead(
        c.box_code_size, per_location, c.kernel_size, hyperparams, c.use_depthwise, "BoxPredictor", clip_range=clip,
        name="WeightSharedConvolutionalBoxHead")
    class_head = weight_shared_box_predictor.WeightSharedConvolutionalHead(
        num_classes + 1 if add_background_class else num_classes, per_location, c.kernel_size, hyperparams,
        c.use_depthwise, "ClassPredictor", bias_init=c.class_prediction_bias_init,
        dropout_keep_prob=c.dropout_keep_probability if c.use_dropout else None,
        name="WeightSharedConvolutionalClassHead")
    return weight_shared_box_predictor.WeightSharedConvolutionalBoxPredictor(
        is_training=is_training, num_classes=num_classes, box_prediction_head=box_head,
        class_prediction_head=class_head, conv_hyperparams=hyperparams, depth=c.depth,
        num_layers_before_predictor=c.num_layers_before_predictor, freeze_batchnorm=freeze_batchnorm,
        kernel_size=c.kernel_size, apply_batch_norm=hyperparams.use_batch_norm(),
        share_prediction_tower=c.share_prediction_tower, use_depthwise=c.use_depthwise,
        name="WeightSharedConvolutionalBoxPredictor")


_BUILDERS = {"convolutional_box_predictor": _convolutional,
             "weight_shared_convolutional_box_predictor": _weight_shared}


def build_keras(config, is_training: bool, num_classes: int, num_predictions_per_location_list: List[int],
                freeze_batchnorm: bool, add_background_class: bool = True, where: str = "box_predictor"):
    kind = require_oneof(config, "box_predictor_oneof", _BUILDERS, where)
    return _BUILDERS[kind](getattr(config, kind), f"{where}.{kind}", is_training, num_classes,
                           num_predictions_per_location_list, freeze_batchnorm, add_background_class)
