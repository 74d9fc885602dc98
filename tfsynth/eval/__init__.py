"""Detection metrics: COCO (pycocotools) and PASCAL VOC, and the builder that picks them from eval_config."""
