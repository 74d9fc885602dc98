using UnityEngine;

namespace Tfsynth
{
    /// <summary>
    /// Per-renderer material overrides through MaterialPropertyBlocks: shared materials (the catalog look) are
    /// never modified, so a randomizer that is switched off leaves the catalog colours and textures in place.
    /// The block is read before it is written because Perception's labelers keep their own values in it.
    /// </summary>
    public static class TfsynthPropertyBlocks
    {
        static MaterialPropertyBlock s_Block;

        static MaterialPropertyBlock Block => s_Block ?? (s_Block = new MaterialPropertyBlock());

        /// <summary>Sets a colour property on one renderer.</summary>
        public static void SetColor(Renderer renderer, string property, Color value)
        {
            renderer.GetPropertyBlock(Block);
            Block.SetColor(property, value);
            renderer.SetPropertyBlock(Block);
        }

        /// <summary>Sets a vector property (e.g. a texture's _ST scale/offset) on one renderer.</summary>
        public static void SetVector(Renderer renderer, string property, Vector4 value)
        {
            renderer.GetPropertyBlock(Block);
            Block.SetVector(property, value);
            renderer.SetPropertyBlock(Block);
        }

        /// <summary>Sets a float property on one renderer.</summary>
        public static void SetFloat(Renderer renderer, string property, float value)
        {
            renderer.GetPropertyBlock(Block);
            Block.SetFloat(property, value);
            renderer.SetPropertyBlock(Block);
        }

        /// <summary>Sets a texture property on one renderer.</summary>
        public static void SetTexture(Renderer renderer, string property, Texture value)
        {
            renderer.GetPropertyBlock(Block);
            Block.SetTexture(property, value);
            renderer.SetPropertyBlock(Block);
        }

        /// <summary>The shared material's value of a colour property (white when the shader has none).</summary>
        public static Color SharedColor(Renderer renderer, string property)
        {
            var material = renderer.sharedMaterial;
            return material != null && material.HasProperty(property) ? material.GetColor(property) : Color.white;
        }

        /// <summary>The shared material's value of a float property (`fallback` when the shader has none).</summary>
        public static float SharedFloat(Renderer renderer, string property, float fallback)
        {
            var material = renderer.sharedMaterial;
            return material != null && material.HasProperty(property) ? material.GetFloat(property) : fallback;
        }
    }
}
