"""The features of tfsynth's TFDS builders and an image's example in them: one layout for renders and photos, so a
model reads either the same way."""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from tfsynth.data.annotations import ImageAnnotation


def object_features(class_names: list[str]) -> tfds.features.FeaturesDict:
    """The features of tfsynth's builders: the image file's own bytes (JPEG or PNG, decoded by tfds.load), its file
    name, and its objects (normalized boxes, class labels in `class_names` order, difficult, visibility)."""
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "image/filename": tfds.features.Text(),
        "objects": tfds.features.Sequence({
            "bbox": tfds.features.BBoxFeature(),
            "label": tfds.features.ClassLabel(names=class_names),
            "difficult": np.bool_,
            "visibility": np.float32,
        }),
    })


def example_of(image: ImageAnnotation) -> dict:
    """An ImageAnnotation (absolute pixel boxes) as this builder's example dict."""
    width, height = float(image.width), float(image.height)
    objects = image.objects
    return {
        "image": image.encoded,
        "image/filename": image.filename,
        "objects": {
            "bbox": [tfds.features.BBox(ymin=o.ymin / height, xmin=o.xmin / width, ymax=o.ymax / height,
                                        xmax=o.xmax / width) for o in objects],
            "label": [o.class_name for o in objects],
            "difficult": [bool(o.difficult) for o in objects],
            "visibility": [float(o.visibility) for o in objects],
        },
    }
