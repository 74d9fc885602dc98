"""`tfsynth_real`: a TensorFlow Datasets builder of a labelled photo set, read through tfsynth's readers (VOC, COCO,
CNTK, SOLO: tfsynth.data.readers), with the classes of a label map.

A photo set is the user's own, so the builder has no fixed configs: a RealConfig names the format, the path the
reader takes (as `python -m tfsynth.convert --input_path`) and the label map, e.g.
    tfds build tfsynth_real --imports tfsynth.datasets --data_dir data/tfds --config \
        '{"name": "fridge", "input_format": "cntk", "input_path": "shared/data/real/cntk_fridge_us",
          "label_map": "configs/fridge_us_label_map.pbtxt"}'
Features are tfsynth_renders' (image, image/filename, objects with bbox, label, difficult, visibility); label k is
the label map's k-th class in id order. One split, "test": real photos are only ever evaluated on.
"""
from __future__ import annotations

import tensorflow_datasets as tfds

from tfsynth.data.annotations import box_problem
from tfsynth.data.readers import FORMATS, get_reader
from tfsynth.datasets.features import example_of, object_features

VERSION = tfds.core.Version("1.0.0")


class RealConfig(tfds.core.BuilderConfig):
    """Which photo set: input_format (one of FORMATS), input_path (what that reader takes), label_map (a
    label_map.pbtxt naming every class the photos hold)."""

    def __init__(self, *, input_format: str, input_path: str, label_map: str, **kwargs):
        kwargs.setdefault("version", VERSION)
        super().__init__(**kwargs)
        if input_format not in FORMATS:
            raise ValueError(f"input_format {input_format!r}: expected one of {', '.join(FORMATS)}")
        self.input_format, self.input_path, self.label_map = input_format, input_path, label_map

    def class_names(self) -> list[str]:
        """The label map's class names in id order."""
        from tfsynth.utils.label_map_util import get_label_map_dict
        name_to_id = get_label_map_dict(self.label_map)
        return [name for name, _ in sorted(name_to_id.items(), key=lambda item: item[1])]


class TfsynthReal(tfds.core.GeneratorBasedBuilder):
    """Labelled photos (VOC, COCO, CNTK or SOLO) as a TFDS dataset."""

    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "First release: any photo set tfsynth's readers read."}
    BUILDER_CONFIG_CLASS = RealConfig
    # The project's own real photos, where the main job finds them (paths from the repository root). Any other set
    # is a RealConfig given as JSON to `tfds build --config` (see the module docstring).
    BUILDER_CONFIGS = [
        RealConfig(name="fridge_us", description="The real fridge photos of ../shared/data/real (CNTK layout)",
                   input_format="cntk", input_path="../shared/data/real/cntk_fridge_us",
                   label_map="configs/fridge_us_label_map.pbtxt"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=object_features(self.builder_config.class_names()))

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # the photos are where input_path says
        return {"test": self._generate_examples()}

    def _generate_examples(self):
        config = self.builder_config
        known = set(config.class_names())
        for image in get_reader(config.input_format)(config.input_path):
            for obj in image.objects:
                problem = box_problem(obj, image.width, image.height)
                if obj.class_name not in known or problem:
                    raise ValueError(f"{config.input_path}: image {image.filename!r}: "
                                     + (problem or f"class {obj.class_name!r} is not in {config.label_map}")
                                     + "; python -m tfsynth.convert --on_error=skip --clip_boxes converts such "
                                     "sets, leaving out or clipping what cannot be used")
            image.encoded = image.read_encoded()
            yield image.filename, example_of(image)

