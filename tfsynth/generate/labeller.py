"""Instance ids -> labelled objects: tight boxes of the visible part, visibility, truncation, masks.

Visible fraction = visible pixels / pixels the object covers in the frame when drawn alone. Both counts come
from the GPU in the same frame (render_gl.py): visible pixels from the id attachment (MSAA sample 0),
unoccluded pixels from the coverage pass, which rasterizes every labelled object with the depth test off and
sets one bit per object and pixel (so an object's own overdraw counts once). The two are rasterized with the
same geometry and transforms; with MSAA the id sample sits off the pixel centre, so the ratio is clamped to 1.
An object is truncated when its unoccluded coverage touches the image border.

A truncated object's visible fraction also counts the part the border cuts off, so that the same threshold drops a
sliver at the border as it drops a product hidden behind others: both leave too little to tell what it is (Pascal
VOC's annotators leave such objects out). The cut-off share is measured on the projected box of the object's
vertices: the box's area inside the frame over its whole area. For the rounded and boxy silhouettes of packs that is
close to the silhouette's own share; the coverage pass cannot give it, since it only rasterizes inside the frame.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from tfsynth.data.annotations import ObjectAnnotation
from tfsynth.generate.scene import Camera, Scene

MIN_VISIBLE_PIXELS = 4  # fewer visible pixels than this is no object at all


@dataclasses.dataclass(frozen=True)
class LabelPolicy:
    min_visibility: float = 0.15
    low_visibility: str = "drop"  # drop | difficult
    include_masks: bool = False


def in_frame_share(positions: np.ndarray, model: np.ndarray, camera: Camera) -> float:
    """The share of an object's projected extent that lies inside the camera's frame: the area of the box around
    its projected vertices (`positions` [N, 3] in its own frame, placed by `model`) within the image, over the
    box's whole area.

    An object reaching behind the near plane has no finite projected extent (its edges towards the camera sweep
    across and beyond the frame), so no share can be measured: it counts as wholly in frame (1.0), leaving its
    visibility to what the frame shows."""
    world = positions @ model[:3, :3].T + model[:3, 3]
    clip = np.c_[world, np.ones(len(world))] @ (camera.projection_matrix() @ camera.view_matrix()).T
    if not (clip[:, 3] > camera.near).all():
        return 1.0
    ndc = clip[:, :2] / clip[:, 3:4]
    (x0, y0), (x1, y1) = ndc.min(axis=0), ndc.max(axis=0)
    whole = (x1 - x0) * (y1 - y0)
    if whole <= 0.0:
        return 1.0
    inside = max(0.0, min(x1, 1.0) - max(x0, -1.0)) * max(0.0, min(y1, 1.0) - max(y0, -1.0))
    return float(inside / whole)


def label_objects(scene: Scene, stats: np.ndarray, ids: Optional[np.ndarray], width: int, height: int,
                  policy: LabelPolicy, mesh_positions: Callable[[str], np.ndarray]) -> list[ObjectAnnotation]:
    """ObjectAnnotations (absolute pixel boxes, row 0 at the top) of the scene's labelled objects.

    mesh_positions: a mesh key -> its vertex positions [N, 3], for the share of a truncated object that the
    border cuts off (see the module docstring)."""
    objects = []
    for obj in scene.labelled:
        row = stats[obj.instance_id]
        visible, covered = int(row[0]), int(row[5])
        if visible < MIN_VISIBLE_PIXELS:
            continue
        truncated = bool(covered and (row[6] == 0 or row[7] == 0 or row[8] >= width - 1 or row[9] >= height - 1))
        visibility = min(1.0, visible / max(covered, 1))
        if truncated:
            visibility *= in_frame_share(mesh_positions(obj.mesh_key), obj.model, scene.camera)
        difficult = False
        if visibility < policy.min_visibility:
            if policy.low_visibility == "drop":
                continue
            difficult = True
        # GPU rows count from the bottom; boxes are [min, max + 1) in pixels.
        xmin, xmax = float(row[1]), float(row[3]) + 1.0
        ymin, ymax = float(height - 1 - row[4]), float(height - row[2])
        mask = None
        if policy.include_masks:
            if ids is None:
                raise ValueError("include_masks needs the id image (render with want_ids=True)")
            mask = (ids == obj.instance_id).astype(np.uint8)
        objects.append(ObjectAnnotation(class_name=obj.class_name, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax,
                                        difficult=difficult, truncated=truncated, area=float(visible),
                                        visibility=float(visibility), mask=mask))
    return objects


def boxes_from_ids(ids: np.ndarray) -> dict[int, tuple[int, int, int, int, int]]:
    """id -> (xmin, ymin, xmax + 1, ymax + 1, pixel count) computed on the CPU (tests check the GPU with it)."""
    result = {}
    for instance_id in np.unique(ids):
        if instance_id == 0:
            continue
        ys, xs = np.nonzero(ids == instance_id)
        result[int(instance_id)] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, len(xs))
    return result
