"""Start a detector for new classes from a COCO detector's own class head, not from random weights.

`python -m tfsynth.pretrained.class_head --source DIR --label_map NEW.pbtxt --init_from MAP.yaml --output_dir OUT`
reads a pretrained SSD (DIR/pipeline.config + DIR/checkpoint), builds the same model with the new label map's
number of classes, copies every variable, and fills the class head's output columns of each new class from the
COCO class that MAP.yaml names for it (water <- bottle, orange <- orange, ...); a new class with no counterpart
starts from the mean of all COCO class columns (a generic "object" detector). Background comes from COCO's
background. The result is laid out as the Zoo tarballs (OUT/checkpoint/ckpt-0, OUT/pipeline.config) and is
fine-tuned with fine_tune_checkpoint_type "full". The OD API's "detection" type restores only the feature
extractor, which throws away the box regression heads and everything the class head knows.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Mapping, Optional

import numpy as np
import yaml

from tfsynth.utils import label_map_util

# Box predictor class heads: the last layer of each head maps features to anchors x (num_classes + 1) logits.
_CLASS_HEAD_MARK = "ClassPredictor"  # Keras variable name of each class head's last layer


def read_init_mapping(path: str, source_label_map: str, target_label_map: str) -> dict[int, Optional[int]]:
    """YAML {new class name: source display name or null} -> {new id: source id or None}; names are checked."""
    data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of new class name -> COCO class name")
    source = {c["name"]: c["id"] for c in label_map_util.create_categories_from_labelmap(source_label_map)}
    target = label_map_util.get_label_map_dict(target_label_map)
    mapping: dict[int, Optional[int]] = {class_id: None for class_id in target.values()}
    for new_name, source_name in data.items():
        if new_name not in target:
            raise ValueError(f"{path}: {new_name!r} is not a class of {target_label_map}")
        if source_name is not None and source_name not in source:
            raise ValueError(f"{path}: {new_name!r} -> {source_name!r}: not a class of {source_label_map}")
        mapping[target[new_name]] = None if source_name is None else source[source_name]
    return mapping


def remap_class_columns(values: np.ndarray, num_source_classes: int, num_target_classes: int,
                        mapping: Mapping[int, Optional[int]]) -> np.ndarray:
    """Picks the last-axis columns of a class-head kernel or bias for the new classes.

    Columns are laid out anchor by anchor, each anchor holding background then classes 1..K.
    """
    source_width, target_width = num_source_classes + 1, num_target_classes + 1
    num_anchors = values.shape[-1] // source_width
    if values.shape[-1] != num_anchors * source_width:
        raise ValueError(f"class head with {values.shape[-1]} outputs is not anchors x {source_width}")
    per_anchor = values.reshape(values.shape[:-1] + (num_anchors, source_width))
    generic = per_anchor[..., 1:].mean(axis=-1)
    columns = [per_anchor[..., 0]]
    for class_id in range(1, target_width):
        source_id = mapping.get(class_id)
        columns.append(generic if source_id is None else per_anchor[..., source_id])
    return np.stack(columns, axis=-1).reshape(values.shape[:-1] + (num_anchors * target_width,))


def build_remapped_checkpoint(source_dir: str, target_label_map: str, init_mapping_path: str,
                              output_dir: str) -> str:
    """Writes output_dir (checkpoint/ckpt-0, pipeline.config, label_map.pbtxt); returns output_dir.

    Does nothing when output_dir is already complete; writes into a temporary folder, then renames it.
    """
    import tensorflow as tf

    from tfsynth.builders import model_builder
    from tfsynth.utils import config_util

    output = pathlib.Path(output_dir)
    if (output / "checkpoint" / "checkpoint").exists() and (output / "pipeline.config").exists():
        return str(output)
    source = pathlib.Path(source_dir)
    configs = config_util.get_configs_from_pipeline_file(str(source / "pipeline.config"))
    source_label_map = str(source / "label_map.pbtxt")
    num_source = config_util.get_number_of_classes(configs["model"])
    num_target = len(label_map_util.get_label_map_dict(target_label_map))
    mapping = read_init_mapping(init_mapping_path, source_label_map, target_label_map)

    def built(num_classes: int):
        model_config = type(configs["model"])()
        model_config.CopyFrom(configs["model"])
        getattr(model_config, model_config.WhichOneof("model")).num_classes = num_classes
        model = model_builder.build(model_config, is_training=False)
        height, width = config_util.get_spatial_image_size(config_util.get_image_resizer_config(model_config))
        images, shapes = model.preprocess(tf.zeros([1, height, width, 3]))
        model.predict(images, shapes)
        return model, model_config

    source_model, _ = built(num_source)
    tf.train.Checkpoint(model=source_model).restore(
        tf.train.latest_checkpoint(str(source / "checkpoint"))).assert_existing_objects_matched()
    target_model, target_model_config = built(num_target)
    # Both models are built by the same code, so their variables come in the same order (Keras may rename the
    # second model's layers, so names cannot be matched).
    if len(source_model.variables) != len(target_model.variables):
        raise ValueError("source and target models differ in their variables; cannot copy")
    for source_variable, variable in zip(source_model.variables, target_model.variables):
        value = source_variable.numpy()
        if value.shape != tuple(variable.shape):
            if _CLASS_HEAD_MARK not in variable.name:
                raise ValueError(f"{variable.name}: shape {tuple(variable.shape)} differs from the source's "
                                 f"{value.shape} outside the class head")
            value = remap_class_columns(value, num_source, num_target, mapping)
        variable.assign(value)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=output.name + ".", dir=output.parent))
    try:
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=target_model),
                                             str(staging / "checkpoint"), max_to_keep=1)
        manager.save(checkpoint_number=0)
        configs["model"].CopyFrom(target_model_config)
        configs["train_config"].fine_tune_checkpoint = str(output / "checkpoint" / "ckpt-0")
        configs["train_config"].fine_tune_checkpoint_type = "full"
        for reader in [configs["train_input_config"]] + list(configs["eval_input_configs"]):
            reader.label_map_path = str(output / "label_map.pbtxt")
        config_util.save_pipeline_config(config_util.create_pipeline_proto_from_configs(configs), str(staging))
        shutil.copyfile(target_label_map, staging / "label_map.pbtxt")
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(output)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsynth.pretrained.class_head", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="pretrained model folder (pipeline.config, checkpoint/)")
    parser.add_argument("--label_map", required=True, help="label map of the new classes")
    parser.add_argument("--init_from", required=True, help="YAML: new class name -> source class name or null")
    parser.add_argument("--output_dir", required=True, help="folder of the new checkpoint")
    args = parser.parse_args(argv)
    try:
        print(build_remapped_checkpoint(args.source, args.label_map, args.init_from, args.output_dir))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
