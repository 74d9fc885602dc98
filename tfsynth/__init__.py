"""tfsynth: train TensorFlow object detectors on synthetic images, with the OD API's configs and commands."""
import os as _os

# tfsynth's models are tf_keras models, so TensorFlow's own `tf.keras` must be tf_keras too (as the OD API requires
# on TF 2.16+): then nothing mixes the two Keras, and `import tensorflow` skips loading Keras 3, 1.2-1.9 s of every
# command's start-up. Only a default: a value the user set is kept, and a process that imported TensorFlow before
# tfsynth has already chosen.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
