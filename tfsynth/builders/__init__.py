"""tfsynth.builders package."""
