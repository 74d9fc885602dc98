"""The keys of every dictionary that crosses a module boundary, named once (the OD API's names).

Input pipelines fill InputDataFields, models return DetectionResultFields, and TFRecords use TfExampleFields;
because the strings are the OD API's, a tensor dict or record made for the OD API reads the same here.
"""


class InputDataFields:
    """Keys of the decoded-input tensor dict (one image, or a batch of them)."""

    image = "image"
    original_image = "original_image"
    original_image_spatial_shape = "original_image_spatial_shape"
    key = "key"
    source_id = "source_id"
    filename = "filename"
    true_image_shape = "true_image_shape"
    image_additional_channels = "image_additional_channels"
    groundtruth_image_classes = "groundtruth_image_classes"
    groundtruth_boxes = "groundtruth_boxes"
    groundtruth_classes = "groundtruth_classes"
    groundtruth_confidences = "groundtruth_confidences"
    groundtruth_label_types = "groundtruth_label_types"
    groundtruth_is_crowd = "groundtruth_is_crowd"
    groundtruth_area = "groundtruth_area"
    groundtruth_difficult = "groundtruth_difficult"
    groundtruth_group_of = "groundtruth_group_of"
    groundtruth_instance_masks = "groundtruth_instance_masks"
    groundtruth_weights = "groundtruth_weights"
    groundtruth_truncated = "groundtruth_truncated"
    num_groundtruth_boxes = "num_groundtruth_boxes"
    verified_labels = "verified_labels"
    not_exhaustive_classes = "not_exhaustive_classes"


class DetectionResultFields:
    """Keys of a model's postprocess() output."""

    source_id = "source_id"
    key = "key"
    detection_boxes = "detection_boxes"
    detection_scores = "detection_scores"
    detection_multiclass_scores = "detection_multiclass_scores"
    detection_features = "detection_features"
    detection_classes = "detection_classes"
    detection_masks = "detection_masks"
    detection_anchor_indices = "detection_anchor_indices"
    num_detections = "num_detections"
    raw_detection_boxes = "raw_detection_boxes"
    raw_detection_scores = "raw_detection_scores"


class BoxListFields:
    """Extra fields a box list can carry besides its boxes."""

    boxes = "boxes"
    classes = "classes"
    scores = "scores"
    weights = "weights"
    confidences = "confidences"
    objectness = "objectness"
    masks = "masks"
    keypoints = "keypoints"
    is_crowd = "is_crowd"


class TfExampleFields:
    """Feature keys of a tf.train.Example in the OD API's layout."""

    image_encoded = "image/encoded"
    image_format = "image/format"
    filename = "image/filename"
    channels = "image/channels"
    colorspace = "image/colorspace"
    height = "image/height"
    width = "image/width"
    source_id = "image/source_id"
    key = "image/key/sha256"
    image_class_text = "image/class/text"
    image_class_label = "image/class/label"
    object_class_text = "image/object/class/text"
    object_class_label = "image/object/class/label"
    object_bbox_ymin = "image/object/bbox/ymin"
    object_bbox_xmin = "image/object/bbox/xmin"
    object_bbox_ymax = "image/object/bbox/ymax"
    object_bbox_xmax = "image/object/bbox/xmax"
    object_view = "image/object/view"
    object_truncated = "image/object/truncated"
    object_occluded = "image/object/occluded"
    object_difficult = "image/object/difficult"
    object_group_of = "image/object/group_of"
    object_depiction = "image/object/depiction"
    object_is_crowd = "image/object/is_crowd"
    object_segment_area = "image/object/segment/area"
    object_area = "image/object/area"
    object_weight = "image/object/weight"
    instance_masks = "image/object/mask"


# Keys of the loss dict that DetectionModel.loss() returns; summaries are written under these names.
LOCALIZATION_LOSS = "Loss/localization_loss"
CLASSIFICATION_LOSS = "Loss/classification_loss"
