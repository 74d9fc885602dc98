"""The generation run: work split into chunks of images, rendered by a pool of worker processes, committed per
chunk (rename), then assembled in index order into shards, COCO JSON, label map, images and manifest.

Determinism: image `i` of split `s` is a pure function of (seed, s, i) and the configuration, and assembly
reads chunks in index order, so the records are byte-identical for any --num_workers. Resume: chunk files live
in OUTPUT_DIR/.chunks/<split>-<config hash>/ and are skipped when present; a different configuration writes a
different folder. Chunks are .npz files of plain arrays (never pickle: nothing read from an output folder runs as
code) and are removed once the records are written, unless --keep_chunks.

Before anything is rendered the configuration is checked (counts, sizes, the output folder writable, the catalog
and label map read). Once the new outputs are written, those of an earlier run in OUTPUT_DIR that this run did not
overwrite are removed and listed in the manifest (removed_stale_outputs): shards of another --num_shards, the shards
and COCO JSON of a split this run does not write, images/<split>/ files beyond --num_images or without
--write_images, solo_<split>/ without --write_solo. A '*.tfrecord' glob would otherwise read an image twice. A
resumed run with the same flags writes the same names, so it removes nothing of its own.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import hashlib
import io
import json
import logging
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import time
from typing import Callable, Optional

import numpy as np

from tfsynth.generate.catalog import Catalog, catalog_from_flag
from tfsynth.generate.labeller import LabelPolicy, label_objects
from tfsynth.generate.sampler import SamplerConfig, sample_scene
from tfsynth.utils.files import write_atomically
from tfsynth.utils.preflight import check_output_dir
from tfsynth.utils.stage_clock import StageClock

SPLITS = (("train", 0), ("val", 1))
CHUNK_SIZE = 25
# New pools started after a render worker died, before the run gives up (a rerun still resumes).
MAX_POOL_RESTARTS = 3


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    output_dir: str
    num_images: int = 4000
    validation_images: int = 0
    num_workers: int = 2
    seed: int = 0
    catalog: str = "default"
    preset: str = "default"
    cues: tuple[str, ...] = ("color", "texture", "viewpoint", "lighting")
    products_per_image: tuple[int, int] = (4, 36)
    distractors: tuple[int, int] = (0, 4)
    width: int = 640
    height: int = 480
    num_shards: int = 10
    label_map: Optional[str] = None
    min_visibility: float = 0.15
    low_visibility: str = "drop"
    include_masks: bool = False
    write_images: bool = False
    write_solo: bool = False
    chunk_size: int = CHUNK_SIZE
    keep_chunks: bool = False  # keep OUTPUT_DIR/.chunks after a successful run (default: removed, it doubles disk use)

    def fingerprint(self) -> str:
        """Hash of everything that changes the rendered images or labels (not the outputs' layout)."""
        fields = dataclasses.asdict(self)
        for key in ("output_dir", "num_images", "validation_images", "num_workers", "num_shards", "write_images",
                    "write_solo", "label_map", "keep_chunks"):
            fields.pop(key)
        if fields["catalog"] not in ("", "default") and os.path.isfile(fields["catalog"]):
            with open(fields["catalog"], "rb") as handle:
                fields["catalog_sha256"] = hashlib.sha256(handle.read()).hexdigest()
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


class RenderWorkerError(RuntimeError):
    """A render process could not start (no EGL, a catalog asset it cannot load); the message says why."""


def check_config(config: GenerateConfig) -> None:
    """Raises ValueError naming the flag of the first value a run cannot use; cheap, so run() calls it before
    rendering anything."""
    problems = [
        (config.num_images < 1, f"--num_images {config.num_images}: expected 1 or more training images"),
        (config.validation_images < 0, f"--validation_images {config.validation_images}: expected 0 or more"),
        (config.num_shards < 1, f"--num_shards {config.num_shards}: expected 1 or more shards"),
        (config.num_workers < 1, f"--num_workers {config.num_workers}: expected 1 or more render processes"),
        (config.chunk_size < 1, f"chunk_size {config.chunk_size}: expected 1 or more images a chunk"),
        (min(config.width, config.height) < 16,
         f"--width/--height {config.width}x{config.height}: expected 16 pixels or more each"),
        (not 0.0 <= config.min_visibility <= 1.0, f"--min_visibility {config.min_visibility}: expected 0 to 1"),
        (config.low_visibility not in ("drop", "difficult"),
         f"--low_visibility {config.low_visibility!r}: expected 'drop' or 'difficult'"),
        (config.seed < 0, f"--seed {config.seed}: expected a non-negative integer"),
        (max(config.products_per_image) < 1,
         f"--products_per_image {config.products_per_image[0]},{config.products_per_image[1]}: expected at least "
         "one labelled product an image (MAX >= 1); the dataset would hold no labels"),
    ]
    for failed, message in problems:
        if failed:
            raise ValueError(message)
    check_output_dir(config.output_dir, "--output_dir")


# --- worker side (no TensorFlow here) --------------------------------------------------------------------
_WORKER: dict = {}


def init_render_worker(config: GenerateConfig) -> None:
    # Ctrl-C reaches the whole process group; the main process alone handles it (it stops the workers): a
    # KeyboardInterrupt raised inside a worker while it held the result queue's lock left the pool waiting forever.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A Pool respawns workers whose initializer raises, forever: keep the error for the first task instead.
    try:
        _setup_worker(config)
    except Exception as error:  # noqa: BLE001 - re-raised by render_chunk in the main process
        _WORKER["error"] = error


def _setup_worker(config: GenerateConfig) -> None:
    os.environ["LP_NUM_THREADS"] = "1"  # one llvmpipe thread: one process per core
    from tfsynth.generate.assets import AssetLibrary
    catalog = catalog_from_flag(config.catalog)
    _WORKER["config"] = config
    _WORKER["catalog"] = catalog
    _WORKER["sampler"] = SamplerConfig(width=config.width, height=config.height, cues=frozenset(config.cues),
                                       products_per_image=config.products_per_image, distractors=config.distractors)
    _WORKER["assets"] = AssetLibrary(catalog)
    _WORKER["policy"] = LabelPolicy(config.min_visibility, config.low_visibility, config.include_masks)
    _renderer()  # the GL context now, so a missing EGL fails before the first chunk


def profile_worker_stages(config: GenerateConfig, num_images: int) -> dict[str, float]:
    """Renders images 0..num_images-1 of the train split in this process, as one worker would (render, labels,
    JPEG, chunk encoding), and returns the mean milliseconds per image of each stage; the renderer's passes are
    timed apart ('render/<pass>'), each waiting for the GL to finish, so their sum is a little above 'render'
    measured alone. For benchmarks: the worker state stays set up in this process."""
    _setup_worker(config)
    render_image(0, 0)  # shaders, meshes and textures are prepared on first use: not part of an image's cost
    stage_seconds: dict[str, float] = {}
    _WORKER["stage_seconds"] = stage_seconds
    renderer = _renderer()
    renderer.stage_seconds = {}
    try:
        for index in range(num_images):
            image = render_image(0, index)
            clock = StageClock(stage_seconds)
            encode_chunk([image])
            clock.lap("chunk_encode")
        stage_seconds.update({f"render/{name}": seconds for name, seconds in renderer.stage_seconds.items()})
    finally:
        _WORKER.pop("stage_seconds", None)
        renderer.stage_seconds = None
    return {name: seconds / max(num_images, 1) * 1000.0 for name, seconds in stage_seconds.items()}


def render_image(split_id: int, index: int) -> dict:
    """One image as plain data: JPEG bytes, size and objects (masks cropped to their boxes, bit-packed)."""
    from PIL import Image
    config: GenerateConfig = _WORKER["config"]
    clock = StageClock(_WORKER.get("stage_seconds"))
    scene = sample_scene(_WORKER["catalog"], _WORKER["sampler"], config.seed, split_id, index)
    clock.lap("sample_scene")
    width, height = scene.camera.width, scene.camera.height
    result = _renderer().render(scene, want_ids=config.include_masks)
    clock.lap("render")
    objects = label_objects(scene, result.stats, result.ids, width, height, _WORKER["policy"],
                            _WORKER["assets"].positions)
    clock.lap("labels")
    buffer = io.BytesIO()
    Image.fromarray(result.image).save(buffer, format="JPEG", quality=scene.post.jpeg_quality)
    clock.lap("jpeg")
    records, masks = [], []
    for obj in objects:
        record = dataclasses.asdict(obj)
        record["mask"] = None
        if obj.mask is not None:  # keep the box crop only: a full-frame mask per object is mostly zeros
            x0, y0, x1, y1 = int(obj.xmin), int(obj.ymin), int(obj.xmax), int(obj.ymax)
            record["mask"] = {"x0": x0, "y0": y0, "rows": y1 - y0, "cols": x1 - x0, "array": len(masks)}
            masks.append(np.packbits(obj.mask[y0:y1, x0:x1], axis=None))
        records.append(record)
    return {"index": index, "encoded": buffer.getvalue(), "objects": records, "width": width, "height": height,
            "masks": masks}


def encode_chunk(images: list[dict]) -> bytes:
    """A chunk of rendered images as an .npz of plain arrays (JSON text, JPEG bytes, packed mask bits).

    No pickle: a chunk cache handed over with a dataset folder is read as data, never run as code.
    """
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for position, image in enumerate(images):
        arrays[f"jpeg_{position}"] = np.frombuffer(image["encoded"], np.uint8)
        for mask_index, bits in enumerate(image["masks"]):
            arrays[f"mask_{position}_{mask_index}"] = bits
        meta.append({key: image[key] for key in ("index", "width", "height", "objects")})
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_chunk(path: str, data: Optional[bytes] = None) -> list[dict]:
    """The images of a chunk written by encode_chunk: the file at `path`, or `data` (then `path` only names it in
    errors); a damaged chunk is an error naming it."""
    try:
        with np.load(path if data is None else io.BytesIO(data), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            images = []
            for position, item in enumerate(meta):
                item["encoded"] = bytes(data[f"jpeg_{position}"])
                for mask_index, record in enumerate(o for o in item["objects"] if o["mask"] is not None):
                    record["mask"]["bits"] = data[f"mask_{position}_{mask_index}"]
                images.append(item)
            return images
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path}: unreadable chunk of rendered images ({error}); delete it and run again to "
                         f"render it anew") from None


def _renderer():
    """The worker's one renderer (one GL context per process; it prepares each frame size on first use)."""
    if "renderer" not in _WORKER:
        from tfsynth.generate.render_gl import GLRenderer
        config = _WORKER["config"]
        _WORKER["renderer"] = GLRenderer(config.width, config.height, config.preset, _WORKER["assets"])
    return _WORKER["renderer"]


def render_chunk(task: tuple[str, int, int, int, str]) -> int:
    """Renders images [start, end) of a split into one chunk file (temporary name, then rename)."""
    if "error" in _WORKER:
        raise RenderWorkerError(f"render worker failed to start: {_WORKER['error']}") from _WORKER["error"]
    split_name, split_id, start, end, path = task
    images = [render_image(split_id, index) for index in range(start, end)]
    write_atomically(path, encode_chunk(images))
    return end - start


def render_encoded(task: tuple[int, int]) -> bytes:
    """Renders image `index` of split `split_id` (a (split_id, index) pair) into a one-image chunk: what the Beam
    runner's render process hands its shard writer, in the same form as the pool's chunk files, so both runners
    turn identical data into records."""
    if "error" in _WORKER:
        raise RenderWorkerError(f"render worker failed to start: {_WORKER['error']}") from _WORKER["error"]
    split_id, index = task
    return encode_chunk([render_image(split_id, index)])


# --- main side --------------------------------------------------------------------------------------------
def chunk_tasks(config: GenerateConfig) -> list[tuple[str, int, int, int, str]]:
    tasks = []
    fingerprint = config.fingerprint()
    counts = {"train": config.num_images, "val": config.validation_images}
    for split_name, split_id in SPLITS:
        folder = os.path.join(config.output_dir, ".chunks", f"{split_name}-{fingerprint}")
        for start in range(0, counts[split_name], config.chunk_size):
            end = min(start + config.chunk_size, counts[split_name])
            tasks.append((split_name, split_id, start, end, os.path.join(folder, f"{start:07d}-{end:07d}.npz")))
    return tasks


def annotation_from_item(item: dict, split_name: str):
    """An ImageAnnotation of one image decoded from a chunk (decode_chunk), masks back to full frame size."""
    from tfsynth.data.annotations import ImageAnnotation, ObjectAnnotation
    objects = []
    for record in item["objects"]:
        mask_info = record.pop("mask")
        obj = ObjectAnnotation(**record)
        if mask_info is not None:
            rows, cols = mask_info["rows"], mask_info["cols"]
            mask = np.zeros((item["height"], item["width"]), np.uint8)
            crop = np.unpackbits(mask_info["bits"], count=rows * cols).reshape(rows, cols)
            mask[mask_info["y0"]:mask_info["y0"] + rows, mask_info["x0"]:mask_info["x0"] + cols] = crop
            obj.mask = mask
        objects.append(obj)
    name = f"{split_name}_{item['index']:06d}.jpg"
    return ImageAnnotation(filename=name, width=item["width"], height=item["height"], objects=objects,
                           encoded=item["encoded"], image_format="jpeg", source_id=f"{split_name}/{item['index']}")


def _load_chunk(path: str, split_name: str):
    for item in decode_chunk(path):
        yield annotation_from_item(item, split_name)


def split_plan(config: GenerateConfig) -> list[tuple[str, int, int, int]]:
    """(split name, split id, images, shards) of each split the run writes: val gets at most 2 shards."""
    counts = {"train": config.num_images, "val": config.validation_images}
    shards = {"train": config.num_shards, "val": max(1, min(config.num_shards, 2))}
    return [(name, split_id, counts[name], shards[name]) for name, split_id in SPLITS if counts[name] > 0]


def categories_of(name_to_id: dict[str, int]) -> list[dict]:
    """COCO categories of the label map, in id order."""
    return [{"id": class_id, "name": name} for name, class_id in sorted(name_to_id.items(), key=lambda p: p[1])]


def _label_map_dict(config: GenerateConfig, catalog: Catalog) -> dict[str, int]:
    from tfsynth.utils import label_map_util
    if config.label_map:
        name_to_id = label_map_util.get_label_map_dict(config.label_map)
        missing = [name for name in catalog.class_names if name not in name_to_id]
        if missing:
            raise ValueError(f"--label_map {config.label_map}: products {missing} of catalog {catalog.source} "
                             f"have no id; add them to the label map or remove them from the catalog")
        return {name: name_to_id[name] for name in catalog.class_names}
    return {name: index + 1 for index, name in enumerate(catalog.class_names)}


def _versions() -> dict:
    import moderngl
    import PIL
    versions = {"python": sys.version.split()[0], "numpy": np.__version__, "moderngl": moderngl.__version__,
                "pillow": PIL.__version__, "platform": platform.platform()}
    try:
        import tfsynth
        versions["tfsynth"] = tfsynth.__version__
    except Exception:  # noqa: BLE001
        pass
    return versions


def _write_json(path: str, data: dict) -> None:
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True))


def _assemble(config: GenerateConfig, catalog: Catalog, tasks, name_to_id: dict[str, int]) -> dict:
    from tfsynth.data.coco_json import write_coco_json
    from tfsynth.data.tfrecord import ShardedTFRecordWriter, annotation_to_example
    categories = categories_of(name_to_id)
    summary = {}
    for split_name, _, _, num_shards in split_plan(config):
        split_tasks = [t for t in tasks if t[0] == split_name]
        annotations = []
        image_dir = os.path.join(config.output_dir, "images", split_name)
        if config.write_images:
            os.makedirs(image_dir, exist_ok=True)
        num_objects = 0
        with ShardedTFRecordWriter(config.output_dir, split_name, num_shards) as writer:
            for task in split_tasks:
                for image in _load_chunk(task[4], split_name):
                    for obj in image.objects:
                        obj.class_id = name_to_id[obj.class_name]
                    writer.write(annotation_to_example(image, name_to_id, include_masks=config.include_masks))
                    num_objects += len(image.objects)
                    if config.write_images:
                        path = os.path.join(image_dir, image.filename)
                        write_atomically(path, image.encoded)
                    if not config.include_masks:
                        image.encoded = None  # COCO JSON needs sizes and boxes only
                        image.path = image.filename
                    annotations.append(image)
        write_coco_json(os.path.join(config.output_dir, f"{split_name}_coco.json"), annotations, categories)
        if config.write_solo:
            from tfsynth.generate.solo_writer import write_solo
            # A generator, not a list: images stream through the writer (masks are full-size arrays).
            write_solo(os.path.join(config.output_dir, f"solo_{split_name}"),
                       _load_chunk_all(split_tasks, split_name), name_to_id,
                       include_masks=config.include_masks)
        summary[split_name] = {"images": len(annotations), "objects": num_objects, "shards": writer.paths}
    return summary


def _remove_stale_outputs(config: GenerateConfig, summary: dict) -> list[str]:
    """Removes what an earlier run left in the output folder and this one did not overwrite (see the module
    docstring); returns the paths, folders ending in os.sep."""
    from tfsynth.data.tfrecord import remove_stale_shards
    removed: list[str] = []
    for split_name, _ in SPLITS:
        written = summary.get(split_name)
        removed += remove_stale_shards(config.output_dir, split_name, written["shards"] if written else [])
        coco = os.path.join(config.output_dir, f"{split_name}_coco.json")
        if written is None and os.path.exists(coco):
            os.remove(coco)
            removed.append(coco)
        count = written["images"] if written and config.write_images else 0
        keep = {f"{split_name}_{index:06d}.jpg" for index in range(count)}
        image_dir = os.path.join(config.output_dir, "images", split_name)
        for path in sorted(glob.glob(os.path.join(glob.escape(image_dir), f"{split_name}_[0-9]*.jpg"))):
            if os.path.basename(path) not in keep:
                os.remove(path)
                removed.append(path)
        solo = os.path.join(config.output_dir, f"solo_{split_name}")
        if not (written and config.write_solo) and os.path.isdir(solo):
            shutil.rmtree(solo)
            removed.append(solo + os.sep)
    if removed:
        logging.warning("removed %d outputs of an earlier run that this run did not overwrite: %s", len(removed),
                        ", ".join(removed[:5]) + (", ..." if len(removed) > 5 else ""))
    return removed


def _render_pending(config: GenerateConfig, pending: list, advance: Callable[[int], object],
                    restarts: int = MAX_POOL_RESTARTS) -> None:
    """Renders the pending chunks in a pool of spawned workers; advance(n) after each chunk.

    A worker that dies (a segmentation fault inside the GL driver was seen once in 4200 images) breaks the pool:
    multiprocessing.Pool would wait forever for its lost chunk, a ProcessPoolExecutor raises BrokenProcessPool.
    The chunks already written stay (each is committed by rename), so a new pool renders only the missing ones,
    and the records are the same as without the crash: a chunk is a pure function of its indices.
    """
    context = multiprocessing.get_context("spawn")  # fresh workers: no inherited GL or TF state
    for attempt in range(restarts + 1):
        remaining = [task for task in pending if not os.path.exists(task[4])]
        if not remaining:
            return
        workers = max(1, min(config.num_workers, len(remaining)))
        try:
            _render_in_pool(concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=context, initializer=init_render_worker, initargs=(config,)), remaining, advance)
            return
        except concurrent.futures.process.BrokenProcessPool as error:
            lost = [task[4] for task in remaining if not os.path.exists(task[4])]
            if attempt == restarts:
                raise RenderWorkerError(
                    f"a render worker died {restarts + 1} times (killed by a signal or out of memory: {error}); "
                    f"{len(lost)} chunks are not rendered, the first {lost[0]}. Rendered chunks are kept: rerun "
                    f"the same command to render the rest") from None
            logging.warning("a render worker died (%s); %d chunks still to render, starting a new pool (%d of %d)",
                           error, len(lost), attempt + 1, restarts)


def _render_in_pool(pool: concurrent.futures.ProcessPoolExecutor, tasks: list,
                    advance: Callable[[int], object]) -> None:
    """Renders tasks on pool, then shuts it down. On Ctrl-C the workers are stopped at once and the interrupt
    goes on: the chunks they were rendering are lost (each is committed by rename, so none is half-written) and a
    rerun renders them."""
    try:
        for future in concurrent.futures.as_completed([pool.submit(render_chunk, task) for task in tasks]):
            advance(future.result())
    except KeyboardInterrupt:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _load_chunk_all(tasks, split_name: str):
    for task in tasks:
        yield from _load_chunk(task[4], split_name)


def run(config: GenerateConfig, progress: bool = True) -> dict:
    """Renders what is not yet rendered, then writes every output; returns the manifest.

    Checks the configuration, the output folder, the catalog, the label map and the preset before rendering.
    """
    from tqdm import tqdm
    started = time.time()
    catalog, name_to_id = prepare(config)
    tasks = chunk_tasks(config)
    pending = [t for t in tasks if not os.path.exists(t[4])]
    for task in pending:
        os.makedirs(os.path.dirname(task[4]), exist_ok=True)
    total = sum(t[3] - t[2] for t in tasks)
    done_before = total - sum(t[3] - t[2] for t in pending)
    render_started = time.time()
    if pending:
        with tqdm(total=total, initial=done_before, unit="img", disable=not progress, desc="rendering") as bar:
            _render_pending(config, pending, bar.update)
    render_seconds = time.time() - render_started
    summary = _assemble(config, catalog, tasks, name_to_id)
    manifest = finish(config, catalog, name_to_id, summary, {"rendered_this_run": total - done_before,
                                                             "render_seconds": render_seconds}, started)
    if not config.keep_chunks:  # the records hold everything now; a rerun renders anew
        shutil.rmtree(os.path.join(config.output_dir, ".chunks"), ignore_errors=True)
    return manifest


def prepare(config: GenerateConfig) -> tuple[Catalog, dict[str, int]]:
    """Every cheap check before rendering (flags, output folder, catalog, label map, preset), in the main process;
    creates the output folder. Returns the catalog and the label map's name -> id."""
    check_config(config)
    catalog = catalog_from_flag(config.catalog)
    name_to_id = _label_map_dict(config, catalog)
    from tfsynth.generate.render_gl import get_preset
    get_preset(config.preset)
    _refuse_foreign_outputs(config, name_to_id)
    os.makedirs(config.output_dir, exist_ok=True)
    return catalog, name_to_id


def _refuse_foreign_outputs(config: GenerateConfig, name_to_id: dict[str, int]) -> None:
    """Refuses an output folder holding shards or a label map that no generate run recorded in its manifest.json
    (another command's, e.g. convert's): this run would replace or delete them. An interrupted generate run (its
    .chunks folder is there) owns whatever it left."""
    from tfsynth.data.tfrecord import refuse_foreign_outputs
    from tfsynth.utils.label_map_util import build_label_map, label_map_to_text
    if os.path.isdir(os.path.join(config.output_dir, ".chunks")):
        return
    known: list[str] = []
    manifest_path = os.path.join(config.output_dir, "manifest.json")
    if os.path.isfile(manifest_path):
        try:
            with open(manifest_path, encoding="utf-8") as handle:
                manifest = json.load(handle)
            outputs = manifest.get("outputs", {}) if isinstance(manifest, dict) else {}
            known = [path for split in outputs.values() if isinstance(split, dict)
                     for path in split.get("shards", []) if isinstance(path, str)]
            known.append(os.path.join(config.output_dir, "label_map.pbtxt"))
        except (OSError, ValueError):
            known = []  # unreadable: nothing there is known to be ours
    refuse_foreign_outputs(config.output_dir, [name for name, _ in SPLITS], known, "--output_dir",
                           label_map_text=label_map_to_text(build_label_map(name_to_id)))


def finish(config: GenerateConfig, catalog: Catalog, name_to_id: dict[str, int], summary: dict, run_info: dict,
           started: float) -> dict:
    """Once the records and COCO JSON are written: stale outputs removed, label_map.pbtxt and manifest.json
    written (run_info's keys added to the manifest). Returns the manifest."""
    from tfsynth.utils.label_map_util import write_label_map
    removed = _remove_stale_outputs(config, summary)
    label_map_path = os.path.join(config.output_dir, "label_map.pbtxt")
    write_label_map(label_map_path, name_to_id)
    manifest = {
        "config": dataclasses.asdict(config),
        "config_fingerprint": config.fingerprint(),
        "catalog": {"source": catalog.source, "products": len(catalog.products),
                    "distractors": len(catalog.distractors)},
        "seeds": {"seed": config.seed, "image_rng": "numpy default_rng([seed, split (0 train, 1 val), index])"},
        "versions": _versions(),
        "outputs": summary,
        "label_map": label_map_path,
        "removed_stale_outputs": removed,
        **run_info,
        "total_seconds": time.time() - started,
    }
    _write_json(os.path.join(config.output_dir, "manifest.json"), manifest)
    return manifest
