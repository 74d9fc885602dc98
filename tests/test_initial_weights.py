"""Every layer of a model starts from its own random draw.

Keras initializers without a seed give the same values each time one instance is called, so layers built from
one config block (one conv_hyperparams) used to start with identical kernels wherever their shapes agreed: 28 of
the SSDLite's 88 kernels and 56 of EfficientDet D0's 152 had an identical twin. The OD API's layers draw anew
each (TF1-style initializers); a model trained from scratch, or a head trained on top of a restored backbone,
needs that. Models are built from their configs at small sizes, random weights as created.
"""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from google.protobuf import text_format

from tfsynth.builders import model_builder
from tfsynth.protos import pipeline_pb2
from tfsynth.utils.shared_data import SHARED_DATA

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
SAMPLES = SHARED_DATA / "odapi_reference" / "configs_tf2"


@pytest.mark.parametrize("path, size", [
    (CONFIGS / "ssdlite_fridge_quick.config", 128),
    (SAMPLES / "ssd_efficientdet_d0_512x512_coco17_tpu-8.config", 256),
    (SAMPLES / "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config", 256),
    (CONFIGS / "faster_rcnn_resnet50_fridge.config", 128),
])
def test_no_two_kernels_start_equal(path, size):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(path.read_text(), config)
    meta = getattr(config.model, config.model.WhichOneof("model"))
    resizer = meta.image_resizer
    resizer.Clear()
    text_format.Merge(f"fixed_shape_resizer {{ height: {size} width: {size} }}", resizer)
    tf_keras.backend.clear_session()
    model = model_builder.build(config.model, is_training=True)
    images, shapes = model.preprocess(tf.zeros([1, size, size, 3]))
    model.predict(images, shapes)
    kernels = [v for v in model.variables if "kernel" in v.name and int(np.prod(v.shape)) > 1]
    assert len(kernels) > 20
    first_seen = {}
    twins = []
    for variable in kernels:
        values = variable.numpy()
        key = (values.shape, values.tobytes())
        if key in first_seen:
            twins.append(f"{variable.name} = {first_seen[key]}")
        first_seen.setdefault(key, variable.name)
    assert not twins, f"{len(twins)} of {len(kernels)} kernels start equal to another: {twins[:3]}"
