"""TensorFlow Datasets builders of tfsynth's data: `import tfsynth.datasets` registers them with TFDS.

`tfsynth_renders` renders scenes as `python -m tfsynth.generate` does (a Beam pipeline: `tfds build` with
--beam_pipeline_options), configured by catalog, cues, preset, number of images and seed. `tfsynth_real` reads a
labelled photo set through tfsynth's readers (VOC, COCO, CNTK, SOLO).
"""
from tfsynth.datasets.real import RealConfig, TfsynthReal
from tfsynth.datasets.renders import RendersConfig, TfsynthRenders

__all__ = ["RealConfig", "RendersConfig", "TfsynthReal", "TfsynthRenders"]
