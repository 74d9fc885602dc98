r"""Convert a labelled image dataset (VOC, COCO, CNTK, SOLO) into OD API TFRecords, a label map and COCO JSON.

    python -m tfsynth.convert --input_format cntk --input_path data/real/cntk_fridge_us \
        --output_dir /tmp/real_fridge [--num_shards 1] [--name data] [--label_map label_map.pbtxt] \
        [--class_map classes.yaml] [--on_error stop|skip] [--clip_boxes] [--include_masks] \
        [--allow_images_outside_root]

Everything lands in --output_dir: NAME-00000-of-000NN.tfrecord shards, label_map.pbtxt and NAME_coco.json (COCO
ground truth whose category ids are the label map's ids and whose image ids are the records' source_id).
With --label_map, a source class matches an item by name or display_name, and records store the item's name as
class/text (what the OD API's decoder, keyed by name by default, looks up).
Every image is opened with Pillow and fully decoded once; its size is taken from the file. Bad input (corrupt or
missing image, box outside the image or of zero size, unknown class, missing or malformed annotation file) stops
the run with an error naming the file, or with --on_error skip drops that whole image and is counted; no record
is ever written with part of its labels missing. An image path that leads out of the dataset root ('../', an
absolute path, a symbolic link; the root is the input folder, for coco --image_dir or else the JSON's folder) is bad
input too, named by annotation file and entry, unless --allow_images_outside_root.
"""
from __future__ import annotations

import collections
import dataclasses
import inspect
import logging
import os
from typing import Optional

# label_map_util first: it compiles stale protos with grpc_tools, which crashes once TensorFlow is loaded.
from tfsynth.utils import label_map_util
from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation, box_problem
from tfsynth.data.images import BadImageError, probe_image
from tfsynth.data.readers import FORMATS, InputError, OutsideRootError, get_reader
from tfsynth.utils.files import write_atomically
from tfsynth.utils.preflight import check_output_dir

ON_ERROR_CHOICES = ("stop", "skip")


class ConversionError(RuntimeError):
    """Conversion stopped at bad input (the message names the file and the problem)."""


@dataclasses.dataclass
class ConversionSummary:
    """What a conversion wrote and what it skipped."""

    num_images: int = 0
    num_boxes: int = 0
    class_counts: dict = dataclasses.field(default_factory=dict)
    skipped: dict = dataclasses.field(default_factory=dict)  # problem kind -> images skipped
    dropped_boxes: int = 0  # boxes of classes the class map maps to null
    clipped_boxes: int = 0
    reencoded_images: int = 0  # not JPEG/PNG: stored as PNG
    exif_rotated_images: int = 0  # EXIF orientation other than 1 (ignored, as TF does)
    removed_stale_shards: list = dataclasses.field(default_factory=list)
    shard_paths: list = dataclasses.field(default_factory=list)
    label_map_path: str = ""
    coco_json_path: str = ""
    label_map: dict = dataclasses.field(default_factory=dict)


def load_class_map(path: str) -> dict[str, Optional[str]]:
    """A YAML mapping source class name -> label-map class name, or -> null to drop the class."""
    import yaml
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of source class name -> class name or null")
    class_map = {}
    for source, target in data.items():
        if target is not None and not isinstance(target, (str, int)):
            raise ValueError(f"{path}: class {source!r} maps to {target!r}; expected a class name or null")
        class_map[str(source)] = None if target is None else str(target)
    return class_map


def _label_map_lookup(label_map_path: str) -> tuple[dict[str, int], dict[str, str], list[dict]]:
    """Of a label map file: class name or display_name -> id; either of them -> the item's name (what the
    records' class/text holds, so decoders keyed by name, the OD API's default, find it); COCO categories."""
    label_map = label_map_util.load_labelmap(label_map_path)
    name_to_id: dict[str, int] = {}
    canonical: dict[str, str] = {}
    for item in label_map.item:
        if item.id < 1:
            continue  # the background entry
        for key in {item.name, item.display_name} - {""}:
            if key in name_to_id and name_to_id[key] != item.id:
                raise ValueError(f"{label_map_path}: {key!r} names both id {name_to_id[key]} and id {item.id}")
            name_to_id[key] = item.id
            canonical[key] = item.name or item.display_name
    categories = label_map_util.create_categories_from_labelmap(label_map_path, use_display_name=True)
    return name_to_id, canonical, categories


class _Problems:
    """Applies --on_error: raise ConversionError, or count the problem and let the caller skip the image."""

    def __init__(self, on_error: str):
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.counts: collections.Counter = collections.Counter()

    def report(self, kind: str, message: str) -> None:
        if self.on_error == "stop":
            raise ConversionError(f"{message} (use --on_error skip to skip such images)")
        self.counts[kind] += 1
        logging.warning("skipping: %s", message)


def _clip(obj: ObjectAnnotation, width: int, height: int) -> bool:
    """Clips the box into the image; True when it changed."""
    clipped = (min(max(obj.xmin, 0.0), width), min(max(obj.ymin, 0.0), height),
               min(max(obj.xmax, 0.0), width), min(max(obj.ymax, 0.0), height))
    changed = clipped != (obj.xmin, obj.ymin, obj.xmax, obj.ymax)
    obj.xmin, obj.ymin, obj.xmax, obj.ymax = clipped
    return changed


def _checked_image(image: ImageAnnotation, class_map: dict[str, Optional[str]],
                   known_classes: Optional[set[str]], clip_boxes: bool, include_masks: bool,
                   problems: _Problems, summary: ConversionSummary) -> Optional[ImageAnnotation]:
    """The image with size from its file, classes mapped, boxes checked; None when it has to be skipped."""
    where = image.path or image.filename
    try:
        info = probe_image(image.path) if image.path else None
    except BadImageError as error:
        problems.report("bad_image", str(error))
        return None
    if info is not None:
        if image.width and image.height and (image.width, image.height) != (info.width, info.height):
            problems.report("size_mismatch", f"{where}: annotation says {image.width}x{image.height} but the "
                                             f"image file is {info.width}x{info.height}")
            return None
        image.width, image.height, image.image_format = info.width, info.height, info.image_format
        if info.reencoded:
            image.encoded = info.encoded  # not JPEG/PNG: the record holds a lossless PNG of it
            summary.reencoded_images += 1
        if info.exif_orientation != 1:
            # TF's decoders ignore EXIF orientation, and so do we: boxes must be in stored pixel order.
            summary.exif_rotated_images += 1
            logging.warning("%s: EXIF orientation %d is ignored (as by TF's decoders); boxes are taken in "
                            "stored pixel order", where, info.exif_orientation)
    objects = []
    dropped = 0
    for obj in image.objects:
        class_name = class_map[obj.class_name] if obj.class_name in class_map else obj.class_name
        if class_name is None:
            dropped += 1
            continue
        if known_classes is not None and class_name not in known_classes:
            problems.report("unknown_class", f"{where}: class {obj.class_name!r} is not in the label map"
                            + (f" (class map gives {class_name!r})" if class_name != obj.class_name else "")
                            + "; map it or drop it with --class_map")
            return None
        obj.class_name = class_name
        problem = box_problem(obj, image.width, image.height)
        if problem and clip_boxes and "outside" in problem:
            clipped = ObjectAnnotation(**{**dataclasses.asdict(obj), "mask": obj.mask})
            _clip(clipped, image.width, image.height)
            if box_problem(clipped, image.width, image.height) is None:
                obj, problem = clipped, None
                summary.clipped_boxes += 1
        if problem:
            annotated_in = f" (annotated in {image.annotation_path})" if image.annotation_path else ""
            problems.report("bad_box", f"{where}: {problem}{annotated_in}")
            return None
        if not include_masks:
            obj.mask = None
        elif obj.mask is None:
            # Mask models need a mask for every box; a record with some missing would mislead them.
            problems.report("missing_mask", f"{where}: object {obj.class_name!r} has no instance mask "
                                            "(--include_masks needs one on every object)")
            return None
        objects.append(obj)
    summary.dropped_boxes += dropped
    image.objects = objects
    return image


def convert(input_format: str, input_path: str, output_dir: str, num_shards: int = 1, name: str = "data",
            label_map_path: Optional[str] = None, class_map_path: Optional[str] = None, on_error: str = "stop",
            clip_boxes: bool = False, include_masks: bool = False, image_dir: Optional[str] = None,
            split: Optional[str] = None, allow_images_outside_root: bool = False) -> ConversionSummary:
    """Runs one conversion (see the module docstring); returns what was written and skipped.

    image_dir (coco: folder of the images, default the JSON's folder) and split (voc: ImageSets file, default
    trainval) go to the readers that take them; allow_images_outside_root lets every reader read images outside
    its dataset root. Raises ConversionError at the first bad input when on_error is 'stop'.
    """
    from tfsynth.data import coco_json, tfrecord

    # Cheap checks first: pass 1 below reads and decodes every image.
    if num_shards < 1:
        raise ValueError(f"--num_shards {num_shards}: expected 1 or more")
    check_output_dir(output_dir, "--output_dir")
    read = get_reader(input_format)
    class_map = load_class_map(class_map_path) if class_map_path else {}
    problems = _Problems(on_error)
    summary = ConversionSummary()
    name_to_id: Optional[dict[str, int]] = None
    canonical_names: dict[str, str] = {}
    categories: list[dict] = []
    if label_map_path:
        name_to_id, canonical_names, categories = _label_map_lookup(label_map_path)
    reader_parameters = inspect.signature(read).parameters
    reader_kwargs = {"allow_outside_root": allow_images_outside_root}  # every reader takes it
    for option, value in (("include_masks", include_masks), ("image_dir", image_dir), ("split", split)):
        if option in reader_parameters:
            if value is not None:
                reader_kwargs[option] = value
        elif value:
            raise ValueError(f"--{option} does not apply to the {input_format} format")

    def on_reader_error(error: InputError) -> None:
        problems.report("outside_root" if isinstance(error, OutsideRootError) else "bad_annotation", str(error))

    # Pass 1: read and check everything, so that ids can be assigned from the classes actually present and
    # nothing is written when the run stops at bad input.
    images: list[ImageAnnotation] = []
    try:
        for image in read(input_path, on_error=on_reader_error, **reader_kwargs):
            checked = _checked_image(image, class_map, set(name_to_id) if name_to_id is not None else None,
                                     clip_boxes, include_masks, problems, summary)
            if checked is not None:
                images.append(checked)
    except InputError as error:  # raised by a reader for input it cannot read at all
        raise ConversionError(str(error)) from None
    if not images:
        skipped = ", ".join(f"{kind} {count}" for kind, count in sorted(problems.counts.items()))
        raise ConversionError(f"{input_path}: no images to write" + (f" (skipped: {skipped})" if skipped else ""))
    if name_to_id is None:
        class_names = sorted({obj.class_name for image in images for obj in image.objects})
        name_to_id = {class_name: index for index, class_name in enumerate(class_names, 1)}
        categories = [{"id": class_id, "name": class_name} for class_name, class_id in name_to_id.items()]
        # Ids from sorted names agree with a model's or the renders' ids only by chance: say so, once.
        logging.warning("no --label_map: class ids follow sorted class names (%s); pass the label map of the "
                        "renders or model these records go with, or their ids may silently differ",
                        ", ".join([f"{class_name}={class_id}" for class_name, class_id in name_to_id.items()][:8])
                        + (", ..." if len(name_to_id) > 8 else ""))

    # Pass 2: write records, then the label map and the COCO JSON; first, nothing another run left may be lost.
    label_map_text = (label_map_util.label_map_to_text(label_map_util.load_labelmap(label_map_path)) if label_map_path
                      else label_map_util.label_map_to_text(label_map_util.build_label_map(name_to_id)))
    earlier_run = os.path.isfile(os.path.join(output_dir, f"{name}_coco.json"))  # this name was converted here
    ours = tfrecord.shard_paths_named(output_dir, name) + ["label_map.pbtxt"] if earlier_run else []
    tfrecord.refuse_foreign_outputs(output_dir, [name], ours, "--output_dir", label_map_text=label_map_text)
    os.makedirs(output_dir, exist_ok=True)
    with tfrecord.ShardedTFRecordWriter(output_dir, name, num_shards) as writer:
        for image_id, image in enumerate(images, 1):
            image.source_id = str(image_id)  # the image id of NAME_coco.json
            for obj in image.objects:
                obj.class_name = canonical_names.get(obj.class_name, obj.class_name)
                obj.class_id = name_to_id[obj.class_name]
            writer.write(tfrecord.annotation_to_example(image, name_to_id, include_masks=include_masks))
            image.encoded = None  # the bytes were read for this record only; keep memory flat
            summary.num_boxes += len(image.objects)
    summary.shard_paths = writer.paths
    summary.removed_stale_shards = tfrecord.remove_stale_shards(output_dir, name, writer.paths)
    summary.label_map_path = os.path.join(output_dir, "label_map.pbtxt")
    # The user's label map as given (re-serialized), so training and evaluation use the same ids; else the ids
    # assigned above.
    write_atomically(summary.label_map_path, label_map_text)
    summary.coco_json_path = os.path.join(output_dir, f"{name}_coco.json")
    coco_json.write_coco_json(summary.coco_json_path, images, categories)
    summary.num_images = len(images)
    summary.class_counts = dict(sorted(collections.Counter(
        obj.class_name for image in images for obj in image.objects).items()))
    summary.skipped = dict(problems.counts)
    summary.label_map = dict(name_to_id)
    return summary


def format_summary(summary: ConversionSummary) -> str:
    """The human-readable end-of-run report."""
    lines = [f"wrote {summary.num_images} images, {summary.num_boxes} boxes, "
             f"{len(summary.label_map)} classes into {len(summary.shard_paths)} shard(s):"]
    lines += [f"  {path}" for path in summary.shard_paths]
    lines.append(f"  {summary.label_map_path}")
    lines.append(f"  {summary.coco_json_path}")
    for class_name, count in summary.class_counts.items():
        lines.append(f"  class {summary.label_map.get(class_name, '?'):>3} {class_name}: {count} boxes")
    if summary.dropped_boxes:
        lines.append(f"dropped {summary.dropped_boxes} boxes of classes mapped to null")
    if summary.clipped_boxes:
        lines.append(f"clipped {summary.clipped_boxes} boxes into their images")
    if summary.reencoded_images:
        lines.append(f"re-encoded {summary.reencoded_images} images that were neither JPEG nor PNG as PNG")
    if summary.exif_rotated_images:
        lines.append(f"{summary.exif_rotated_images} images have an EXIF rotation, ignored (as TF's decoders do)")
    if summary.removed_stale_shards:
        lines.append(f"removed {len(summary.removed_stale_shards)} shards of an earlier run with another "
                     "--num_shards")
    skipped = sum(summary.skipped.values())
    lines.append(f"skipped {skipped} images" + (": " + ", ".join(
        f"{kind} {count}" for kind, count in sorted(summary.skipped.items())) if skipped else ""))
    return "\n".join(lines)


def _define_flags():
    from absl import flags
    flags.DEFINE_enum("input_format", None, list(FORMATS), "Source dataset format.")
    flags.DEFINE_string("input_path", None, "Source dataset: folder (voc, cntk, solo) or COCO JSON file.")
    flags.DEFINE_string("output_dir", None, "Folder for the shards, label_map.pbtxt and NAME_coco.json.")
    flags.DEFINE_integer("num_shards", 1, "Number of TFRecord shards.", lower_bound=1)
    flags.DEFINE_string("name", "data", "Base name of the shards and the COCO JSON.")
    flags.DEFINE_string("label_map", None, "Label map whose ids to use (matched by name or display_name); "
                        "without it, ids 1..K in sorted class-name order.")
    flags.DEFINE_string("class_map", None, "YAML: source class name -> label map class name, or null to drop.")
    flags.DEFINE_enum("on_error", "stop", list(ON_ERROR_CHOICES), "Stop at bad input, or skip and count it.")
    flags.DEFINE_boolean("clip_boxes", False, "Clip boxes partly outside the image instead of failing.")
    flags.DEFINE_boolean("include_masks", False, "Store instance masks as PNGs (coco, solo).")
    flags.DEFINE_string("image_dir", None, "coco: folder of the images (default: the JSON's folder).")
    flags.DEFINE_string("split", None, "voc: ImageSets/Main split of VOC year folders (default trainval).")
    flags.DEFINE_boolean("allow_images_outside_root", False,
                         "Read images whose paths lead out of the dataset root ('../', absolute paths, symbolic "
                         "links; the root is the --input_path folder, for coco --image_dir or else the JSON's folder). "
                         "Off: such an image is bad input (see --on_error). Only for annotation files you trust.")
    flags.mark_flags_as_required(["input_format", "input_path", "output_dir"])
    return flags.FLAGS


def main(argv) -> None:
    """The command: errors end as one line (tfsynth.utils.cli)."""
    del argv
    flags_values = _FLAGS
    summary = convert(flags_values.input_format, flags_values.input_path, flags_values.output_dir,
                      flags_values.num_shards, flags_values.name, flags_values.label_map,
                      flags_values.class_map, flags_values.on_error, flags_values.clip_boxes,
                      flags_values.include_masks, flags_values.image_dir, flags_values.split,
                      allow_images_outside_root=flags_values.allow_images_outside_root)
    print(format_summary(summary))


if __name__ == "__main__":
    from tfsynth.utils import cli
    _FLAGS = _define_flags()
    cli.run(main, "convert")
