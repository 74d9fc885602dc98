"""The Beam DoFn of the tfsynth_renders builder, apart from it so that `import tfsynth.datasets` (what tfds.load of
a built dataset needs) does not need apache-beam."""
from __future__ import annotations

from tfsynth.datasets.features import example_of
from tfsynth.generate.beam_pipeline import RenderingDoFn
from tfsynth.generate.pipeline import GenerateConfig


class RenderExamples(RenderingDoFn):
    """Renders a run [start, end) of a split's indices; yields (image file name, example) pairs (TFDS's keys)."""

    def __init__(self, config: GenerateConfig, split_name: str, split_id: int):
        super().__init__(config)
        self._split_name = split_name
        self._split_id = split_id

    def process(self, run: tuple[int, int]):
        for image in self.rendered(self._split_name, self._split_id, range(*run)):
            yield image.filename, example_of(image)
