"""Which fields of train_config, train_input_reader / eval_input_reader and eval_config tfsynth honours.

The model messages are checked by their builders (config_check.reject_unhonoured); this module does the same for
the three messages that say how a model is trained and scored. Every field of each message is in one of three
tables:

- honoured: read by tfsynth (training/inputs.py, builders/dataset_builder.py, training/model_lib.py,
  training/variables.py, training/checkpoints.py, eval/);
- ACCEPTED_UNREAD: not read, and accepted at any value because it cannot change what is trained or scored (it
  steers logging, visualization, TF1's queues and distributed workers, or a deprecated binary); a user's Zoo
  config must not be refused for such a field;
- REFUSED: not read, and it would change what is trained or scored: any value but its default is an error naming
  the field, in reject_unhonoured's form, with the reason.

tests/test_config_fields_honoured.py checks that the three tables cover every field of the messages, so a field
added to a proto must be sorted here before the tests pass.
"""
from __future__ import annotations

from typing import Optional

from tfsynth.builders.config_check import reject_unhonoured
from tfsynth.protos import eval_pb2, input_reader_pb2, train_pb2

INPUT_READER = input_reader_pb2.InputReader.DESCRIPTOR.name
EVAL_CONFIG = eval_pb2.EvalConfig.DESCRIPTOR.name
TRAIN_CONFIG = train_pb2.TrainConfig.DESCRIPTOR.name

# message name -> the fields tfsynth reads. input_type and drop_remainder are honoured for some values only (see
# check_input_reader; REFUSED says why the others are refused).
HONOURED: dict[str, frozenset[str]] = {
    INPUT_READER: frozenset({
        "name",  # model_lib: the eval summary folder
        "label_map_path", "use_display_name",  # dataset_builder.ExampleDecoder, input_checks
        "tf_record_input_reader", "tfds_input_reader",  # dataset_builder.input_files
        "shuffle", "shuffle_buffer_size", "filenames_shuffle_buffer_size", "num_epochs",
        "sample_1_of_n_examples", "num_readers", "read_block_length", "num_parallel_batches",
        "num_prefetch_batches",  # dataset_builder.read_dataset / build
        "max_number_of_boxes", "include_source_id",  # inputs
        "input_type", "drop_remainder",
    }),
    EVAL_CONFIG: frozenset({
        "batch_size", "retain_original_images",  # inputs.eval_input
        "metrics_set", "include_metrics_per_category", "all_metrics_per_category",  # eval.evaluator
        "num_visualizations", "min_score_threshold", "max_num_boxes_to_visualize",  # eval.eval_loop
    }),
    TRAIN_CONFIG: frozenset({
        "batch_size", "data_augmentation_options", "retain_original_images", "use_bfloat16",  # inputs
        "optimizer",  # optimizer_builder
        "num_steps", "gradient_clipping_by_norm", "add_regularization_loss", "unpad_groundtruth_tensors",  # model_lib
        "fine_tune_checkpoint", "fine_tune_checkpoint_type",  # input_checks, checkpoints
        "from_detection_checkpoint",  # model_lib: the restore type when fine_tune_checkpoint_type is unset
        "update_trainable_variables", "freeze_variables",  # variables
    }),
}

# (message, field) -> why the field is accepted unread: none of them changes the weights trained or the metrics
# computed.
ACCEPTED_UNREAD: dict[tuple[str, str], str] = {
    (INPUT_READER, "queue_capacity"): "deprecated buffer size of TF1's queue readers; tf.data reads the same records",
    (INPUT_READER, "min_after_dequeue"): "deprecated buffer size of TF1's queue readers; shuffling is "
                                         "shuffle_buffer_size",
    (INPUT_READER, "prefetch_size"): "deprecated throughput setting (num_prefetch_batches replaced it)",
    (INPUT_READER, "num_parallel_map_calls"): "deprecated throughput setting (num_parallel_batches replaced it)",

    (EVAL_CONFIG, "num_examples"): "read only by the OD API's deprecated legacy/eval.py (batches per evaluation); "
                                   "model_main and model_main_tf2 score the whole eval input (num_epochs 1), as "
                                   "tfsynth does",
    (EVAL_CONFIG, "eval_interval_secs"): "how long TF1's evaluator waits between evaluations (model_main_tf2 "
                                         "ignores it); a checkpoint scores the same whenever it is evaluated",
    (EVAL_CONFIG, "max_evals"): "how many evaluation rounds TF1's evaluator runs before it exits",
    (EVAL_CONFIG, "eval_master"): "the TF1 session master of the evaluator (infrastructure)",
    (EVAL_CONFIG, "save_graph"): "writes the eval graph to the summaries (logging)",
    (EVAL_CONFIG, "export_path"): "legacy/eval.py writes its detections to this file; the metrics are unchanged",
    (EVAL_CONFIG, "visualization_export_dir"): "where legacy/eval.py writes visualization images",
    (EVAL_CONFIG, "keep_image_id_for_visualization_export"): "names of those visualization images",
    (EVAL_CONFIG, "skip_scores"): "visualization: scores left off the drawn boxes",
    (EVAL_CONFIG, "skip_labels"): "visualization: class names left off the drawn boxes",
    (EVAL_CONFIG, "visualize_groundtruth_boxes"): "visualization: ground truth drawn in legacy/eval.py's images",
    (EVAL_CONFIG, "groundtruth_box_visualization_color"): "visualization: the colour of those boxes",
    (EVAL_CONFIG, "retain_original_image_additional_channels"): "visualization of extra input channels (which "
                                                                "num_additional_channels, refused, would add)",
    (EVAL_CONFIG, "keypoint_edge"): "visualization: lines drawn between keypoints",
    (EVAL_CONFIG, "use_dummy_loss_in_eval"): "TF1 model_lib reports a constant 1.0 as the eval loss (for models "
                                             "whose loss fails in eval); detection metrics are unchanged, tfsynth "
                                             "reports the real losses",

    (TRAIN_CONFIG, "sync_replicas"): "TF1 parameter-server training; model_main_tf2 ignores it, tfsynth's "
                                     "replicas are always synchronous",
    (TRAIN_CONFIG, "replicas_to_aggregate"): "TF1 parameter-server training (with sync_replicas); tfsynth "
                                             "averages the gradients of every replica, as model_main_tf2",
    (TRAIN_CONFIG, "startup_delay_steps"): "staggered start of TF1's asynchronous workers",
    (TRAIN_CONFIG, "batch_queue_capacity"): "TF1 input queue size",
    (TRAIN_CONFIG, "num_batch_queue_threads"): "TF1 input queue threads",
    (TRAIN_CONFIG, "prefetch_queue_capacity"): "TF1 input queue size",
    (TRAIN_CONFIG, "keep_checkpoint_every_n_hours"): "which old checkpoints TF1 keeps on disk",
    (TRAIN_CONFIG, "summarize_gradients"): "TF1 gradient histograms in the summaries (logging)",
    (TRAIN_CONFIG, "run_fine_tune_checkpoint_dummy_computation"): "whether the OD API runs the model once before "
                                                                  "restoring; tfsynth always does, so that the "
                                                                  "restore can check every variable",
    (TRAIN_CONFIG, "fine_tune_checkpoint_version"): "declares the checkpoint's format; tfsynth restores TF2 "
                                                    "object-based checkpoints and requires every restored "
                                                    "variable to be found, so another format is an error naming "
                                                    "the checkpoint, never a run from other weights",
}

# (message, field) -> what the field would change; shown in the error. Any value but the default is refused.
REFUSED: dict[tuple[str, str], str] = {
    (INPUT_READER, "input_type"): "TF_SEQUENCE_EXAMPLE records are not read by tfsynth",
    (INPUT_READER, "drop_remainder"): "tfsynth drops the last incomplete batch in training and keeps it in "
                                      "evaluation",
    (INPUT_READER, "external_input_reader"): "only tf_record_input_reader and tfds_input_reader are read",
    (INPUT_READER, "sample_from_datasets_weights"): "weighted sampling of input paths is not implemented",
    (INPUT_READER, "num_additional_channels"): "extra input channels are not implemented",
    (INPUT_READER, "num_keypoints"): "keypoints are not implemented",
    (INPUT_READER, "keypoint_type_weight"): "keypoints are not implemented",
    (INPUT_READER, "use_keypoint_label_map"): "keypoints are not implemented",
    (INPUT_READER, "load_keypoint_depth_features"): "keypoints are not implemented",
    (INPUT_READER, "load_instance_masks"): "instance masks are not implemented",
    (INPUT_READER, "mask_type"): "instance masks are not implemented",
    (INPUT_READER, "load_dense_pose"): "DensePose is not implemented",
    (INPUT_READER, "load_track_id"): "track ids are not implemented",
    (INPUT_READER, "load_multiclass_scores"): "multiclass scores are not read (see train_config."
                                              "use_multiclass_scores)",
    (INPUT_READER, "load_context_features"): "context features (Context R-CNN) are not implemented",
    (INPUT_READER, "load_context_image_ids"): "context features (Context R-CNN) are not implemented",
    (INPUT_READER, "frame_index"): "sequence examples are not read",
    (INPUT_READER, "expand_labels_hierarchy"): "label hierarchies are not expanded",

    (EVAL_CONFIG, "use_moving_averages"): "tfsynth scores the trained weights, not their moving averages",
    (EVAL_CONFIG, "ignore_groundtruth"): "tfsynth always scores against the ground truth",
    (EVAL_CONFIG, "eval_instance_masks"): "instance masks are not implemented",
    (EVAL_CONFIG, "force_no_resize"): "tfsynth always resizes as the model's image_resizer says",
    (EVAL_CONFIG, "parameterized_metric"): "keypoint metrics are not implemented",
    (EVAL_CONFIG, "super_categories"): "super-category metrics are not implemented",
    (EVAL_CONFIG, "recall_lower_bound"): "COCO metrics over a recall range are not implemented",
    (EVAL_CONFIG, "recall_upper_bound"): "COCO metrics over a recall range are not implemented",
    (EVAL_CONFIG, "skip_predictions_for_unlabeled_class"): "image-level labels are not read",
    (EVAL_CONFIG, "image_classes_field_map_empty_to_ones"): "image-level labels are not read",

    (TRAIN_CONFIG, "max_number_of_boxes"): "boxes per image are capped by train_input_reader.max_number_of_boxes "
                                           "(as in the OD API's TF2 inputs); set that instead",
    (TRAIN_CONFIG, "load_all_detection_checkpoint_vars"): "model_main_tf2 refuses it too; fine_tune_checkpoint_type"
                                                          ": \"full\" restores a whole detection checkpoint",
    (TRAIN_CONFIG, "bias_grad_multiplier"): "bias gradients are not scaled",
    (TRAIN_CONFIG, "merge_multiple_label_boxes"): "boxes with several labels are not merged",
    (TRAIN_CONFIG, "use_multiclass_scores"): "multiclass scores are not used as targets",
}


def _reasons(message_name: str) -> dict[str, str]:
    return {field: why for (message, field), why in REFUSED.items() if message == message_name}


def _accepted(message_name: str) -> set[str]:
    return set(HONOURED[message_name]) | {field for message, field in ACCEPTED_UNREAD if message == message_name}


def check_input_reader(config: input_reader_pb2.InputReader, where: str = "input_reader",
                       drop_remainder: Optional[bool] = None) -> None:
    """Refuses (UnsupportedConfigError naming `where`.FIELD) a field of an InputReader that tfsynth ignores and
    that would change the data read.

    drop_remainder: whether the caller drops the last incomplete batch (training) or not (evaluation); the
    config's drop_remainder is refused where it asks for the other. None: not checked (no batching).
    """
    accepted = _accepted(INPUT_READER)
    if config.input_type == input_reader_pb2.TF_SEQUENCE_EXAMPLE:
        accepted.discard("input_type")  # INPUT_DEFAULT and TF_EXAMPLE both mean tf.train.Example records
    if drop_remainder is not None and config.drop_remainder != drop_remainder:
        accepted.discard("drop_remainder")
    reject_unhonoured(config, accepted, where, hints=_reasons(INPUT_READER))


def check_eval_config(config: eval_pb2.EvalConfig, where: str = "eval_config") -> None:
    """Refuses a field of eval_config that tfsynth ignores and that would change the metrics."""
    reject_unhonoured(config, _accepted(EVAL_CONFIG), where, hints=_reasons(EVAL_CONFIG))


def check_train_config(config: train_pb2.TrainConfig, where: str = "train_config") -> None:
    """Refuses a field of train_config that tfsynth ignores and that would change the trained weights."""
    reject_unhonoured(config, _accepted(TRAIN_CONFIG), where, hints=_reasons(TRAIN_CONFIG))
