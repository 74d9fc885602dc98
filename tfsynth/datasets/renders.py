"""`tfsynth_renders`: a TensorFlow Datasets builder whose examples are tfsynth's renders.

`tfds build` runs it as an Apache Beam pipeline (TFDS's Beam support, `--beam_pipeline_options`): each element is a
run of image indices of a split, rendered by the worker that takes it through the generator's render process
(tfsynth.generate.beam_pipeline.RenderingDoFn: one per worker process, EGL context made once). Images are the same
JPEGs that `python -m tfsynth.generate` writes for the same seed and flags: both sample image i of a split from
(seed, split, i) alone.

Features: image (JPEG), image/filename, objects (bbox: tfds BBoxFeature, normalized ymin/xmin/ymax/xmax; label:
ClassLabel of the catalog's products in catalog order, so label k is the label map's id k + 1 of a run without
--label_map; difficult; visibility). Splits: train (num_images) and validation (validation_images, seeded apart).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import tensorflow_datasets as tfds

from tfsynth.datasets.features import object_features
from tfsynth.generate.catalog import catalog_from_flag
from tfsynth.generate.pipeline import GenerateConfig
from tfsynth.generate.sampler import parse_cues, parse_range

# Indices handed to a worker at once: enough that the render process always has the next image queued.
RUN_LENGTH = 25
VERSION = tfds.core.Version("1.0.0")


class RendersConfig(tfds.core.BuilderConfig):
    """What the renders vary and how many there are; the fields mean what generate's flags of the same names do."""

    def __init__(self, *, catalog: str = "default", cues: str = "all", preset: str = "fast", num_images: int = 100,
                 validation_images: int = 20, seed: int = 0, width: int = 640, height: int = 480,
                 products_per_image: str = "4,36", distractors: str = "0,4", min_visibility: float = 0.15,
                 low_visibility: str = "drop", **kwargs):
        kwargs.setdefault("version", VERSION)
        super().__init__(**kwargs)
        self.catalog, self.cues, self.preset, self.seed = catalog, cues, preset, seed
        self.num_images, self.validation_images, self.width, self.height = num_images, validation_images, width, height
        self.products_per_image, self.distractors = products_per_image, distractors
        self.min_visibility, self.low_visibility = min_visibility, low_visibility

    def generate_config(self) -> GenerateConfig:
        """The generator's configuration of these renders; ValueError naming the field of a value it refuses."""
        from tfsynth.generate.pipeline import check_config
        config = GenerateConfig(
            output_dir="unused", num_images=self.num_images, validation_images=self.validation_images,
            seed=self.seed, catalog=self.catalog, preset=self.preset, cues=tuple(sorted(parse_cues(self.cues))),
            products_per_image=parse_range(self.products_per_image, "products_per_image"),
            distractors=parse_range(self.distractors, "distractors"), width=self.width, height=self.height,
            min_visibility=self.min_visibility, low_visibility=self.low_visibility)
        check_config(dataclasses.replace(config, output_dir="."))  # the output check: TFDS owns its own folder
        return config


class TfsynthRenders(tfds.core.GeneratorBasedBuilder):
    """Randomized fridge scenes with exact boxes, rendered on the CPU (Mesa EGL)."""

    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "First release: renders of tfsynth.generate, boxes and class labels."}
    BUILDER_CONFIG_CLASS = RendersConfig
    BUILDER_CONFIGS = [
        RendersConfig(name="tiny", description="8 + 4 small fast-preset renders: a smoke test", num_images=8,
                      validation_images=4, width=64, height=48),
        RendersConfig(name="quick", description="The quick recipe's size: 1000 + 100 renders, 640x480",
                      num_images=1000, validation_images=100, preset="default"),
        RendersConfig(name="paper", description="The paper's 4000 renders (+ 400 validation), 640x480",
                      num_images=4000, validation_images=400, preset="default"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        names = catalog_from_flag(self.builder_config.catalog).class_names
        return self.dataset_info_from_configs(features=object_features(names))

    def _split_generators(self, dl_manager: tfds.download.DownloadManager, pipeline: Optional[object] = None):
        del dl_manager, pipeline  # nothing to download: every image is rendered
        config = self.builder_config.generate_config()
        splits = {"train": self._generate_examples(config, "train", 0, config.num_images)}
        if config.validation_images:
            splits["validation"] = self._generate_examples(config, "val", 1, config.validation_images)
        return splits

    def _generate_examples(self, config: GenerateConfig, split_name: str, split_id: int, count: int):
        import apache_beam as beam
        from tfsynth.datasets.render_examples import RenderExamples  # Beam only when building
        runs = [(start, min(start + RUN_LENGTH, count)) for start in range(0, count, RUN_LENGTH)]
        return (beam.Create(runs)
                | "Spread" >> beam.Reshuffle()  # after Create, so the runner deals the runs out to its workers
                | "Render" >> beam.ParDo(RenderExamples(config, split_name, split_id)))
