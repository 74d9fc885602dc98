r"""Look at a detection dataset: class counts, box and image size statistics, and a contact sheet.

    python -m tfsynth.inspect 'data/real/*.tfrecord' [--contact_sheet sheet.png] [--num_images 16] \
        [--label_map label_map.pbtxt] [--image_dir DIR (COCO JSON only)]

DATASET is a TFRecord file or glob (OD API layout), a COCO JSON file, or a Unity SOLO folder. The contact sheet is
a grid of thumbnails of the first --num_images images with their boxes and class names drawn.
"""
from __future__ import annotations

import collections
import io
import math
import os
import sys
from typing import Iterator, Optional

import numpy as np

# label_map_util first: it compiles stale protos with grpc_tools, which crashes once TensorFlow is loaded.
from tfsynth.utils import label_map_util
from tfsynth.data import record_checks
from tfsynth.data.annotations import ImageAnnotation

THUMBNAIL_SIZE = 256
# How a user skips bad records instead of stopping (the inspect_dataset argument).
_SKIP_HINT = "--on_error=skip skips and counts such records instead"
# Distinct colours for up to 12 classes, then repeated.
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def dataset_kind(dataset: str) -> str:
    """'solo', 'coco' or 'tfrecord' for a DATASET argument."""
    if os.path.isdir(dataset):
        return "solo"
    if dataset.lower().endswith(".json"):
        return "coco"
    return "tfrecord"


def iterate_dataset(dataset: str, image_dir: Optional[str] = None, label_map: Optional[str] = None,
                    on_error: str = "stop", report: Optional[record_checks.CheckReport] = None
                    ) -> Iterator[ImageAnnotation]:
    """The images of a TFRecord file/glob, COCO JSON (images in image_dir, default its folder) or SOLO folder.

    TFRecords are checked as they are read (tfsynth.data.record_checks, against label_map when given): on_error
    'stop' raises RecordCheckError naming the file and record, 'skip' leaves bad records (and objects of classes
    the label map lacks) out and counts them in `report`.
    """
    kind = dataset_kind(dataset)
    if kind == "solo":
        from tfsynth.data.readers import solo
        yield from solo.read(dataset)
    elif kind == "coco":
        from tfsynth.data.coco_json import read_coco_json
        yield from read_coco_json(dataset, image_dir=image_dir)
    else:
        from tfsynth.data import tfrecord
        paths = tfrecord.expand_pattern(dataset)
        rules = record_checks.ClassRules.from_label_map(label_map or "")
        for checked in record_checks.iter_checked_examples(paths, rules, on_error, report=report,
                                                           skip_hint=_SKIP_HINT):
            image = tfrecord.example_to_annotation(checked.example)
            if checked.dropped_objects:
                image.objects = [obj for index, obj in enumerate(image.objects)
                                 if index not in checked.dropped_objects]
            yield image


def _min_median_max(values: list[float]) -> dict:
    if not values:
        return {"min": None, "median": None, "max": None}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "median": float(np.median(array)), "max": float(array.max())}


def _class_name(obj, category_index: Optional[dict]) -> str:
    if category_index and obj.class_id in category_index:
        return category_index[obj.class_id]["name"]
    return obj.class_name


def inspect_dataset(dataset: str, contact_sheet: Optional[str] = None, num_images: int = 16,
                    label_map: Optional[str] = None, image_dir: Optional[str] = None, on_error: str = "stop") -> dict:
    """Statistics of the dataset (and, with contact_sheet, a PNG of its first num_images images).

    Returns {'num_images', 'num_boxes', 'num_images_without_boxes', 'class_counts' (name -> boxes),
    'box_width', 'box_height', 'box_area_fraction', 'image_width', 'image_height' (each min/median/max),
    'image_sizes' ('WxH' -> images)}. With a label map, classes are named by their id's display name.
    image_dir is the image folder of a COCO JSON (default: the JSON's folder); only the sheet reads pixels.
    TFRecords are checked first (see iterate_dataset): on_error 'stop' raises RecordCheckError (a ValueError)
    naming the file and record of the first bad one; 'skip' leaves bad ones out and counts them under 'skipped'
    (problem kind -> count).
    """
    category_index = label_map_util.create_category_index_from_labelmap(label_map) if label_map else None
    class_counts: collections.Counter = collections.Counter()
    image_sizes: collections.Counter = collections.Counter()
    widths, heights, fractions, image_widths, image_heights = [], [], [], [], []
    num_images = max(0, num_images)
    sheet_images: list[ImageAnnotation] = []
    count, without_boxes = 0, 0
    report = record_checks.CheckReport(files=[])
    for image in iterate_dataset(dataset, image_dir, label_map, on_error, report):
        count += 1
        image_widths.append(image.width)
        image_heights.append(image.height)
        image_sizes[f"{image.width}x{image.height}"] += 1
        without_boxes += not image.objects
        for obj in image.objects:
            class_counts[_class_name(obj, category_index)] += 1
            widths.append(obj.xmax - obj.xmin)
            heights.append(obj.ymax - obj.ymin)
            fractions.append(obj.box_area / max(1, image.width * image.height))
            obj.mask = None  # statistics need no masks; keep memory flat on large sets
        if len(sheet_images) < num_images:
            sheet_images.append(image)
        else:
            image.encoded = None
    skipped = dict(sorted(report.skipped.items()))
    if count == 0:
        raise ValueError(f"{dataset}: no images found" + (
            f" (skipped: {', '.join(f'{kind} {n}' for kind, n in skipped.items())})" if skipped else ""))
    stats = {
        "dataset": dataset,
        "num_images": count,
        "num_boxes": sum(class_counts.values()),
        "num_images_without_boxes": without_boxes,
        "class_counts": dict(sorted(class_counts.items())),
        "box_width": _min_median_max(widths),
        "box_height": _min_median_max(heights),
        "box_area_fraction": _min_median_max(fractions),
        "image_width": _min_median_max(image_widths),
        "image_height": _min_median_max(image_heights),
        "image_sizes": dict(image_sizes.most_common()),
        "skipped": skipped,
    }
    if contact_sheet:
        draw_contact_sheet(sheet_images, contact_sheet, category_index)
        stats["contact_sheet"] = contact_sheet
    return stats


def _load_font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable default font
    except TypeError:
        return ImageFont.load_default()


def _thumbnail(image: ImageAnnotation, category_index: Optional[dict], colors: dict) -> "Image.Image":
    from PIL import Image, ImageDraw
    with Image.open(io.BytesIO(image.read_encoded())) as decoded:
        picture = decoded.convert("RGB")
    scale = THUMBNAIL_SIZE / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
    # Boxes are scaled from the annotated size, which is the file's size for records we wrote.
    sx = picture.width / max(1, image.width)
    sy = picture.height / max(1, image.height)
    draw = ImageDraw.Draw(picture)
    font = _load_font(11)
    for obj in image.objects:
        name = _class_name(obj, category_index)
        color = colors.setdefault(name, PALETTE[len(colors) % len(PALETTE)])
        box = (obj.xmin * sx, obj.ymin * sy, obj.xmax * sx, obj.ymax * sy)
        draw.rectangle(box, outline=color, width=2)
        left, top, right, bottom = draw.textbbox((box[0] + 2, box[1] + 1), name, font=font)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=color)
        draw.text((box[0] + 2, box[1] + 1), name, fill=(0, 0, 0), font=font)
    return picture


def draw_contact_sheet(images: list[ImageAnnotation], path: str, category_index: Optional[dict] = None) -> None:
    """A grid PNG of thumbnails with boxes and class names (written under a temporary name, then renamed)."""
    from PIL import Image, ImageDraw
    if not images:
        raise ValueError("no images to draw")
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    caption_height = 14
    cell = THUMBNAIL_SIZE + 4
    sheet = Image.new("RGB", (columns * cell, rows * (cell + caption_height)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    font = _load_font(11)
    colors: dict = {}
    for index, image in enumerate(images):
        thumbnail = _thumbnail(image, category_index, colors)
        x = (index % columns) * cell + 2
        y = (index // columns) * (cell + caption_height) + 2
        sheet.paste(thumbnail, (x, y))
        caption = image.filename if len(image.filename) <= 40 else "..." + image.filename[-37:]
        draw.text((x, y + THUMBNAIL_SIZE + 1), caption, fill=(220, 220, 220), font=font)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temp_path = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}.png")
    try:
        sheet.save(temp_path, format="PNG")
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


def _format_range(stats: dict, digits: int = 1) -> str:
    if stats["min"] is None:
        return "-"
    return "  ".join(f"{key} {stats[key]:.{digits}f}" for key in ("min", "median", "max"))


def format_stats(stats: dict) -> str:
    """The human-readable report of inspect_dataset's statistics."""
    lines = [f"dataset: {stats['dataset']}",
             f"images: {stats['num_images']} ({stats['num_images_without_boxes']} without boxes), "
             f"boxes: {stats['num_boxes']}, classes: {len(stats['class_counts'])}",
             "boxes per class:"]
    width = max((len(name) for name in stats["class_counts"]), default=0)
    lines += [f"  {name:<{width}}  {count}" for name, count in stats["class_counts"].items()]
    lines += [f"box width (px):       {_format_range(stats['box_width'])}",
              f"box height (px):      {_format_range(stats['box_height'])}",
              f"box area / image:     {_format_range(stats['box_area_fraction'], 4)}",
              f"image width (px):     {_format_range(stats['image_width'], 0)}",
              f"image height (px):    {_format_range(stats['image_height'], 0)}",
              "image sizes: " + ", ".join(f"{size} x{count}" for size, count in stats["image_sizes"].items())]
    if stats.get("skipped"):
        lines.append("skipped: " + ", ".join(f"{kind} {count}" for kind, count in stats["skipped"].items()))
    if stats.get("contact_sheet"):
        lines.append(f"contact sheet: {stats['contact_sheet']}")
    return "\n".join(lines)


def _define_flags():
    from absl import flags
    flags.DEFINE_string("contact_sheet", None, "Write a PNG grid of thumbnails with boxes here.")
    flags.DEFINE_integer("num_images", 16, "Images on the contact sheet.", lower_bound=1)
    flags.DEFINE_string("label_map", None, "Name classes by this label map's ids (display_name).")
    flags.DEFINE_string("image_dir", None, "COCO JSON only: folder of its images (default: the JSON's folder).")
    flags.DEFINE_enum("on_error", "stop", ["stop", "skip"], "TFRecords: a damaged file or a bad record stops with "
                      "an error naming file and record (stop), or is counted, logged and left out (skip).")
    return flags.FLAGS


def main(argv) -> None:
    """The command: DATASET's statistics (and contact sheet); errors end as one line (tfsynth.utils.cli)."""
    from tfsynth.utils.preflight import check_output_file
    if len(argv) != 2:
        print("usage: python -m tfsynth.inspect DATASET [--contact_sheet out.png] [--num_images 16] "
              "[--label_map label_map.pbtxt] [--on_error stop|skip]", file=sys.stderr)
        sys.exit(2)
    if _FLAGS.contact_sheet:  # before every record is read
        check_output_file(_FLAGS.contact_sheet, "--contact_sheet")
    stats = inspect_dataset(argv[1], _FLAGS.contact_sheet, _FLAGS.num_images, _FLAGS.label_map, _FLAGS.image_dir,
                            on_error=_FLAGS.on_error)
    print(format_stats(stats))


if __name__ == "__main__":
    from tfsynth.utils import cli
    _FLAGS = _define_flags()
    cli.run(main, "inspect")
