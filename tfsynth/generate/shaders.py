"""GLSL sources of the GL renderer (one place, so render_gl.py reads as the frame's steps)."""

SCENE_VERTEX = """
#version 430
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
uniform mat4 model;
uniform mat3 normal_mat;
uniform mat4 view_proj;
uniform mat4 light_vp;
out vec3 v_world;
out vec3 v_normal;
out vec2 v_uv;
out vec4 v_light;
void main() {
    vec4 world = model * vec4(in_pos, 1.0);
    v_world = world.xyz;
    v_normal = normal_mat * in_normal;
    v_uv = in_uv;
    v_light = light_vp * world;
    gl_Position = view_proj * world;
}
"""

# SHADOW_TAPS (0 = no shadows) and MAX_LIGHTS are #defined in front of this text.
SCENE_FRAGMENT = """
in vec3 v_world;
in vec3 v_normal;
in vec2 v_uv;
in vec4 v_light;
uniform sampler2D tex;
uniform sampler2DShadow shadow_map;
uniform vec3 base_color;
uniform vec2 uv_offset;
uniform vec2 uv_scale;
uniform float wear;
uniform float specular;
uniform float shininess;
uniform int kind;          // 0 matte, 1 glossy, 2 glass, 3 emissive, 4 metal (foil, cans)
uniform float emission;
uniform float opacity;     // multiplies the texture's alpha (see-through packs, glass shelves)
uniform float cap_v;       // v above which the surface is the closure (above 1: none)
uniform float base_v;      // v below which the surface is the closure the pack stands on (below 0: none)
uniform int cap_kind;      // shading kind of the closure
uniform float crinkle;     // foil: how far each facet's normal tilts
uniform uint instance_id;
uniform vec3 eye;
uniform int num_lights;
uniform vec4 light_pos[MAX_LIGHTS];    // w: 0 point, 1 spot, 2 area
uniform vec4 light_color[MAX_LIGHTS];  // w: size
uniform vec4 light_dir[MAX_LIGHTS];    // w: cos inner
uniform float light_cos_outer[MAX_LIGHTS];
uniform vec3 amb_sky;
uniform vec3 amb_ground;
uniform vec3 interior;     // half width, height, depth
uniform float shadow_texel;
layout(location = 0) out vec4 out_color;
layout(location = 1) out uint out_id;

float hash(vec2 p) { return fract(sin(dot(p, vec2(12.9898, 78.233))) * 43758.5453); }

float shadow_factor() {
#if SHADOW_TAPS > 0
    vec3 p = v_light.xyz / v_light.w * 0.5 + 0.5;
    if (p.x <= 0.0 || p.x >= 1.0 || p.y <= 0.0 || p.y >= 1.0 || p.z >= 1.0) return 1.0;
    float bias = 0.0015;
    float lit = 0.0;
#if SHADOW_TAPS >= 4
    // Four hardware-filtered (2x2 PCF) taps: a soft edge of about 3 texels.
    lit += texture(shadow_map, vec3(p.xy + vec2(-0.75, -0.75) * shadow_texel, p.z - bias));
    lit += texture(shadow_map, vec3(p.xy + vec2( 0.75, -0.75) * shadow_texel, p.z - bias));
    lit += texture(shadow_map, vec3(p.xy + vec2(-0.75,  0.75) * shadow_texel, p.z - bias));
    lit += texture(shadow_map, vec3(p.xy + vec2( 0.75,  0.75) * shadow_texel, p.z - bias));
    return lit * 0.25;
#else
    return texture(shadow_map, vec3(p.xy, p.z - bias));
#endif
#else
    return 1.0;
#endif
}

// What a shiny surface mirrors: the lit interior above, the darker floor below, a bright band where the lamp and
// the opening are, and broad streaks (shelf edges, the room) so that foil and glass glint as they turn.
vec3 environment(vec3 r) {
    float up = r.y * 0.5 + 0.5;
    vec3 env = mix(amb_ground * 0.5, amb_sky * 1.3, smoothstep(0.2, 0.8, up));
    env += amb_sky * 2.5 * smoothstep(0.86, 0.97, up);
    return env * (0.7 + 0.3 * sin(r.x * 9.0 + r.z * 5.0));
}

void main() {
    out_id = instance_id;
    vec4 texel = texture(tex, v_uv * uv_scale + uv_offset);
    // The closure (cap, lid, foil capsule) is its own material and always opaque.
    bool closure = v_uv.y > cap_v || v_uv.y < base_v;
    int shading = closure ? cap_kind : kind;
    float alpha = closure ? 1.0 : texel.a * opacity;
    vec3 albedo = pow(texel.rgb, vec3(2.2)) * base_color;
    if (wear > 0.0) {
        albedo *= 1.0 - wear * 0.35 * hash(floor((v_uv + uv_offset) * 48.0));
    }
    if (shading == 3) {
        out_color = vec4(albedo * emission, 1.0);
        return;
    }
    vec3 n = normalize(v_normal);
    if (crinkle > 0.0 && !closure) {  // crumpled foil: each small facet tilts its own way, so it sparkles
        vec2 cell = floor((v_uv + uv_offset) * vec2(40.0, 28.0));
        n = normalize(n + crinkle * (vec3(hash(cell), hash(cell + 7.13), hash(cell + 3.71)) - 0.5));
    }
    vec3 v = normalize(eye - v_world);
    if (dot(n, v) < 0.0) n = -n;  // thin slabs, glass and the far wall of see-through packs seen from behind
    // Ambient: white interior bounce light, weaker towards the back of the fridge and outside it.
    float inside = step(abs(v_world.x), interior.x + 0.05) * step(v_world.z, 0.08);
    float depth_fall = mix(0.45, 1.0, clamp((v_world.z + interior.z) / interior.z, 0.0, 1.0));
    vec3 ambient = mix(amb_ground, amb_sky, n.y * 0.5 + 0.5) * mix(0.35, depth_fall, inside);
    bool metal = shading == 4;
    vec3 diffuse = albedo * ambient * (metal ? 0.25 : 1.0);
    vec3 shine = vec3(0.0);  // light reflected at the surface: added on top, whatever lies behind
    float fresnel = pow(1.0 - max(dot(n, v), 0.0), 5.0);
    // Once, before the loop: inside it the select below would have the shader sample the map for every light.
    float lamp_shadow = shadow_factor();
    for (int i = 0; i < num_lights; ++i) {
        vec3 to_light = light_pos[i].xyz - v_world;
        float dist2 = dot(to_light, to_light);
        vec3 l = to_light * inversesqrt(dist2);
        float size = light_color[i].w;
        float atten = 0.16 / (dist2 + 0.16 * 0.1 + size * size);
        if (light_pos[i].w == 1.0) {
            float cos_angle = dot(-l, normalize(light_dir[i].xyz));
            atten *= smoothstep(light_cos_outer[i], light_dir[i].w, cos_angle);
        }
        float wrap = light_pos[i].w == 2.0 ? 0.3 : 0.0;  // area lights wrap further round the object
        float ndl = max((dot(n, l) + wrap) / (1.0 + wrap), 0.0);
        float shadow = (i == 0) ? lamp_shadow : 1.0;
        vec3 h = normalize(l + v);
        float shin = light_pos[i].w == 2.0 ? shininess * 0.35 : shininess;
        float spec = pow(max(dot(n, h), 0.0), shin) * (shin + 8.0) / 25.0;
        float ks = specular + (1.0 - specular) * fresnel * (shading == 0 ? 0.1 : 1.0);
        vec3 radiance = light_color[i].rgb * atten * shadow;
        diffuse += radiance * albedo * ndl * (1.0 - ks * 0.5) * (metal ? 0.3 : 1.0);
        // Metal tints its highlights with its own colour; dielectrics reflect the light's colour.
        shine += radiance * ks * spec * step(0.0, dot(n, l)) * (metal ? albedo * 2.0 : vec3(1.0));
    }
    vec3 mirrored = environment(reflect(-v, n));
    if (metal) {
        shine += albedo * mirrored * 0.9;
    } else if (shading == 2) {  // glass: the rim mirrors the room and is less see-through
        shine += mirrored * (0.08 + 1.2 * fresnel);
        alpha = mix(alpha, 1.0, fresnel * 0.7);
    }
    // Premultiplied alpha: see-through surfaces blend with ONE, ONE_MINUS_SRC_ALPHA; opaque ones have alpha 1.
    out_color = vec4(diffuse * alpha + shine, alpha);
}
"""

DEPTH_VERTEX = """
#version 430
in vec3 in_pos;
uniform mat4 model;
uniform mat4 view_proj;
void main() { gl_Position = view_proj * model * vec4(in_pos, 1.0); }
"""

DEPTH_FRAGMENT = """
#version 430
void main() {}
"""

# Every fragment of an object sets its bit at the pixel, occluded or not: the object's unoccluded coverage.
# With MSAA only fragments that cover sample 0 count, the sample the id image is read from.
COVER_FRAGMENT = """
layout(r32ui, binding = 0) uniform coherent uimage2DArray cover;
uniform uint instance_id;
void main() {
#if MSAA
    if ((gl_SampleMaskIn[0] & 1) == 0) return;
#endif
    imageAtomicOr(cover, ivec3(ivec2(gl_FragCoord.xy), int(instance_id >> 5u)), 1u << (instance_id & 31u));
}
"""

# One invocation per image row: it walks the row once per source (visible ids, then each coverage layer in
# use) and issues atomics once per run of equal values instead of once per pixel (llvmpipe serializes atomics
# per SIMD lane, so per-pixel atomics dominated the frame). Counts and boxes are exactly the per-pixel ones.
# Visible ids come from sample 0 (MSAA); coverage layers are cleared as they are read.
LABEL_COMPUTE = """
#version 430
layout(local_size_x = 8) in;
layout(r32ui, binding = 0) uniform coherent uimage2DArray cover;
layout(r32ui, binding = 1) uniform writeonly uimage2D ids_out;
#if MSAA
uniform usampler2DMS ids_in;
#else
uniform usampler2D ids_in;
#endif
uniform int layers;      // coverage layers holding ids in use (ids 32 * layers - 1 and below)
uniform int write_ids;   // copy the id image to ids_out (masks)
uniform ivec2 size;
layout(std430, binding = 2) buffer Stats { uint s[]; };

void add_run(uint b, int x0, int x1, int y) {
    atomicAdd(s[b], uint(x1 - x0 + 1));
    atomicMin(s[b + 1u], uint(x0)); atomicMin(s[b + 2u], uint(y));
    atomicMax(s[b + 3u], uint(x1)); atomicMax(s[b + 4u], uint(y));
}

void main() {
    int y = int(gl_GlobalInvocationID.x);
    if (y >= size.y) return;
    uint run_id = 0u;
    int run_start = 0;
    for (int x = 0; x < size.x; ++x) {
        uint id = texelFetch(ids_in, ivec2(x, y), 0).r;
        if (write_ids != 0) imageStore(ids_out, ivec2(x, y), uvec4(id));
        if (id != run_id) {
            if (run_id > 0u) add_run(run_id * 10u, run_start, x - 1, y);
            run_id = id;
            run_start = x;
        }
    }
    if (run_id > 0u) add_run(run_id * 10u, run_start, size.x - 1, y);
    int starts[32];
    for (int layer = 0; layer < layers; ++layer) {
        uint previous = 0u;
        for (int x = 0; x <= size.x; ++x) {
            uint bits = 0u;
            if (x < size.x) {
                bits = imageLoad(cover, ivec3(x, y, layer)).r;
                if (bits != 0u) imageStore(cover, ivec3(x, y, layer), uvec4(0u));
            }
            uint begun = bits & ~previous;
            uint ended = previous & ~bits;
            previous = bits;
            while (begun != 0u) {
                int bit = findLSB(begun);
                begun &= begun - 1u;
                starts[bit] = x;
            }
            while (ended != 0u) {
                int bit = findLSB(ended);
                ended &= ended - 1u;
                add_run((uint(layer) * 32u + uint(bit)) * 10u + 5u, starts[bit], x - 1, y);
            }
        }
    }
}
"""

FULLSCREEN_VERTEX = """
#version 430
out vec2 v_uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    v_uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

# MSAA (sample count) is #defined in front: average the tone-mapped samples (anti-aliasing in display space).
RESOLVE_FRAGMENT = """
#if MSAA
uniform sampler2DMS hdr;
#else
uniform sampler2D hdr;
#endif
uniform float exposure;
uniform vec3 white_balance;
out vec4 out_color;
vec3 aces(vec3 x) { return clamp((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0); }
void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
#if MSAA
    vec3 sum = vec3(0.0);
    for (int i = 0; i < MSAA; ++i) sum += aces(texelFetch(hdr, p, i).rgb * exposure * white_balance);
    out_color = vec4(sum / float(MSAA), 1.0);
#else
    out_color = vec4(aces(texelFetch(hdr, p, 0).rgb * exposure * white_balance), 1.0);
#endif
}
"""

# Sensor: optional blur (4 bilinear taps), vignette, sRGB encoding, noise (deterministic hash of pixel + seed).
SENSOR_FRAGMENT = """
#version 430
in vec2 v_uv;
uniform sampler2D image;
uniform vec2 texel;
uniform float blur_px;
uniform float vignette;
uniform float noise_sigma;
uniform float noise_seed;
out vec4 out_color;
float hash(vec3 p) {
    p = fract(p * vec3(443.897, 441.423, 437.195));
    p += dot(p, p.yzx + 19.19);
    return fract((p.x + p.y) * p.z);
}
void main() {
    vec3 c = texture(image, v_uv).rgb;
    if (blur_px > 0.0) {
        vec2 o = texel * blur_px;
        c = 0.2 * c + 0.2 * (texture(image, v_uv + vec2(o.x, o.y)).rgb + texture(image, v_uv + vec2(-o.x, o.y)).rgb
                           + texture(image, v_uv + vec2(o.x, -o.y)).rgb + texture(image, v_uv - o).rgb);
    }
    vec2 d = v_uv - 0.5;
    c *= 1.0 - vignette * dot(d, d) * 2.0;
    c = pow(max(c, 0.0), vec3(1.0 / 2.2));
    vec3 seed = vec3(gl_FragCoord.xy, noise_seed);
    float u1 = max(hash(seed), 1e-6), u2 = hash(seed + 17.0), u3 = hash(seed + 31.0);
    float g = sqrt(-2.0 * log(u1)) * cos(6.2831853 * u2);       // luma noise
    vec3 chroma = vec3(u3, hash(seed + 47.0), hash(seed + 59.0)) - 0.5;
    c += noise_sigma * (g + chroma * 0.8);
    out_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}
"""
