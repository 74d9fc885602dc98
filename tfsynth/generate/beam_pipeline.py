"""Generation as an Apache Beam pipeline (`python -m tfsynth.generate --runner NAME`): the same records as the local
pool, on the DirectRunner, Prism, Flink, Spark or Dataflow.

The pipeline is Create(shard tasks) | Reshuffle | ParDo(RenderShard). Each element is one shard (shards.ShardTask);
the worker that takes it renders the shard's images and writes its TFRecord file itself (temporary name, then
rename) and a receipt beside it. No single writer and no state shared between workers, so throughput grows with
workers and machines; a shard's bytes depend on (seed, split, index) and the flags alone, so they are the same
whatever the runner, the number of workers or the order tasks run in. The launcher then writes what is one file
per split or run (COCO JSON from the receipts, label_map.pbtxt, manifest.json), all small.

Rendering: Mesa's llvmpipe and TensorFlow must not share a process (a `tfds build` runs these DoFns in a process
that has TensorFlow), and a GL driver crash must not take the Beam worker down. So each worker process starts one
render process (spawned, so it inherits neither GL nor TensorFlow state) in DoFn.setup; it makes its EGL context
once and renders every image that worker is given, one at a time. The worker turns each image into its Example and
writes it while the next renders.

Resume: a shard whose file and receipt agree (receipt key, file size) is not planned again; a run that failed or
was stopped redoes only the missing shards. Receipts are removed after a successful run unless --keep_chunks,
as the pool's chunks are.
"""
from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import re
import shutil
import threading
import time
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from tfsynth.generate import shards
from tfsynth.generate.pipeline import (MAX_POOL_RESTARTS, GenerateConfig, RenderWorkerError, annotation_from_item,
                                       categories_of, decode_chunk, finish, init_render_worker, prepare,
                                       render_encoded, split_plan)
from tfsynth.utils.files import write_atomically

_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_]*(=.*)?$")


DIRECT_RUNNERS = ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def pipeline_options(runner: str, options_text: str, num_workers: int,
                     num_workers_given: bool = False) -> PipelineOptions:
    """Beam's options from --runner and --beam_pipeline_options ('NAME=VALUE,NAME=VALUE', TFDS's form; a bare NAME
    sets a boolean option). For the DirectRunner, unless the options say otherwise, --num_workers worker processes
    run the pipeline (direct_running_mode=multi_processing, direct_num_workers=--num_workers): Beam's own default is
    one worker thread. Raises ValueError naming the flag for an unknown runner or option, a malformed item, or a
    --num_workers the run would ignore (given with another runner, or beside direct_num_workers)."""
    from apache_beam.runners.runner import create_runner
    try:
        create_runner(runner)
    except (ValueError, ImportError) as error:
        raise ValueError(f"--runner {runner}: not a Beam runner this installation knows ({error}); e.g. "
                         "DirectRunner, PrismRunner, FlinkRunner, DataflowRunner") from None
    items = [item.strip() for item in (options_text or "").split(",") if item.strip()]
    names = []
    for item in items:
        if not _OPTION.match(item):
            raise ValueError(f"--beam_pipeline_options: {item!r}: expected NAME=VALUE items separated by commas, "
                             "e.g. 'direct_running_mode=multi_processing,direct_num_workers=2'")
        names.append(item.split("=", 1)[0])
    if "runner" in names:
        raise ValueError("--beam_pipeline_options: names 'runner'; give the runner with --runner alone")
    if num_workers_given and runner not in DIRECT_RUNNERS:
        raise ValueError(f"--num_workers: {runner} does not read it (it counts the local pool's and the "
                         "DirectRunner's workers); give the runner's own parallelism in --beam_pipeline_options, "
                         "e.g. parallelism=N for Flink, max_num_workers=N for Dataflow")
    if num_workers_given and "direct_num_workers" in names:
        raise ValueError("--num_workers and --beam_pipeline_options direct_num_workers both set the DirectRunner's "
                         "workers; give one of them")
    flags = [f"--runner={runner}"] + [f"--{item}" for item in items]
    if runner in DIRECT_RUNNERS:
        if "direct_running_mode" not in names:
            flags.append("--direct_running_mode=multi_processing")
        if "direct_num_workers" not in names:
            flags.append(f"--direct_num_workers={num_workers}")
    if "default_sdk_harness_log_level" not in names:  # workers' INFO lines would bury the command's output
        flags.append("--default_sdk_harness_log_level=WARNING")
    options = PipelineOptions(flags)
    known = options.get_all_options(drop_default=False)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"--beam_pipeline_options: unknown option(s) {unknown}: not among the options of Beam "
                         "and its runners (e.g. direct_num_workers, flink_master, project, region, temp_location)")
    return options


# --- worker side: one render process per worker process, shared by the DoFn instances it runs ------------------
_RENDER_LOCK = threading.Lock()
# config -> [render process (a one-process ProcessPoolExecutor), DoFn instances set up with it]. Keyed by the
# configuration: Beam need not call teardown, so a later pipeline in the same process never gets another config's.
_RENDER: dict = {}


def _start_render_process(config: GenerateConfig) -> concurrent.futures.ProcessPoolExecutor:
    # Spawned, not forked: a fork would carry any TensorFlow this process loaded (and Beam's threads) into the
    # process that opens the GL context. An executor, not multiprocessing.Pool: when its process dies (a segmentation
    # fault in the GL driver was seen once in 4200 images) it raises BrokenProcessPool where a Pool waits forever.
    return concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=init_render_worker, initargs=(config,))


def _render_pool(config: GenerateConfig) -> concurrent.futures.ProcessPoolExecutor:
    """The worker process's render process for `config`, started on first use."""
    with _RENDER_LOCK:
        if config not in _RENDER:
            _RENDER[config] = [_start_render_process(config), 0]
        _RENDER[config][1] += 1
        return _RENDER[config][0]


def _replace_render_pool(config: GenerateConfig, broken) -> concurrent.futures.ProcessPoolExecutor:
    """A new render process in place of `broken` (one that died); another DoFn instance may have replaced it
    already, then that one."""
    with _RENDER_LOCK:
        entry = _RENDER.setdefault(config, [broken, 1])
        if entry[0] is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            entry[0] = _start_render_process(config)
        return entry[0]


def _release_render_pool(config: GenerateConfig) -> None:
    with _RENDER_LOCK:
        entry = _RENDER.get(config)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                _RENDER.pop(config)[0].shutdown(wait=False, cancel_futures=True)


class RenderingDoFn(beam.DoFn):
    """A DoFn that renders: setup gives it its worker process's render process (self.render_pool, whose
    render_encoded((split_id, index)) returns a one-image chunk); rendered() yields the images. Subclasses write
    what they render."""

    def __init__(self, config: GenerateConfig):
        super().__init__()
        self._config = config
        self.render_pool = None

    def setup(self) -> None:
        # The render process and its EGL context, once per worker process, before the first element.
        self.render_pool = _render_pool(self._config)

    def teardown(self) -> None:
        if self.render_pool is not None:
            self.render_pool = None
            _release_render_pool(self._config)

    def rendered(self, split_name: str, split_id: int, indices):
        """ImageAnnotations of images `indices` of a split, in order; the render process works on the next images
        while the caller handles this one. A render process that dies is replaced (up to MAX_POOL_RESTARTS times)
        and rendering goes on at the image it lost: an image is a pure function of its index, so the output is the
        same as without the crash."""
        remaining = list(indices)
        for restart in range(MAX_POOL_RESTARTS + 1):
            try:
                chunks = self.render_pool.map(render_encoded, [(split_id, index) for index in remaining])
                for chunk in chunks:
                    index = remaining.pop(0)
                    item = decode_chunk(f"image {split_name}/{index} from the render process", chunk)[0]
                    yield annotation_from_item(item, split_name)
                return
            except concurrent.futures.process.BrokenProcessPool as error:
                if restart == MAX_POOL_RESTARTS:
                    raise RenderWorkerError(
                        f"a render process died {restart + 1} times ({error}); image {split_name}/{remaining[0]} "
                        "is not rendered. Shards already written are kept: rerun the same command for the "
                        "rest") from None
                logging.warning("a render process died (%s) before image %s/%d; starting a new one (%d of %d)",
                                error, split_name, remaining[0], restart + 1, MAX_POOL_RESTARTS)
                self.render_pool = _replace_render_pool(self._config, self.render_pool)


class RenderShard(RenderingDoFn):
    """Renders one shard's images and writes its TFRecord file, its JPEGs (--write_images) and its receipt;
    yields (split name, shard index)."""

    def __init__(self, config: GenerateConfig, name_to_id: dict[str, int]):
        super().__init__(config)
        self._name_to_id = name_to_id

    def process(self, task: shards.ShardTask):
        from tfsynth.data.coco_json import coco_entries
        from tfsynth.data.tfrecord import annotation_to_example, serialize_example, write_shard
        started = time.time()
        config, name_to_id = self._config, self._name_to_id
        entries, counts = [], {"objects": 0}
        image_dir = os.path.join(config.output_dir, "images", task.split_name)

        def records():
            for image in self.rendered(task.split_name, task.split_id, task.indices):
                for obj in image.objects:
                    obj.class_id = name_to_id[obj.class_name]
                yield serialize_example(annotation_to_example(image, name_to_id, include_masks=config.include_masks))
                if config.write_images:
                    write_atomically(os.path.join(image_dir, image.filename), image.encoded)
                entries.append(coco_entries(image, name_to_id))
                counts["objects"] += len(image.objects)

        write_shard(task.path, records())
        shards.write_receipt(task, entries, counts["objects"])
        logging.info("%s: %d images in %.1f s", task.path, len(entries), time.time() - started)
        yield task.split_name, task.shard_index


# --- launcher side ------------------------------------------------------------------------------------------
def _run_pipeline(options: PipelineOptions, pending: list[shards.ShardTask], config: GenerateConfig,
                  name_to_id: dict[str, int], runner: str) -> None:
    """Runs the Beam pipeline over the pending shards; a render process that could not start is reported as
    RenderWorkerError (the runner wraps worker errors in its own exception with the worker's traceback as text)."""
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = (pipeline
                 | "Shards" >> beam.Create(pending)
                 # Breaks fusion with Create, so that the runner deals the shards out to its workers.
                 | "Spread" >> beam.Reshuffle()
                 | "RenderShard" >> beam.ParDo(RenderShard(config, name_to_id)))
    except Exception as error:  # noqa: BLE001 - re-raised unchanged unless it is a worker's RenderWorkerError
        text = str(error)
        if "RenderWorkerError" not in text:
            raise
        line = next(line for line in text.splitlines() if "RenderWorkerError" in line)
        raise RenderWorkerError(f"--runner {runner}: {line.split('RenderWorkerError:', 1)[-1].strip()}") from None


def run(config: GenerateConfig, runner: str, options_text: Optional[str] = None,
        num_workers_given: bool = False) -> dict:
    """Generation on a Beam runner: renders the shards not yet written, then writes the COCO JSON, label map and
    manifest; returns the manifest (as pipeline.run, plus "runner"). num_workers_given: --num_workers was on the
    command line (not its default), so a runner that would ignore it refuses it."""
    started = time.time()
    if config.write_solo:
        raise ValueError(f"--write_solo with --runner {runner}: the SOLO writer is one sequential writer per split, "
                         "so only the local pool writes it; run without --runner, or convert the shards instead")
    options = pipeline_options(runner, options_text, config.num_workers, num_workers_given)
    catalog, name_to_id = prepare(config)
    tasks = shards.shard_tasks(config, name_to_id)
    receipts = {task.path: shards.read_receipt(task) for task in tasks}
    pending = [task for task in tasks if receipts[task.path] is None]
    for task in pending:
        os.makedirs(os.path.dirname(task.receipt_path), exist_ok=True)
    if config.write_images:
        for split_name, *_ in split_plan(config):
            os.makedirs(os.path.join(config.output_dir, "images", split_name), exist_ok=True)
    render_started = time.time()
    if pending:
        _run_pipeline(options, pending, config, name_to_id, runner)
    render_seconds = time.time() - render_started
    summary = _write_coco(config, tasks, name_to_id)
    run_info = {"rendered_this_run": sum(len(task.indices) for task in pending), "render_seconds": render_seconds,
                "runner": {"name": runner, "pipeline_options": options.get_all_options(drop_default=True)}}
    manifest = finish(config, catalog, name_to_id, summary, run_info, started)
    if not config.keep_chunks:  # as the pool's chunks: the records hold everything now
        shutil.rmtree(os.path.join(config.output_dir, shards.RECEIPTS_DIR), ignore_errors=True)
    return manifest


def _write_coco(config: GenerateConfig, tasks: list[shards.ShardTask], name_to_id: dict[str, int]) -> dict:
    """Each split's COCO JSON from its shards' receipts; returns the manifest's per-split summary."""
    from tfsynth.data.coco_json import coco_from_entries, write_coco_dict
    categories = categories_of(name_to_id)
    summary = {}
    for split_name, *_ in split_plan(config):
        split_tasks = [task for task in tasks if task.split_name == split_name]
        receipts = {task.path: shards.read_receipt(task) for task in split_tasks}
        missing = [path for path, receipt in receipts.items() if receipt is None]
        if missing:  # the runner said it succeeded: a worker wrote elsewhere than this machine reads
            raise RenderWorkerError(f"--output_dir {config.output_dir}: the pipeline finished but shards "
                                    f"{missing[:3]} or their receipts are missing; every worker must write to a "
                                    "folder the launcher reads (a shared file system)")
        entries = shards.split_coco_entries(split_tasks, receipts)
        write_coco_dict(os.path.join(config.output_dir, f"{split_name}_coco.json"),
                        coco_from_entries(entries, categories))
        summary[split_name] = {"images": len(entries), "objects": sum(r["objects"] for r in receipts.values()),
                               "shards": [task.path for task in split_tasks]}
    return summary
