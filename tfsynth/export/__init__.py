"""Exporting a trained detection model: SavedModel in the TF2 Detection Zoo layout, and TFLite for SSD."""
