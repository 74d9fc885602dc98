"""Keras feature extractors with the OD API's structure and variable names."""
