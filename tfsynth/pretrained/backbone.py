"""A classification checkpoint of a detector's backbone: what `fine_tune_checkpoint_type: "classification"` restores.

The OD API starts a detector "from an ImageNet classification checkpoint" by restoring the feature extractor's
classification_backbone alone (SSDMetaArch.restore_from_objects("classification") -> {'feature_extractor': ...});
every other layer (SSD's extra feature maps or FPN, the box predictor) trains from scratch. No package reachable
offline ships ImageNet MobileNetV2 weights, so tfsynth writes such a checkpoint from the backbone of the offline
COCO SSDLite (registry name ssdlite_mobilenet_v2_coco_backbone): it is a COCO-trained MobileNetV2, not an ImageNet
one, and a study row that uses it is a stand-in for the paper's ImageNet baseline, never the baseline itself.
"""
from __future__ import annotations

import pathlib

import tensorflow as tf

from tfsynth.training.checkpoints import resolve_checkpoint_path

BACKBONE_KEY = "feature_extractor"  # the key restore_from_objects("classification") restores


def write_backbone_checkpoint(pipeline_config: pathlib.Path | str, detection_checkpoint: str,
                              checkpoint_dir: pathlib.Path | str) -> int:
    """Restores the detection model of pipeline_config from detection_checkpoint (every variable) and writes its
    classification_backbone as checkpoint_dir/ckpt-0 under the key 'feature_extractor'; returns the number of
    backbone variables written.

    Raises ValueError naming the checkpoint when it does not fit the model.
    """
    # Imported here: building the model loads the model code (and protos), needed only for this conversion.
    from tfsynth.pretrained.ssdlite_convert import build_model
    model = build_model(pipeline_config)
    prefix = resolve_checkpoint_path(detection_checkpoint, "detection checkpoint")
    status = tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(f"{prefix} does not fit the model of {pipeline_config}: {str(error)[:600]}") from None
    backbone = model.feature_extractor.classification_backbone
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(**{BACKBONE_KEY: backbone}), str(checkpoint_dir),
                                         max_to_keep=1)
    manager.save(checkpoint_number=0)
    return len(backbone.variables)


def classification_pipeline_config(detection_config_text: str, checkpoint_prefix: pathlib.Path) -> str:
    """The detection model's pipeline.config text, restoring checkpoint_prefix as a classification checkpoint."""
    from google.protobuf import text_format

    from tfsynth.protos import pipeline_pb2  # generated at install / first import
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Parse(detection_config_text, config)
    config.train_config.fine_tune_checkpoint = checkpoint_prefix.as_posix()
    config.train_config.fine_tune_checkpoint_type = "classification"
    return text_format.MessageToString(config)
