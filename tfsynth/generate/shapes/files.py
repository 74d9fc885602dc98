"""Meshes read from the user's files (OBJ, GLB, PLY through trimesh) and the error that names what is wrong."""
from __future__ import annotations

import math
import os

import numpy as np

from tfsynth.generate.shapes.mesh import Mesh

MESH_FORMATS = "a triangle mesh as OBJ, GLB/glTF or PLY"


class MeshError(ValueError):
    """A mesh file cannot be used; the message names the file and what is wrong with it."""


def load_mesh_file(path: str, size_m: tuple[float, float, float] | None = None) -> Mesh:
    """An OBJ/GLB/PLY file through trimesh, re-centred to stand on y = 0 and optionally scaled to size_m.

    Raises MeshError (naming the file) when it is missing or unreadable, holds no triangles (points or lines
    only, or nothing), has non-finite vertices, or is flat along an axis (it could not be scaled to a size).
    Scenes (GLB with several nodes) are flattened into one mesh with their node transforms.
    """
    import trimesh
    if os.path.isdir(path):
        raise MeshError(f"{path}: a folder; expected a mesh file ({MESH_FORMATS})")
    if not os.path.isfile(path):
        raise MeshError(f"{path}: mesh file does not exist")
    try:
        loaded = trimesh.load(path)
    except Exception as error:  # noqa: BLE001 - each trimesh loader raises what its parser raises
        # An IndexError from an OBJ face naming a vertex that is not there says nothing of the file: say what
        # was expected, with the parser's words after it.
        raise MeshError(f"{path}: unreadable mesh file; expected {MESH_FORMATS} whose faces index existing "
                        f"vertices ({type(error).__name__}: {error})") from None
    if isinstance(loaded, trimesh.Scene):
        geometry = loaded.dump()
        triangles = [g for g in geometry if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not triangles:
            kinds = sorted({type(g).__name__ for g in geometry})
            raise MeshError(f"{path}: no faces (the file holds {', '.join(kinds) or 'no geometry'}; expected a "
                            f"triangle mesh)")
        loaded = triangles[0] if len(triangles) == 1 else trimesh.util.concatenate(triangles)
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError(f"{path}: not a triangle mesh (trimesh read a {type(loaded).__name__}: points or lines "
                        f"without faces)")
    if len(loaded.faces) == 0:
        raise MeshError(f"{path}: no faces (vertices only; expected a triangle mesh)")
    positions = np.asarray(loaded.vertices, np.float64)
    if not np.all(np.isfinite(positions)):
        raise MeshError(f"{path}: vertices that are not finite numbers (NaN or inf)")
    lower, upper = positions.min(0), positions.max(0)
    extent = upper - lower
    flat = [axis for axis, e in zip("xyz", extent) if e <= 1e-9 * max(float(extent.max()), 1e-12)]
    if flat:
        raise MeshError(f"{path}: zero extent along {', '.join(flat)} (a flat or degenerate mesh cannot be "
                        f"scaled to a product's size)")
    positions = positions - np.array([(lower[0] + upper[0]) / 2, lower[1], (lower[2] + upper[2]) / 2])
    if size_m is not None:
        positions = positions * (np.array([size_m[0], size_m[1], size_m[2]]) / extent)
    faces = np.asarray(loaded.faces, np.uint32)
    normals = np.asarray(loaded.vertex_normals, np.float64)
    uv = getattr(getattr(loaded, "visual", None), "uv", None)
    if uv is None or len(uv) != len(positions):
        uv = np.stack([np.arctan2(positions[:, 2], positions[:, 0]) / (2 * math.pi) + 0.5,
                       (positions[:, 1] - positions[:, 1].min()) / max(np.ptp(positions[:, 1]), 1e-9)], 1)
    vertices = np.concatenate([positions, normals, np.asarray(uv, np.float64)], axis=1).astype(np.float32)
    return Mesh(vertices, faces.ravel())
