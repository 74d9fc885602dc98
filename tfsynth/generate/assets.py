"""Meshes and textures by key, built on first use and cached for the life of a worker.

Keys: a product's key (catalog.Product.key) gives its mesh and label texture ('KEY#N': label variant N); 'cube' is
the unit cube centred on the origin (walls, shelves, rods are scaled cubes); 'surface:NAME' a furniture texture
(surfaces.py); anything else is plain white.
"""
from __future__ import annotations

import numpy as np

from tfsynth.generate import shapes, surfaces, textures
from tfsynth.generate.catalog import Catalog, Product


class AssetLibrary:
    def __init__(self, catalog: Catalog):
        self.products: dict[str, Product] = {p.key: p for p in catalog.products + catalog.distractors}
        self._meshes: dict[str, shapes.Mesh] = {}
        self._textures: dict[str, np.ndarray] = {}

    def mesh(self, key: str) -> shapes.Mesh:
        if key not in self._meshes:
            self._meshes[key] = self._build_mesh(key)
        return self._meshes[key]

    def positions(self, key: str) -> np.ndarray:
        """The vertex positions [N, 3] (float64, the mesh's own frame) of the mesh named `key`."""
        return self.mesh(key).vertices[:, :3].astype(np.float64)

    def texture(self, key: str) -> np.ndarray:
        """RGBA texture by key: a product key, optionally with '#N' for its label variant N; else plain white."""
        if key not in self._textures:
            product_key, _, variant = key.partition("#")
            if product_key in self.products:
                mesh = self.mesh(product_key)
                self._textures[key] = textures.label_texture(
                    self.products[product_key], int(variant or 0), cap_v=getattr(mesh, "cap_v", None),
                    base_v=getattr(mesh, "base_v", None))
            elif key.startswith("surface:"):
                self._textures[key] = surfaces.surface_texture(key.split(":", 1)[1])
            else:
                self._textures[key] = np.full((4, 4, 4), 255, np.uint8)
        return self._textures[key]

    def _build_mesh(self, key: str) -> shapes.Mesh:
        if key == "cube":
            mesh = shapes.box(1.0, 1.0, 1.0, v_range=(0.0, 1.0))
            mesh.vertices[:, 1] -= 0.5
            # Top and bottom map the whole texture (a box's caps take only its top/bottom rows): floors and
            # counter tops tile like walls.
            caps = np.abs(mesh.vertices[:, 4]) > 0.5
            mesh.vertices[caps, 6] = mesh.vertices[caps, 0] + 0.5
            mesh.vertices[caps, 7] = mesh.vertices[caps, 2] + 0.5
            return mesh
        if key == "cylinder":  # axis along y, centred, radius 0.5, height 1 (wire rods, trims)
            mesh = shapes.lathe([[(0.5, 0.0), (0.5, 1.0)]], segments=6)
            mesh.vertices[:, 1] -= 0.5
            return mesh
        product = self.products.get(key)
        if product is None:
            raise KeyError(f"no mesh named {key!r}")
        size = product.fixed_size_m()
        if product.archetype in ("sphere", "ellipsoid", "squash"):
            # Produce meshes are unit-free templates: instances scale them (model matrix) to vary in size.
            pass
        if product.mesh_path:
            return shapes.load_mesh_file(product.mesh_path, size)
        return shapes.build_mesh(product.archetype, size, product.profile)
