"""tfsynth: train TensorFlow object detectors on synthetic images, with the OD API's configs and commands."""
__version__ = "0.1.0"
