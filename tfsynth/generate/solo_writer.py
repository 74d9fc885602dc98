"""Writer of Unity Perception SOLO datasets from ImageAnnotation objects (the layout Unity itself writes).

One image becomes one sequence of one step, as Unity writes one scenario iteration per sequence:

  OUTPUT/metadata.json, sensor_definitions.json, annotation_definitions.json, metric_definitions.json
  OUTPUT/sequence.N/step0.frame_data.json
  OUTPUT/sequence.N/step0.camera.jpg (or .png: the image's bytes as given, never re-encoded)
  OUTPUT/sequence.N/step0.camera.instance segmentation.png (when masks are written)

Boxes are BoundingBox2DAnnotation values (instanceId, labelId, labelName, origin and dimension in pixels,
top-left origin); masks are painted into one RGBA PNG per image in per-instance colours listed by the
InstanceSegmentationAnnotation (background black, as Unity's). Instance ids are 1..N in the image's object order.
What ImageAnnotation does not carry (camera pose, projection) is written as neutral values (zeros, identity
rotation); difficult/truncated/visibility have no SOLO field and are not written.

The dataset is written into a temporary folder beside OUTPUT (each file under a temporary name, then renamed)
and moved to OUTPUT when complete, so OUTPUT never holds half a dataset.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import shutil
from typing import Iterable, Optional

import numpy as np

from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation, box_problem
from tfsynth.utils.files import write_atomically

TYPE_PREFIX = "type.unity.com/unity.solo."
SENSOR_ID = "camera"
BOX_ANNOTATOR_ID = "bounding box"
SEGMENTATION_ANNOTATOR_ID = "instance segmentation"
CAMERA_FILE = "step0.camera.{extension}"
SEGMENTATION_FILE = "step0.camera.instance segmentation.png"
FRAME_DATA_FILE = "step0.frame_data.json"
BACKGROUND_COLOR = (0, 0, 0, 255)

# image_format of an ImageAnnotation -> (file extension, SOLO imageFormat)
_IMAGE_FORMATS = {"jpeg": ("jpg", "Jpg"), "jpg": ("jpg", "Jpg"), "png": ("png", "Png")}

_BOX_DESCRIPTION = ("Produces 2D bounding box annotations for all visible objects that bear a label defined in "
                    "this labeler's associated label configuration.")
_SEGMENTATION_DESCRIPTION = ("Produces an instance segmentation image for each frame. The image will render the "
                             "pixels of each labeled object in a distinct color.")
_OBJECT_COUNT_DESCRIPTION = ("Produces object counts for each label defined in this labeler's associated label "
                             "configuration.")
_RENDERED_INFO_DESCRIPTION = ("Produces label id, instance id, and visible pixel count in a single metric each "
                              "frame for each object which takes up one or more pixels in the camera's frame.")


@dataclasses.dataclass
class SoloSummary:
    """What write_solo wrote."""

    path: str
    frames: int
    objects: int
    masks: bool  # whether instance segmentation images were written


def instance_color(instance_id: int) -> tuple[int, int, int, int]:
    """The RGBA colour of an instance in the segmentation image: distinct for every id in 1..2**24-1, never black.

    The id's bits are dealt round-robin to R, G, B from each channel's high bit down, so that small ids (the
    usual case) get bright, far-apart colours: 1 -> (128, 0, 0), 2 -> (0, 128, 0), 4 -> (0, 0, 128), ...
    """
    if not 1 <= instance_id < 1 << 24:
        raise ValueError(f"instance id {instance_id} outside 1..{(1 << 24) - 1}")
    channels = [0, 0, 0]
    for bit in range(24):
        if instance_id >> bit & 1:
            channels[bit % 3] |= 1 << (7 - bit // 3)
    return channels[0], channels[1], channels[2], 255


def _write_json(path: str, data: dict) -> None:
    write_atomically(path, json.dumps(data, indent=2))


def _unity_time(moment: datetime.datetime) -> str:
    # Unity writes e.g. "5/20/2022 1:54:42 PM" (no zero padding).
    hour = moment.hour % 12 or 12
    return (f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} "
            f"{'AM' if moment.hour < 12 else 'PM'}")


def _label_spec(name_to_id: dict[str, int]) -> list[dict]:
    return [{"label_id": label_id, "label_name": name}
            for name, label_id in sorted(name_to_id.items(), key=lambda item: (item[1], item[0]))]


def _label_id(obj: ObjectAnnotation, name_to_id: dict[str, int], where: str) -> int:
    if obj.class_name in name_to_id:
        return int(name_to_id[obj.class_name])
    raise ValueError(f"{where}: class {obj.class_name!r} is not in the label map "
                     f"(known: {sorted(name_to_id)[:10]}{' ...' if len(name_to_id) > 10 else ''})")


def _image_file(image: ImageAnnotation, where: str) -> tuple[bytes, str, str]:
    """(bytes, file extension, SOLO imageFormat) of the image, after checking its format and size."""
    from PIL import Image
    formats = _IMAGE_FORMATS.get(image.image_format.lower())
    if formats is None:
        raise ValueError(f"{where}: image_format {image.image_format!r}; expected one of {sorted(_IMAGE_FORMATS)}")
    data = image.read_encoded()
    try:
        with Image.open(io.BytesIO(data)) as decoded:  # reads the header only
            size = decoded.size
    except OSError as error:
        raise ValueError(f"{where}: image bytes cannot be read: {error}") from None
    if size != (image.width, image.height):
        raise ValueError(f"{where}: image is {size[0]}x{size[1]}, annotation says {image.width}x{image.height}")
    return data, formats[0], formats[1]


def _segmentation_png(image: ImageAnnotation, where: str) -> tuple[bytes, list[int]]:
    """The instance segmentation PNG of the image's masks and each instance's pixel count.

    Every pixel holds at most one instance (Unity's image shows what the camera sees), so overlapping masks
    are refused rather than silently cut.
    """
    from PIL import Image
    pixels = np.empty((image.height, image.width, 4), np.uint8)
    pixels[:] = BACKGROUND_COLOR
    painted = np.zeros((image.height, image.width), bool)
    counts = []
    for index, obj in enumerate(image.objects):
        mask = obj.mask
        if mask is None:
            raise ValueError(f"{where}: object {index} ({obj.class_name!r}) has no mask; masks are written for "
                             f"every object or for none")
        mask = np.asarray(mask)
        if mask.shape != (image.height, image.width):
            raise ValueError(f"{where}: object {index} ({obj.class_name!r}) mask has shape {mask.shape}, "
                             f"expected {(image.height, image.width)} (height, width)")
        selected = mask.astype(bool)
        if np.any(painted & selected):
            raise ValueError(f"{where}: object {index} ({obj.class_name!r}) mask overlaps an earlier object's; an "
                             f"instance segmentation image holds one instance per pixel")
        pixels[selected] = instance_color(index + 1)
        painted |= selected
        counts.append(int(selected.sum()))
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), counts


def _frame_data(image: ImageAnnotation, index: int, name_to_id: dict[str, int], camera_file: str,
                image_format: str, pixel_counts: Optional[list[int]], where: str) -> dict:
    dimension = [float(image.width), float(image.height)]
    boxes, instances, rendered = [], [], []
    for number, obj in enumerate(image.objects):
        problem = box_problem(obj, image.width, image.height)
        if problem:
            raise ValueError(f"{where}: object {number}: {problem}")
        label_id = _label_id(obj, name_to_id, f"{where}: object {number}")
        instance_id = number + 1
        boxes.append({"instanceId": instance_id, "labelId": label_id, "labelName": obj.class_name,
                      "origin": [float(obj.xmin), float(obj.ymin)],
                      "dimension": [float(obj.xmax - obj.xmin), float(obj.ymax - obj.ymin)]})
        if pixel_counts is not None:
            color = list(instance_color(instance_id))
            instances.append({"instanceId": instance_id, "labelId": label_id, "labelName": obj.class_name,
                              "color": color})
            rendered.append({"labelId": label_id, "instanceId": instance_id, "color": color,
                             "visiblePixels": pixel_counts[number]})
    annotations = [{"@type": TYPE_PREFIX + "BoundingBox2DAnnotation", "id": BOX_ANNOTATOR_ID,
                    "sensorId": SENSOR_ID, "description": _BOX_DESCRIPTION, "values": boxes}]
    if pixel_counts is not None:
        annotations.append({"@type": TYPE_PREFIX + "InstanceSegmentationAnnotation",
                            "id": SEGMENTATION_ANNOTATOR_ID, "sensorId": SENSOR_ID,
                            "description": _SEGMENTATION_DESCRIPTION, "imageFormat": "Png",
                            "dimension": dimension, "filename": SEGMENTATION_FILE, "instances": instances})
    counts_by_label = {label_id: 0 for label_id in name_to_id.values()}
    for box in boxes:
        counts_by_label[box["labelId"]] += 1
    metrics = [{"@type": TYPE_PREFIX + "ObjectCountMetric", "id": "ObjectCount", "sensorId": SENSOR_ID,
                "annotationId": "", "description": _OBJECT_COUNT_DESCRIPTION,
                "values": [{"labelId": spec["label_id"], "labelName": spec["label_name"],
                            "count": counts_by_label[spec["label_id"]]} for spec in _label_spec(name_to_id)]}]
    if pixel_counts is not None:
        metrics.append({"@type": TYPE_PREFIX + "RenderedObjectInfoMetric", "id": "RenderedObjectInfo",
                        "sensorId": SENSOR_ID, "annotationId": "", "description": _RENDERED_INFO_DESCRIPTION,
                        "values": rendered})
    capture = {
        "@type": TYPE_PREFIX + "RGBCamera", "id": SENSOR_ID, "description": "The main camera",
        # The pose and projection are not part of an ImageAnnotation: neutral values keep the schema complete.
        "position": [0.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0], "velocity": [0.0, 0.0, 0.0],
        "acceleration": [0.0, 0.0, 0.0], "filename": camera_file, "imageFormat": image_format,
        "dimension": dimension, "projection": "Perspective", "matrix": [0.0] * 9, "annotations": annotations,
    }
    return {"frame": index, "sequence": index, "step": 0, "captures": [capture], "metrics": metrics}


def _definitions(name_to_id: dict[str, int], masks: bool) -> tuple[dict, dict, dict]:
    """(sensor, annotation, metric) definitions files."""
    sensors = {"sensorDefinitions": [{
        "@type": TYPE_PREFIX + "RGBCamera", "id": SENSOR_ID, "modality": "camera", "definition": "The main camera",
        "firstCaptureFrame": 0.0, "captureTriggerMode": "Scheduled", "simulationDeltaTime": 0.0166,
        "framesBetweenCaptures": 0, "manualSensorsAffectTiming": False}]}
    spec = _label_spec(name_to_id)
    annotators = [{"@type": TYPE_PREFIX + "BoundingBox2DAnnotation", "id": BOX_ANNOTATOR_ID,
                   "description": _BOX_DESCRIPTION, "spec": spec}]
    metrics = [{"@type": TYPE_PREFIX + "ObjectCountMetric", "id": "ObjectCount",
                "description": _OBJECT_COUNT_DESCRIPTION}]
    if masks:
        annotators.append({"@type": TYPE_PREFIX + "InstanceSegmentationAnnotation",
                           "id": SEGMENTATION_ANNOTATOR_ID, "description": _SEGMENTATION_DESCRIPTION, "spec": spec})
        metrics.append({"@type": TYPE_PREFIX + "RenderedObjectInfoMetric", "id": "RenderedObjectInfo",
                        "description": _RENDERED_INFO_DESCRIPTION})
    return sensors, {"annotationDefinitions": annotators}, {"metricDefinitions": metrics}


def _wants_masks(image: ImageAnnotation, include_masks: Optional[bool], where: str) -> bool:
    if include_masks is not None:
        return include_masks
    with_mask = sum(obj.mask is not None for obj in image.objects)
    if 0 < with_mask < len(image.objects):
        raise ValueError(f"{where}: {with_mask} of {len(image.objects)} objects have masks; masks are written "
                         f"for every object or for none")
    return with_mask > 0


def _check_output(output_dir: str) -> None:
    """Refuses to replace a folder that is not a SOLO dataset (so a wrong path never deletes someone's files)."""
    if os.path.lexists(output_dir) and (not os.path.isdir(output_dir) or (
            os.listdir(output_dir) and not os.path.isfile(os.path.join(output_dir, "metadata.json")))):
        raise ValueError(f"{output_dir}: exists and is not a SOLO dataset (no metadata.json); refusing to replace "
                         f"it; remove it or choose another output folder")


def _move_into_place(temp_dir: str, output_dir: str) -> None:
    old_dir = None
    if os.path.lexists(output_dir):
        old_dir = f"{output_dir}.old-{os.getpid()}"
        os.replace(output_dir, old_dir)
    os.replace(temp_dir, output_dir)
    if old_dir:
        shutil.rmtree(old_dir)


def write_solo(output_dir: str, images: Iterable[ImageAnnotation], name_to_id: dict[str, int],
               include_masks: Optional[bool] = None) -> SoloSummary:
    """Writes `images` as a SOLO dataset at `output_dir` (replacing an earlier SOLO dataset there).

    name_to_id: class name -> label id (the label map); every object's class must be in it, and all of its
    classes are listed in annotation_definitions.json. include_masks: True writes an instance segmentation
    image for every image (each object must have a mask), False never, None when an image's objects have
    masks. Images are consumed one at a time, so a generator keeps memory flat. Raises ValueError naming the
    image and object on bad input (unknown class, bad box, mask of the wrong shape or overlapping another).
    """
    output_dir = os.path.abspath(output_dir)
    _check_output(output_dir)
    started = datetime.datetime.now()
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    temp_dir = os.path.join(parent, f".{os.path.basename(output_dir)}.tmp-{os.getpid()}")
    if os.path.lexists(temp_dir):
        shutil.rmtree(temp_dir)  # left by a run of ours with the same pid that stopped part way
    os.makedirs(temp_dir)
    frames = objects = 0
    any_masks = False
    try:
        for index, image in enumerate(images):
            where = f"image {index} ({image.filename!r})"
            data, extension, image_format = _image_file(image, where)
            pixel_counts = None
            sequence_dir = os.path.join(temp_dir, f"sequence.{index}")
            os.makedirs(sequence_dir)
            if _wants_masks(image, include_masks, where):
                segmentation, pixel_counts = _segmentation_png(image, where)
                write_atomically(os.path.join(sequence_dir, SEGMENTATION_FILE), segmentation)
                any_masks = True
            camera_file = CAMERA_FILE.format(extension=extension)
            frame = _frame_data(image, index, name_to_id, camera_file, image_format, pixel_counts, where)
            write_atomically(os.path.join(sequence_dir, camera_file), data)
            _write_json(os.path.join(sequence_dir, FRAME_DATA_FILE), frame)
            frames += 1
            objects += len(image.objects)
        sensors, annotators, metrics = _definitions(name_to_id, any_masks)
        _write_json(os.path.join(temp_dir, "sensor_definitions.json"), sensors)
        _write_json(os.path.join(temp_dir, "annotation_definitions.json"), annotators)
        _write_json(os.path.join(temp_dir, "metric_definitions.json"), metrics)
        _write_json(os.path.join(temp_dir, "metadata.json"), {
            "unityVersion": "none", "perceptionVersion": "1.0.0 (SOLO layout written by tfsynth)",
            "renderPipeline": "tfsynth", "simulationStartTime": _unity_time(started),
            "scenarioRandomSeed": 0, "scenarioActiveRandomizers": [], "totalFrames": frames,
            "totalSequences": frames, "sensors": [SENSOR_ID],
            "metricCollectors": [m["id"] for m in metrics["metricDefinitions"]],
            "simulationEndTime": _unity_time(datetime.datetime.now()),
            "annotators": [{"name": a["id"], "type": a["@type"]} for a in annotators["annotationDefinitions"]]})
        _move_into_place(temp_dir, output_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return SoloSummary(path=output_dir, frames=frames, objects=objects, masks=any_masks)
