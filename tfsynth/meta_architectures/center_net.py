"""CenterNet meta-architecture, object detection task (the OD API's CenterNetMetaArch, boxes only).

preprocess: resize each image, then the feature extractor's normalization.
predict: the extractor's maps (one per stage; two for an hourglass) -> per map, three heads, each a conv, ReLU and
1x1 conv: 'object_center' (class heatmap logits, bias initialised to heatmap_bias_init), 'box/scale' (height and
width in output cells) and 'box/offset' (the centre's sub-cell offset).
postprocess (last stage only): sigmoid heatmap masked to the true image, local peaks by max pooling, the top
max_box_predictions over all classes, each decoded to a box from the scale and offset at its cell.
loss: penalty-reduced focal loss on the heatmap over the valid cells, L1 on scale and offset at each box centre,
each summed over stages and divided by the number of stages and of boxes.
"""
from typing import Dict, List, Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from tfsynth.core import center_net_targets as targets
from tfsynth.core import standard_fields as fields
from tfsynth.core.model import DetectionModel
from tfsynth.meta_architectures.ssd import resize_images_and_return_shapes

OBJECT_CENTER = "object_center"
BOX_SCALE = "box/scale"
BOX_OFFSET = "box/offset"
# Two values of a heatmap closer than this are one peak (the max-pool test).
PEAK_EPSILON = 1e-6


class HeadParams:
    """A head's intermediate convs: kernel sizes and widths, one pair per conv (the OD API's defaults: [3], [256])."""

    def __init__(self, kernel_sizes: Sequence[int] = (3,), num_filters: Sequence[int] = (256,)):
        if len(kernel_sizes) != len(num_filters):
            raise ValueError(f"head params: {len(kernel_sizes)} kernel sizes but {len(num_filters)} widths")
        self.kernel_sizes = list(kernel_sizes)
        self.num_filters = list(num_filters)


def make_prediction_head(num_outputs: int, params: HeadParams, use_depthwise: bool = False,
                         bias_fill: Optional[float] = None, name: Optional[str] = None) -> keras.Sequential:
    """Intermediate convs with ReLU, then a 1x1 conv to num_outputs channels (its bias filled with bias_fill)."""
    conv_class = keras.layers.SeparableConv2D if use_depthwise else keras.layers.Conv2D
    # The output conv is made first, as in the OD API, so that Keras numbers the layers' names as there.
    output_conv = keras.layers.Conv2D(num_outputs, kernel_size=1)
    if bias_fill is not None:
        output_conv.bias_initializer = keras.initializers.Constant(bias_fill)
    layers = []
    for kernel_size, width in zip(params.kernel_sizes, params.num_filters):
        layers += [conv_class(width, kernel_size=kernel_size, padding="same"), keras.layers.ReLU()]
    return keras.Sequential(layers + [output_conv], name=name)


class CenterNetMetaArch(DetectionModel):
    """CenterNet for boxes. Attribute names _feature_extractor and _prediction_head_dict are checkpoint keys."""

    def __init__(self, is_training: bool, num_classes: int, feature_extractor, image_resizer_fn,
                 center_loss, localization_loss, center_head: HeadParams, scale_head: HeadParams,
                 offset_head: HeadParams, object_center_loss_weight: float = 1.0, heatmap_bias_init: float = -2.19,
                 min_box_overlap_iou: float = 0.7, max_box_predictions: int = 100,
                 peak_max_pool_kernel_size: int = 3, task_loss_weight: float = 1.0,
                 scale_loss_weight: float = 0.1, offset_loss_weight: float = 1.0, use_depthwise: bool = False):
        super().__init__(num_classes=num_classes)
        self._is_training = is_training
        self._feature_extractor = feature_extractor
        self._stride = feature_extractor.out_stride
        self._image_resizer_fn = image_resizer_fn
        self._center_loss = center_loss
        self._localization_loss = localization_loss
        self._object_center_loss_weight = object_center_loss_weight
        self._min_box_overlap_iou = min_box_overlap_iou
        self._max_box_predictions = max_box_predictions
        self._peak_max_pool_kernel_size = peak_max_pool_kernel_size
        self._task_loss_weight = task_loss_weight
        self._scale_loss_weight = scale_loss_weight
        self._offset_loss_weight = offset_loss_weight
        stages = range(feature_extractor.num_feature_outputs)
        self._prediction_head_dict = {
            OBJECT_CENTER: [make_prediction_head(num_classes, center_head, use_depthwise, heatmap_bias_init,
                                                 name=f"center_{stage}") for stage in stages],
            BOX_SCALE: [make_prediction_head(2, scale_head, use_depthwise, name=f"box_scale_{stage}")
                        for stage in stages],
            BOX_OFFSET: [make_prediction_head(2, offset_head, use_depthwise, name=f"box_offset_{stage}")
                         for stage in stages],
        }

    @property
    def feature_extractor(self):
        """The CenterNet feature extractor (a keras Model returning one map per stage)."""
        return self._feature_extractor

    def preprocess(self, inputs: tf.Tensor):
        """Images (0..255) -> (resized, then normalized images; true image shapes)."""
        resized, true_image_shapes = resize_images_and_return_shapes(inputs, self._image_resizer_fn)
        return self._feature_extractor.preprocess(resized), true_image_shapes

    def predict(self, preprocessed_inputs: tf.Tensor, true_image_shapes=None, **side_inputs) -> Dict:
        """{'object_center', 'box/scale', 'box/offset': one tensor per stage, 'extracted_features': the stages'
        maps, 'preprocessed_inputs'}."""
        features = self._feature_extractor(preprocessed_inputs, training=self._is_training)
        predictions = {name: [head(feature) for feature, head in zip(features, heads)]
                       for name, heads in self._prediction_head_dict.items()}
        predictions["extracted_features"] = features
        predictions["preprocessed_inputs"] = preprocessed_inputs
        return predictions

    def loss(self, prediction_dict: Dict, true_image_shapes=None) -> Dict[str, tf.Tensor]:
        """Loss/object_center, Loss/box/scale and Loss/box/offset against the provided groundtruth (boxes
        normalized to the network input; weights 0 mark padding)."""
        input_shape = tf.shape(prediction_dict["preprocessed_inputs"])
        height, width = input_shape[1], input_shape[2]
        out_height, out_width = targets.output_size(height, width, self._stride)
        boxes = self.groundtruth_lists(fields.BoxListFields.boxes)
        classes = self.groundtruth_lists(fields.BoxListFields.classes)
        weights = self.groundtruth_weights()
        num_boxes = targets.count_boxes(weights)
        if true_image_shapes is None:
            true_image_shapes = tf.tile(input_shape[None, 1:], [input_shape[0], 1])
        # A padded image's cells beyond its true size (rounded up to whole cells) are not scored.
        valid_cells = self._cells_within(tf.math.ceil(tf.cast(true_image_shapes, tf.float32) / self._stride),
                                         out_height, out_width)
        valid_cells = tf.reshape(valid_cells, [input_shape[0], -1, 1])

        heatmap = targets.center_heatmap_targets(height, width, self._stride, boxes, classes, weights,
                                                 self._min_box_overlap_iou)
        flat_heatmap = tf.reshape(heatmap, [input_shape[0], -1, self.num_classes])
        # Summed over stages before reducing, then divided, in the OD API's order (its float rounding).
        center_losses = [self._center_loss(tf.reshape(logits, tf.shape(flat_heatmap)), flat_heatmap,
                                           weights=valid_cells) for logits in prediction_dict[OBJECT_CENTER]]
        center_loss = tf.reduce_sum(tf.add_n(center_losses)) / (len(center_losses) * num_boxes)

        indices, sizes, offsets, box_weights = targets.box_size_and_offset_targets(height, width, self._stride,
                                                                                    boxes, weights)
        box_weights = box_weights[:, None]
        scale_losses = [self._localization_loss(targets.gather_at_cells(scale, indices), sizes, weights=box_weights)
                        for scale in prediction_dict[BOX_SCALE]]
        offset_losses = [self._localization_loss(targets.gather_at_cells(offset, indices), offsets,
                                                 weights=box_weights) for offset in prediction_dict[BOX_OFFSET]]
        per_box = len(scale_losses) * num_boxes
        scale_loss = tf.reduce_sum(tf.add_n(scale_losses)) / per_box
        offset_loss = tf.reduce_sum(tf.add_n(offset_losses)) / per_box
        return {
            f"Loss/{OBJECT_CENTER}": self._object_center_loss_weight * center_loss,
            f"Loss/{BOX_SCALE}": (self._scale_loss_weight * scale_loss) * self._task_loss_weight,
            f"Loss/{BOX_OFFSET}": (self._offset_loss_weight * offset_loss) * self._task_loss_weight,
        }

    @staticmethod
    def _cells_within(true_shapes: tf.Tensor, out_height, out_width) -> tf.Tensor:
        """[B, out_h, out_w] 1.0 where a cell lies within its image's true (unpadded) height and width."""
        rows = tf.cast(tf.range(out_height)[None, :], tf.float32) < tf.cast(true_shapes[:, 0:1], tf.float32)
        columns = tf.cast(tf.range(out_width)[None, :], tf.float32) < tf.cast(true_shapes[:, 1:2], tf.float32)
        return tf.cast(rows[:, :, None] & columns[:, None, :], tf.float32)

    def _peaks(self, heatmap: tf.Tensor) -> tf.Tensor:
        """heatmap with every value that is not the maximum of its pooling window set to 0."""
        size = self._peak_max_pool_kernel_size
        if not size or size == 1:
            return heatmap
        pooled = tf.nn.max_pool2d(heatmap, ksize=size, strides=1, padding="SAME")
        return heatmap * tf.cast(tf.abs(heatmap - pooled) < PEAK_EPSILON, tf.float32)

    def postprocess(self, prediction_dict: Dict, true_image_shapes=None) -> Dict:
        """The last stage's max_box_predictions strongest peaks: detection_boxes (normalized to the true image),
        detection_boxes_strided (output cells), detection_scores, detection_multiclass_scores, detection_classes
        (0-based, int32), num_detections (scores above 0, int32)."""
        heatmap = tf.sigmoid(prediction_dict[OBJECT_CENTER][-1])
        shape = tf.shape(heatmap)
        batch_size, out_height, out_width, num_classes = shape[0], shape[1], shape[2], shape[3]
        if true_image_shapes is None:
            true_image_shapes = tf.tile([[out_height * self._stride, out_width * self._stride, 3]],
                                        [batch_size, 1])
        else:
            # As the OD API: output cells are compared with the true image size in input pixels, not in cells, so
            # at stride 4 this keeps the padded cells too (their boxes clip to zero size at the border). Kept for
            # the same detections, and so the same scores, as an OD API model gives.
            heatmap *= self._cells_within(true_image_shapes, out_height, out_width)[..., None]
        flat_peaks = tf.reshape(self._peaks(heatmap), [batch_size, -1])
        k = tf.minimum(self._max_box_predictions, tf.shape(flat_peaks)[1])
        scores, flat_indices = tf.math.top_k(flat_peaks, k=k)
        cells, classes = flat_indices // num_classes, flat_indices % num_classes
        y_cells, x_cells = cells // out_width, cells % out_width
        yx = tf.stack([y_cells, x_cells], axis=-1)
        multiclass_scores = tf.gather_nd(heatmap, yx, batch_dims=1)
        sizes = tf.maximum(tf.gather_nd(prediction_dict[BOX_SCALE][-1], yx, batch_dims=1), 0.0)
        offsets = tf.gather_nd(prediction_dict[BOX_OFFSET][-1], yx, batch_dims=1)
        centres = tf.cast(yx, tf.float32) + offsets
        grid_size = tf.cast(tf.stack([out_height, out_width]), tf.float32)
        corners_min = tf.clip_by_value(centres - sizes / 2.0, 0.0, grid_size)
        corners_max = tf.clip_by_value(centres + sizes / 2.0, 0.0, grid_size)
        boxes_strided = tf.concat([corners_min, corners_max], axis=-1)
        true_size = tf.cast(tf.tile(true_image_shapes[:, None, :2], [1, 1, 2]), tf.float32)
        boxes = tf.clip_by_value(boxes_strided * self._stride / true_size, 0.0, 1.0)
        out = fields.DetectionResultFields
        return {
            out.detection_boxes: boxes,
            "detection_boxes_strided": boxes_strided,
            out.detection_scores: scores,
            out.detection_multiclass_scores: multiclass_scores,
            out.detection_classes: classes,
            out.num_detections: tf.reduce_sum(tf.cast(scores > 0, tf.int32), axis=1),
        }

    def regularization_losses(self) -> List[tf.Tensor]:
        """None, as in the OD API's CenterNet: its trainer adds no weight decay even where a backbone layer has a
        regularizer (the MobileNetV2 layers do)."""
        return []

    def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> Dict:
        """What a fine-tune checkpoint restores, as the OD API:

        detection: {'model': Checkpoint(_feature_extractor=...)} -- the whole feature extractor (backbone and
            upsampling layers) of a CenterNet checkpoint; the heads train from scratch, so classes may differ.
        classification: {'feature_extractor': the backbone} -- an image-classification checkpoint of it.
        full: {'model': self} -- every variable, heads included.
        """
        if fine_tune_checkpoint_type == "detection":
            return {"model": tf.train.Checkpoint(_feature_extractor=self._feature_extractor)}
        if fine_tune_checkpoint_type == "classification":
            return {"feature_extractor": self._feature_extractor.classification_backbone}
        if fine_tune_checkpoint_type == "full":
            return {"model": self}
        if fine_tune_checkpoint_type == "fine_tune":
            raise ValueError("fine_tune_checkpoint_type 'fine_tune' is no longer supported for CenterNet (nor by the "
                             "OD API): use 'detection', which restores the same feature extractor")
        raise ValueError(f"fine_tune_checkpoint_type {fine_tune_checkpoint_type!r} is not supported (expected "
                         f"detection, classification or full)")
