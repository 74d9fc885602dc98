"""Headless OpenGL renderer (moderngl over EGL; Mesa llvmpipe on CPU).

One frame:
1. shadow pass: depth from the lamp (light 0) into a shadow map (default preset);
2. scene pass: lit, textured colour (HDR, optionally MSAA) and integer instance ids in one pass (two attachments);
3. coverage pass: every labelled object without depth test sets its bit per pixel (unoccluded coverage);
4. label compute pass: visible pixel counts and boxes per id, coverage counts and boxes per id;
5. resolve + sensor passes: tone map, MSAA resolve, blur, vignette, sRGB, noise; read back 8-bit RGB.
The context, programs, framebuffers, meshes and textures live as long as the renderer (one per worker).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

from tfsynth.generate import shaders
from tfsynth.generate.assets import AssetLibrary
from tfsynth.generate.scene import Scene, look_at, perspective
from tfsynth.utils.stage_clock import StageClock

MAX_LIGHTS = 4
MAX_INSTANCES = 255  # ids 1..255; 8 coverage layers of 32 bits
STATS_WIDTH = 10
_KIND_IDS = {"matte": 0, "glossy": 1, "glass": 2, "emissive": 3, "metal": 4}
_PLAIN_MESHES = ("cube", "cylinder")  # fridge parts: no closure rows


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    msaa: int  # samples, 0 = none
    shadow_size: int  # 0 = no shadows
    shadow_taps: int


PRESETS = {
    "fast": Preset("fast", msaa=0, shadow_size=0, shadow_taps=0),
    "default": Preset("default", msaa=4, shadow_size=1024, shadow_taps=4),
}


def get_preset(name: str) -> Preset:
    if name == "photoreal":
        raise NotImplementedError("preset 'photoreal' is not available: needs Blender (optional backend, "
                                  "not installed); use --preset default or fast")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected fast, default or photoreal")
    return PRESETS[name]


@dataclasses.dataclass
class RenderResult:
    image: np.ndarray  # uint8 [height, width, 3], row 0 at the top
    stats: np.ndarray  # uint32 [MAX_INSTANCES + 1, 10]: visible count, box (x0, y0, x1, y1; GL rows),
    #                    coverage count, coverage box
    ids: Optional[np.ndarray]  # uint32 [height, width] instance ids, row 0 at the top (when asked for)


def create_context():
    """A standalone EGL context; a clear error naming the system packages when EGL is missing."""
    import moderngl
    try:
        return moderngl.create_standalone_context(backend="egl")
    except Exception as error:  # noqa: BLE001 - glcontext raises plain Exceptions for a missing libEGL
        raise RuntimeError(
            f"cannot create a headless OpenGL context over EGL ({error}). Install EGL and Mesa's drivers, on "
            "Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri libegl-mesa0") from error


def _mat4(m: np.ndarray) -> bytes:
    return np.asarray(m, np.float32).T.tobytes()  # GL is column-major


@dataclasses.dataclass
class _FrameTargets:
    """The framebuffers and images of one frame size."""

    width: int
    height: int
    hdr: object  # HDR colour, multisampled in the default preset
    ids: object  # integer instance ids, same samples
    scene_fbo: object
    resolved: object  # tone-mapped, anti-aliased colour
    resolve_fbo: object
    final_fbo: object  # after the sensor pass: what is read back
    ids_out: object  # single-sample ids (masks)
    cover: object  # per-object unoccluded coverage bits, 32 objects a layer


class GLRenderer:
    """Renders Scenes with one preset; reuse it for every image of a worker. Frames of any size: `width` x
    `height` is the first size prepared, others are prepared when a scene's camera asks for them."""

    def __init__(self, width: int, height: int, preset: str, assets: AssetLibrary):
        import moderngl
        self.width, self.height = width, height
        self.preset = get_preset(preset)
        self.assets = assets
        self.ctx = create_context()
        ctx = self.ctx
        self.renderer_name = ctx.info.get("GL_RENDERER", "?")
        msaa = self.preset.msaa
        header = f"#version 430\n#define MAX_LIGHTS {MAX_LIGHTS}\n#define SHADOW_TAPS {self.preset.shadow_taps}\n"
        self.scene_prog = ctx.program(vertex_shader=shaders.SCENE_VERTEX,
                                      fragment_shader=header + shaders.SCENE_FRAGMENT)
        self.depth_prog = ctx.program(vertex_shader=shaders.DEPTH_VERTEX, fragment_shader=shaders.DEPTH_FRAGMENT)
        self.cover_prog = ctx.program(vertex_shader=shaders.DEPTH_VERTEX,
                                      fragment_shader=f"#version 430\n#define MSAA {msaa}\n" + shaders.COVER_FRAGMENT)
        self.label_prog = ctx.compute_shader(f"#version 430\n#define MSAA {msaa}\n"
                                             + shaders.LABEL_COMPUTE.replace("#version 430\n", "", 1))
        self.resolve_prog = ctx.program(vertex_shader=shaders.FULLSCREEN_VERTEX,
                                        fragment_shader=f"#version 430\n#define MSAA {msaa}\n"
                                        + shaders.RESOLVE_FRAGMENT)
        self.sensor_prog = ctx.program(vertex_shader=shaders.FULLSCREEN_VERTEX,
                                       fragment_shader=shaders.SENSOR_FRAGMENT)
        self.stats = ctx.buffer(reserve=(MAX_INSTANCES + 1) * STATS_WIDTH * 4)
        empty = np.zeros((MAX_INSTANCES + 1, STATS_WIDTH), np.uint32)
        empty[:, [1, 2, 6, 7]] = 0xFFFFFFFF
        self._empty_stats = empty.tobytes()
        if self.preset.shadow_size:
            s = self.preset.shadow_size
            self.shadow_tex = ctx.depth_texture((s, s))
            self.shadow_tex.compare_func = "<="
            self.shadow_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self.shadow_tex.repeat_x = self.shadow_tex.repeat_y = False
            self.shadow_fbo = ctx.framebuffer(depth_attachment=self.shadow_tex)
        else:  # a 1x1 map keeps the sampler bound; shading ignores it (SHADOW_TAPS 0)
            self.shadow_tex = ctx.depth_texture((1, 1))
            self.shadow_tex.compare_func = "<="
            self.shadow_fbo = None
        self.fullscreen = ctx.vertex_array(self.resolve_prog, [])
        self.fullscreen_sensor = ctx.vertex_array(self.sensor_prog, [])
        self._meshes: dict[str, tuple] = {}
        self._textures: dict[str, object] = {}
        self._closures: dict[str, tuple[float, float]] = {}
        self.scene_prog["tex"].value = 0
        if "shadow_map" in self.scene_prog:  # compiled out without shadows
            self.scene_prog["shadow_map"].value = 1
        self.resolve_prog["hdr"].value = 0
        self.sensor_prog["image"].value = 0
        self.label_prog["ids_in"].value = 0
        # Frame buffers per frame size (landscape and portrait shots), all in this one context: moderngl does not
        # switch between GL contexts, so a second renderer in the same process would draw into the wrong one.
        self._targets: dict[tuple[int, int], _FrameTargets] = {}
        self._frame_targets(width, height)
        # Seconds spent in each pass of render(), summed over frames, when set to a dict (benchmarks): each pass
        # then waits for the GL to finish it, which costs a little overlap, so leave it None when not measuring.
        self.stage_seconds: Optional[dict[str, float]] = None

    # --- caches -----------------------------------------------------------------------------------------
    def _mesh(self, key: str):
        if key not in self._meshes:
            mesh = self.assets.mesh(key)
            vbo = self.ctx.buffer(mesh.vertices.astype(np.float32).tobytes())
            ibo = self.ctx.buffer(mesh.indices.astype(np.uint32).tobytes())
            scene_vao = self.ctx.vertex_array(self.scene_prog, [(vbo, "3f 3f 2f", "in_pos", "in_normal", "in_uv")],
                                              index_buffer=ibo, index_element_size=4)
            depth_vao = self.ctx.vertex_array(self.depth_prog, [(vbo, "3f 20x", "in_pos")], index_buffer=ibo,
                                              index_element_size=4)
            cover_vao = self.ctx.vertex_array(self.cover_prog, [(vbo, "3f 20x", "in_pos")], index_buffer=ibo,
                                              index_element_size=4)
            self._meshes[key] = (scene_vao, depth_vao, cover_vao)
        return self._meshes[key]

    def _texture(self, key: Optional[str]):
        key = key or "white"
        if key not in self._textures:
            import moderngl
            pixels = np.ascontiguousarray(self.assets.texture(key)[::-1])  # GL row 0 is the bottom
            tex = self.ctx.texture((pixels.shape[1], pixels.shape[0]), pixels.shape[2], pixels.tobytes(),
                                   alignment=1)
            tex.build_mipmaps()
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)  # trilinear, no anisotropy
            tex.anisotropy = 1.0
            self._textures[key] = tex
        return self._textures[key]

    def _frame_targets(self, width: int, height: int) -> "_FrameTargets":
        """The framebuffers of one frame size, made on first use."""
        if (width, height) not in self._targets:
            import moderngl
            ctx, msaa, size = self.ctx, self.preset.msaa, (width, height)
            # Scene framebuffer: HDR colour + integer ids (+ depth), multisampled in the default preset.
            hdr = ctx.texture(size, 4, dtype="f2", samples=msaa)
            ids = ctx.texture(size, 1, dtype="u4", samples=msaa)
            resolved = ctx.texture(size, 4, dtype="f2")
            resolved.filter = (moderngl.LINEAR, moderngl.LINEAR)
            resolved.repeat_x = resolved.repeat_y = False
            final = ctx.renderbuffer(size, 4)
            layers = (MAX_INSTANCES + 1 + 31) // 32
            cover = ctx.texture_array((width, height, layers), 1, dtype="u4")
            cover.write(np.zeros((layers, height, width), np.uint32).tobytes())
            self._targets[size] = _FrameTargets(
                width=width, height=height, hdr=hdr, ids=ids,
                scene_fbo=ctx.framebuffer([hdr, ids], ctx.depth_renderbuffer(size, samples=msaa)),
                resolved=resolved, resolve_fbo=ctx.framebuffer([resolved]), final_fbo=ctx.framebuffer([final]),
                ids_out=ctx.texture(size, 1, dtype="u4"), cover=cover)
        return self._targets[(width, height)]

    def _closure_rows(self, key: str) -> tuple[float, float]:
        """The mesh's (cap_v, base_v), with values outside [0, 1] where it has no closure."""
        if key not in self._closures:
            mesh = self.assets.mesh(key)
            cap_v, base_v = getattr(mesh, "cap_v", None), getattr(mesh, "base_v", None)
            self._closures[key] = (2.0 if cap_v is None else float(cap_v), -1.0 if base_v is None else float(base_v))
        return self._closures[key]

    def _draw(self, obj) -> None:
        """Draws one object into the bound scene framebuffer with its material's uniforms."""
        prog, m = self.scene_prog, obj.material
        prog["model"].write(_mat4(obj.model))
        normal = np.linalg.inv(obj.model[:3, :3]).T
        prog["normal_mat"].write(np.asarray(normal, np.float32).T.tobytes())
        prog["base_color"].value = m.color
        prog["uv_offset"].value = m.uv_offset
        prog["uv_scale"].value = m.uv_scale
        prog["wear"].value = m.wear
        prog["specular"].value = m.specular
        prog["shininess"].value = m.shininess
        prog["kind"].value = _KIND_IDS[m.kind]
        prog["emission"].value = m.emission
        prog["opacity"].value = m.opacity
        prog["crinkle"].value = m.crinkle
        prog["cap_kind"].value = _KIND_IDS[m.cap_kind or m.kind]
        cap_v, base_v = self._closure_rows(obj.mesh_key) if obj.mesh_key not in _PLAIN_MESHES else (2.0, -1.0)
        prog["cap_v"].value = cap_v
        prog["base_v"].value = base_v
        prog["instance_id"].value = obj.instance_id
        self._texture(m.texture_key).use(0)
        self._mesh(obj.mesh_key)[0].render()

    # --- frame ------------------------------------------------------------------------------------------
    def render(self, scene: Scene, want_ids: bool = False) -> RenderResult:
        import moderngl
        ctx = self.ctx
        cam = scene.camera
        frame = self._frame_targets(cam.width, cam.height)
        width, height = cam.width, cam.height
        self.sensor_prog["texel"].value = (1.0 / width, 1.0 / height)
        self.label_prog["size"].value = (width, height)
        labelled = [o for o in scene.objects if o.instance_id > 0]
        if labelled and max(o.instance_id for o in labelled) > MAX_INSTANCES:
            raise ValueError(f"more than {MAX_INSTANCES} labelled objects in one scene")
        view_proj = cam.projection_matrix() @ cam.view_matrix()
        lamp = scene.lights[scene.shadow_light] if scene.lights and scene.shadow_light >= 0 else None
        light_vp = np.eye(4)
        if lamp is not None:
            direction = np.asarray(lamp.direction, np.float64)
            eye = np.asarray(lamp.position, np.float64)
            up = (0.0, 0.0, -1.0) if abs(direction[1]) > 0.9 else (0.0, 1.0, 0.0)
            light_vp = perspective(130.0, 1.0, 0.03, 4.0) @ look_at(eye, eye + direction, up=up)
        if self.stage_seconds is not None:
            ctx.finish()  # the passes are timed from here, not from GL work left over from before
        clock = StageClock(self.stage_seconds, before_lap=ctx.finish)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        # 1. Shadow map.
        if self.shadow_fbo is not None and lamp is not None:
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            self.depth_prog["view_proj"].write(_mat4(light_vp))
            ctx.disable(moderngl.CULL_FACE)  # thin slabs and open shapes must block light from both sides
            for obj in scene.objects:
                if obj.casts_shadow:
                    self.depth_prog["model"].write(_mat4(obj.model))
                    self._mesh(obj.mesh_key)[1].render()
            ctx.enable(moderngl.CULL_FACE)
        clock.lap("shadow_map")
        # 2. Scene: colour + ids.
        frame.scene_fbo.use()
        frame.scene_fbo.clear(*scene.background, 1.0, depth=1.0)
        prog = self.scene_prog
        prog["view_proj"].write(_mat4(view_proj))
        if "light_vp" in prog:  # compiled out without shadows
            prog["light_vp"].write(_mat4(light_vp))
        prog["eye"].value = tuple(float(c) for c in cam.position)
        lights = scene.lights[:MAX_LIGHTS]
        pos = np.zeros((MAX_LIGHTS, 4), np.float32)
        col = np.zeros((MAX_LIGHTS, 4), np.float32)
        dirs = np.zeros((MAX_LIGHTS, 4), np.float32)
        outer = np.zeros(MAX_LIGHTS, np.float32)
        kinds = {"point": 0.0, "spot": 1.0, "area": 2.0}
        for i, light in enumerate(lights):
            pos[i] = (*light.position, kinds[light.kind])
            col[i] = (*light.color, light.size)
            dirs[i] = (*light.direction, light.spot_cos_inner)
            outer[i] = light.spot_cos_outer
        prog["num_lights"].value = len(lights)
        prog["light_pos"].write(pos.tobytes())
        prog["light_color"].write(col.tobytes())
        prog["light_dir"].write(dirs.tobytes())
        prog["light_cos_outer"].write(outer.tobytes())
        prog["amb_sky"].value = tuple(scene.ambient_sky)
        prog["amb_ground"].value = tuple(scene.ambient_ground)
        prog["interior"].value = tuple(scene.interior)
        if "shadow_texel" in prog:
            prog["shadow_texel"].value = 1.0 / max(self.preset.shadow_size, 1)
        self.shadow_tex.use(1)
        opaque = [o for o in scene.objects if not (o.material.see_through or o.material.opacity < 1.0)]
        clear = [o for o in scene.objects if o.material.see_through or o.material.opacity < 1.0]
        # Nearest first: the depth test then rejects hidden fragments before they are shaded (shading is most of
        # a frame); the image does not depend on the order, only on which fragment is nearest.
        eye = np.asarray(cam.position, np.float64)
        opaque.sort(key=lambda o: float(np.linalg.norm(o.model[:3, 3] - eye)))
        for obj in opaque:
            self._draw(obj)
        # See-through objects after every opaque one, farthest first, blended over what they cover. They test
        # depth but do not write it, so a pack behind a glass shelf still shows; a background pane (shelf, drawer
        # front) leaves the ids of the products seen through it alone.
        if clear:
            eye = np.asarray(cam.position, np.float64)
            clear.sort(key=lambda o: -float(np.linalg.norm(o.model[:3, 3] - eye)))
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA  # premultiplied (shaders.py)
            frame.scene_fbo.depth_mask = False
            for obj in clear:
                frame.scene_fbo.color_mask = ((True,) * 4, (obj.instance_id > 0,) * 4)
                if obj.material.see_through:  # the far wall first, then the near one over it
                    ctx.cull_face = "front"
                    self._draw(obj)
                    ctx.cull_face = "back"
                self._draw(obj)
            frame.scene_fbo.color_mask = ((True,) * 4, (True,) * 4)
            frame.scene_fbo.depth_mask = True
            ctx.disable(moderngl.BLEND)
        clock.lap("scene")
        # 3. Coverage of each labelled object, occluders ignored (same framebuffer, so the same samples).
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        frame.scene_fbo.depth_mask = False
        frame.scene_fbo.color_mask = ((False,) * 4, (False,) * 4)
        frame.cover.bind_to_image(0, read=True, write=True)
        self.cover_prog["view_proj"].write(_mat4(view_proj))
        for obj in labelled:
            self.cover_prog["model"].write(_mat4(obj.model))
            self.cover_prog["instance_id"].value = obj.instance_id
            self._mesh(obj.mesh_key)[2].render()
        frame.scene_fbo.color_mask = ((True,) * 4, (True,) * 4)
        frame.scene_fbo.depth_mask = True
        ctx.memory_barrier()
        clock.lap("coverage")
        # 4. Label statistics.
        self.stats.write(self._empty_stats)
        self.stats.bind_to_storage_buffer(2)
        frame.ids.use(0)
        frame.cover.bind_to_image(0, read=True, write=True)
        frame.ids_out.bind_to_image(1, read=False, write=True)
        max_id = max((o.instance_id for o in labelled), default=0)
        self.label_prog["layers"].value = max_id // 32 + 1 if labelled else 0  # only layers that hold bits
        self.label_prog["write_ids"].value = int(want_ids)
        self.label_prog.run((height + 7) // 8)
        ctx.memory_barrier()
        clock.lap("label_stats")
        # 5. Resolve (tone map, AA) and sensor.
        frame.resolve_fbo.use()
        frame.hdr.use(0)
        self.resolve_prog["exposure"].value = scene.post.exposure
        self.resolve_prog["white_balance"].value = tuple(scene.post.white_balance)
        self.fullscreen.render(moderngl.TRIANGLES, vertices=3)
        frame.final_fbo.use()
        frame.resolved.use(0)
        sp = self.sensor_prog
        sp["blur_px"].value = scene.post.blur_px
        sp["vignette"].value = scene.post.vignette
        sp["noise_sigma"].value = scene.post.noise_sigma
        sp["noise_seed"].value = float(scene.post.noise_seed % 1000) + 0.5
        self.fullscreen_sensor.render(moderngl.TRIANGLES, vertices=3)
        clock.lap("resolve_sensor")
        raw = frame.final_fbo.read(components=3, alignment=1)
        image = np.frombuffer(raw, np.uint8).reshape(height, width, 3)[::-1]
        stats = np.frombuffer(self.stats.read(), np.uint32).reshape(MAX_INSTANCES + 1, STATS_WIDTH).copy()
        ids = None
        if want_ids:
            ids = np.frombuffer(frame.ids_out.read(alignment=1), np.uint32).reshape(height, width)[::-1]
            ids = np.ascontiguousarray(ids)
        clock.lap("readback")
        return RenderResult(np.ascontiguousarray(image), stats, ids)

    def release(self) -> None:
        self.ctx.release()


def set_single_thread() -> None:
    """One llvmpipe thread per worker process (set before the context exists): one process per core."""
    os.environ["LP_NUM_THREADS"] = "1"
