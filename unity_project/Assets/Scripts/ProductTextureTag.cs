using UnityEngine;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>
    /// Marks a product label or fridge surface whose texture ProductTextureRandomizer varies (the texture cue):
    /// label placement around the product axis and wear on products; a texture from `surfaceTextures` on
    /// fridge surfaces.
    /// </summary>
    [AddComponentMenu("tfsynth/Product Texture Tag")]
    public class ProductTextureTag : RandomizerTag
    {
        [Tooltip("Texture property of the material (HDRP Lit: _BaseColorMap, URP Lit: _BaseMap)")]
        public string textureProperty = "_BaseColorMap";

        [Tooltip("Smoothness property of the material (HDRP/URP Lit: _Smoothness); wear lowers it")]
        public string smoothnessProperty = "_Smoothness";

        [Tooltip("This is a fridge surface (wall, shelf, door), not a product")]
        public bool isFridgeSurface;

        [Tooltip("Fridge surfaces: textures to choose from when the texture cue is on")]
        public Texture2D[] surfaceTextures = new Texture2D[0];
    }
}
