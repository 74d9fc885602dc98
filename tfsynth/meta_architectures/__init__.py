"""Detection meta-architectures (DetectionModel implementations)."""
