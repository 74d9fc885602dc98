"""tfsynth.training package."""
