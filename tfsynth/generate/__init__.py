"""Synthetic fridge scenes with exact labels: catalog -> sampler (cues) -> scene -> GL renderer -> labeller -> writers.

Importing this package does not import TensorFlow, so render workers stay small; only the pipeline's writer
process converts annotations to tf.train.Example.
"""
