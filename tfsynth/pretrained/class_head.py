"""Start a detector for new classes from a COCO detector's own class head, not from random weights.

`python -m tfsynth.pretrained.class_head --source DIR --label_map NEW.pbtxt --init_from MAP.yaml --output_dir OUT`
reads a pretrained SSD (DIR/pipeline.config + DIR/checkpoint), builds the same model with the new label map's
number of classes, copies every variable, and fills the class head's output columns of each new class from the
COCO class that MAP.yaml names for it (water <- bottle, orange <- orange, ...); a new class with no counterpart
starts from the mean of all COCO class columns (a generic "object" detector). Background comes from COCO's
background. The result is laid out as the Zoo tarballs (OUT/checkpoint/ckpt-0, OUT/pipeline.config) and is
fine-tuned with fine_tune_checkpoint_type "full". The OD API's "detection" type restores only the feature
extractor, which throws away the box regression heads and everything the class head knows.

MAP.yaml names COCO classes by the display_name entries of tfsynth/pretrained/mscoco_label_map.pbtxt (the label map
fetch.py puts beside every COCO model); an unknown name is refused with the closest ones. Several new classes may
start from one COCO class (water, ketchup and mustard from bottle), but they then start identical and only
fine-tuning separates them, so each such COCO class gets a warning naming the classes that share it.
"""
from __future__ import annotations

import argparse
import difflib
import logging
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Iterable, Mapping, Optional

import numpy as np
import yaml

from tfsynth.utils import cli, label_map_util
from tfsynth.utils.preflight import check_input_file, check_output_dir

# Box predictor class heads: the last layer of each head maps features to anchors x (num_classes + 1) logits.
_CLASS_HEAD_MARK = "ClassPredictor"  # Keras variable name of each class head's last layer

# The COCO classes of every COCO model tfsynth fetches (fetch.py copies this file beside each one): class_init and
# class_mapping files name COCO classes by its display_name entries ("bottle", "cup", "orange", "wine glass").
COCO_LABEL_MAP = pathlib.Path(__file__).resolve().with_name("mscoco_label_map.pbtxt")

logger = logging.getLogger(__name__)


def coco_class_names(label_map_path: str = str(COCO_LABEL_MAP)) -> dict[str, int]:
    """COCO display name -> COCO id of a COCO label map (by default the one tfsynth ships)."""
    return {c["name"]: c["id"] for c in label_map_util.create_categories_from_labelmap(label_map_path)}


def unknown_coco_class(name: object, label_map_path: str, known: Iterable[str]) -> str:
    """The end of an error message for a COCO class name that `label_map_path` lacks: where the names are listed
    and, for a typo, the closest ones."""
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
    hint = f"; close matches: {close}" if close else ""
    return (f"{name!r} is not a COCO class of {label_map_path} (COCO names are the display_name entries of "
            f"{COCO_LABEL_MAP}, e.g. 'bottle', 'cup', 'orange'){hint}")


def yaml_key_lines(path: str) -> dict[str, int]:
    """Line number (1-based) of each top-level key of a YAML mapping file, for error messages; {} if none."""
    try:
        node = yaml.compose(pathlib.Path(path).read_text())
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


def classes_sharing_a_start(init: Mapping[str, Optional[str]]) -> dict[str, list[str]]:
    """{COCO class: our classes} for every COCO class that starts more than one of our classes."""
    by_source: dict[str, list[str]] = {}
    for new_name, source_name in init.items():
        if source_name is not None:
            by_source.setdefault(str(source_name), []).append(str(new_name))
    return {source: names for source, names in by_source.items() if len(names) > 1}


def sharing_warning(source_name: str, classes: list[str], path: str) -> str:
    """The one-line warning for classes that start from the same COCO class."""
    return (f"{path}: classes {classes} all start from COCO class {source_name!r}: their class-head columns begin "
            "identical, so only training on the renders can tell them apart (give them distinct looks in the "
            "catalog, or start some from null, the mean of all COCO classes)")


def read_init_mapping(path: str, source_label_map: str, target_label_map: str) -> dict[int, Optional[int]]:
    """YAML {new class name: source display name or null} -> {new id: source id or None}; names are checked.

    Warns (logging) for each COCO class that starts several new classes: they begin as one class.
    """
    data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of new class name -> COCO class name (or null)")
    lines = yaml_key_lines(path)
    source = coco_class_names(source_label_map)
    target = label_map_util.get_label_map_dict(target_label_map)
    mapping: dict[int, Optional[int]] = {class_id: None for class_id in target.values()}
    for new_name, source_name in data.items():
        where = f"{path}:{lines[str(new_name)]}" if str(new_name) in lines else path
        if new_name not in target:
            raise ValueError(f"{where}: {new_name!r} is not a class of {target_label_map}; its classes are "
                             f"{sorted(target)}")
        if source_name is not None and source_name not in source:
            raise ValueError(f"{where}: {new_name!r} -> " + unknown_coco_class(source_name, source_label_map, source))
        mapping[target[new_name]] = None if source_name is None else source[source_name]
    for source_name, classes in classes_sharing_a_start(data).items():
        logger.warning(sharing_warning(source_name, classes, path))
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

    Does nothing when output_dir is already complete; writes into a temporary folder, then renames it. The input
    files and the output folder are checked before TensorFlow starts.
    """
    output = pathlib.Path(output_dir)
    if (output / "checkpoint" / "checkpoint").exists() and (output / "pipeline.config").exists():
        return str(output)
    check_input_file(pathlib.Path(source_dir) / "pipeline.config", "--source")
    check_input_file(target_label_map, "--label_map")
    check_input_file(init_mapping_path, "--init_from")
    check_output_dir(output, "--output_dir")

    import tensorflow as tf

    from tfsynth.builders import model_builder
    from tfsynth.utils import config_io
    source = pathlib.Path(source_dir)
    configs = config_io.get_configs_from_pipeline_file(str(source / "pipeline.config"))
    source_label_map = str(source / "label_map.pbtxt")
    num_source = config_io.get_number_of_classes(configs["model"])
    num_target = len(label_map_util.get_label_map_dict(target_label_map))
    mapping = read_init_mapping(init_mapping_path, source_label_map, target_label_map)

    def built(num_classes: int):
        model_config = type(configs["model"])()
        model_config.CopyFrom(configs["model"])
        getattr(model_config, model_config.WhichOneof("model")).num_classes = num_classes
        model = model_builder.build(model_config, is_training=False)
        height, width = config_io.get_spatial_image_size(config_io.get_image_resizer_config(model_config))
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
        config_io.save_pipeline_config(config_io.create_pipeline_proto_from_configs(configs), str(staging))
        shutil.copyfile(target_label_map, staging / "label_map.pbtxt")
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(output)


def main(argv: Optional[list[str]] = None) -> int:
    """The command; returns its exit status (errors: one line, status 1; see tfsynth.utils.cli)."""
    parser = argparse.ArgumentParser(prog="python -m tfsynth.pretrained.class_head", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="pretrained model folder (pipeline.config, checkpoint/)")
    parser.add_argument("--label_map", required=True, help="label map of the new classes")
    parser.add_argument("--init_from", required=True, help="YAML: new class name -> COCO class name (a "
                        f"display_name of {COCO_LABEL_MAP.name}) or null (the mean of all COCO classes)")
    parser.add_argument("--output_dir", required=True, help="folder of the new checkpoint")
    cli.add_verbose_argument(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s")  # the shared-start warnings reach the terminal
    return cli.call("class_head", lambda: print(build_remapped_checkpoint(args.source, args.label_map,
                                                                          args.init_from, args.output_dir)),
                    verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
