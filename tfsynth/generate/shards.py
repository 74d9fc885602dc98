"""Generation cut into shards, each one task that renders its images and writes its TFRecord file alone: the unit of
work of the Beam runner (tfsynth.generate.beam_pipeline).

The pool's writer deals records round-robin (record i of a split into shard i % N), so shard k holds the images
k, k + N, k + 2N, ... in index order; a task that renders exactly those writes the same file as the pool, on any
worker, in any order of tasks. Beside each finished shard a small JSON file (its "receipt", under
OUTPUT_DIR/.shards/) keeps what the split's COCO JSON needs of its images, so the COCO file is assembled without
reading the records back, and a rerun after a failure skips a shard whose receipt and file agree.

No Beam or GL here: the launcher plans and assembles with these functions, the workers write receipts with them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
from typing import Optional

from tfsynth.data.tfrecord import shard_filename
from tfsynth.generate.pipeline import GenerateConfig, split_plan
from tfsynth.utils.files import write_atomically

RECEIPTS_DIR = ".shards"


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """One shard of one split: which images it holds and where its file and receipt go."""
    split_name: str
    split_id: int
    shard_index: int
    num_shards: int
    split_images: int  # images in the whole split
    path: str  # the shard file, NAME-0000k-of-0000N.tfrecord in the output folder
    receipt_path: str
    key: str  # what the shard's bytes depend on (see shard_key); a receipt with another key is not this shard's

    @property
    def indices(self) -> range:
        """The split's image indices this shard holds, in the order they are written."""
        return range(self.shard_index, self.split_images, self.num_shards)


def shard_key(config: GenerateConfig, split_name: str, split_images: int, num_shards: int,
              name_to_id: dict[str, int]) -> str:
    """Hash of everything a shard's bytes depend on beyond its index: the rendering (config fingerprint), which
    images fall in it (split size, shard count), the class ids written (label map), and whether its JPEGs were also
    written as files (a shard resumed from a run without --write_images would lack them)."""
    data = {"fingerprint": config.fingerprint(), "split": split_name, "images": split_images, "shards": num_shards,
            "label_map": sorted(name_to_id.items()), "write_images": config.write_images}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def shard_tasks(config: GenerateConfig, name_to_id: dict[str, int]) -> list[ShardTask]:
    """Every shard of every split the run writes, splits in order, shards by index."""
    tasks = []
    for split_name, split_id, count, num_shards in split_plan(config):
        key = shard_key(config, split_name, count, num_shards, name_to_id)
        folder = os.path.join(config.output_dir, RECEIPTS_DIR, f"{split_name}-{key}")
        for index in range(num_shards):
            name = shard_filename(split_name, index, num_shards)
            tasks.append(ShardTask(split_name, split_id, index, num_shards, count,
                                   os.path.join(config.output_dir, name), os.path.join(folder, name + ".json"), key))
    return tasks


def write_receipt(task: ShardTask, entries: list, num_objects: int) -> None:
    """Records a finished shard: call once its file is in place. `entries` are coco_json.coco_entries pairs of its
    images in shard order."""
    receipt = {"key": task.key, "shard": os.path.basename(task.path), "bytes": os.path.getsize(task.path),
               "objects": num_objects, "worker": f"{socket.gethostname()}:{os.getpid()}", "coco_entries": entries}
    # Key order kept: the COCO file repeats it, and coco_dict's order is the one every writer must produce.
    write_atomically(task.receipt_path, json.dumps(receipt))


def read_receipt(task: ShardTask) -> Optional[dict]:
    """The receipt of a finished shard, or None when the shard is to be (re)written: no receipt, a damaged or
    foreign one (another key), or a shard file missing or of another size than the receipt says."""
    try:
        with open(task.receipt_path, encoding="utf-8") as handle:
            receipt = json.load(handle)
        if receipt.get("key") != task.key or os.path.getsize(task.path) != receipt.get("bytes"):
            return None
        if len(receipt["coco_entries"]) != len(task.indices):
            return None
        return receipt
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable receipt only costs the shard's rendering again


def split_coco_entries(tasks: list[ShardTask], receipts: dict[str, dict]) -> list:
    """The COCO entries of one split's images in index order, from its shards' receipts (keyed by shard path):
    image i is entry i // N of shard i % N."""
    by_shard = {task.shard_index: receipts[task.path]["coco_entries"] for task in tasks}
    num_shards = tasks[0].num_shards
    return [by_shard[index % num_shards][index // num_shards] for index in range(tasks[0].split_images)]
