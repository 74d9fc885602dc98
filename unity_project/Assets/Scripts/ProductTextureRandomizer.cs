using System;
using UnityEngine;
using UnityEngine.Perception.Randomization.Parameters;
using UnityEngine.Perception.Randomization.Randomizers;
using UnityEngine.Perception.Randomization.Samplers;

namespace Tfsynth
{
    /// <summary>
    /// The texture cue: each tagged product's label turns around the product axis (a u offset of its texture,
    /// in turns) and wears (lower smoothness, slightly darker); fridge surfaces get one of their textures. With
    /// `randomize` off every label sits at its canonical placement and fridge surfaces stay plain.
    /// </summary>
    [Serializable]
    [AddRandomizerMenu("tfsynth/Product Texture Randomizer")]
    public class ProductTextureRandomizer : Randomizer
    {
        [Tooltip("The texture cue: off holds every label at its canonical placement")]
        public bool randomize = true;

        [Tooltip("Label offset around the product axis, in turns (texture u offset)")]
        public FloatParameter labelRotation = new FloatParameter { value = new UniformSampler(0f, 1f) };

        [Tooltip("0: new, 1: worn out")]
        public FloatParameter wear = new FloatParameter { value = new UniformSampler(0f, 0.3f) };

        [Tooltip("Give fridge surfaces one of their textures (off: plain)")]
        public bool randomizeFridgeSurfaces = true;

        protected override void OnIterationStart()
        {
            foreach (var tag in tagManager.Query<ProductTextureTag>())
            {
                var renderers = tag.GetComponentsInChildren<Renderer>();
                if (tag.isFridgeSurface)
                {
                    var textures = tag.surfaceTextures;
                    var useTexture = randomizeFridgeSurfaces && textures != null && textures.Length > 0;
                    foreach (var renderer in renderers)
                    {
                        if (useTexture)
                        {
                            var texture = textures[TfsynthRandom.RangeInclusive(0, textures.Length - 1)];
                            TfsynthPropertyBlocks.SetTexture(renderer, tag.textureProperty, texture);
                            TfsynthPropertyBlocks.SetVector(renderer, tag.textureProperty + "_ST",
                                new Vector4(1f, 1f, TfsynthRandom.Value(), TfsynthRandom.Value()));
                        }
                        else
                        {
                            TfsynthPropertyBlocks.SetTexture(renderer, tag.textureProperty, Texture2D.whiteTexture);
                        }
                    }
                    continue;
                }
                var offset = randomize ? labelRotation.Sample() : 0f;
                var worn = randomize ? Mathf.Clamp01(wear.Sample()) : 0f;
                foreach (var renderer in renderers)
                {
                    TfsynthPropertyBlocks.SetVector(renderer, tag.textureProperty + "_ST", new Vector4(1f, 1f, offset, 0f));
                    var smoothness = TfsynthPropertyBlocks.SharedFloat(renderer, tag.smoothnessProperty, 0.5f);
                    TfsynthPropertyBlocks.SetFloat(renderer, tag.smoothnessProperty, smoothness * (1f - worn));
                }
            }
        }
    }
}
