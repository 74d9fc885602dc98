using System;
using UnityEngine;
using UnityEngine.Perception.Randomization.Parameters;
using UnityEngine.Perception.Randomization.Randomizers;
using UnityEngine.Perception.Randomization.Samplers;

namespace Tfsynth
{
    /// <summary>
    /// The color cue: every tagged product gets a tint around its catalog colour (per-channel normal with
    /// tintStdDev, times a brightness draw, clipped to [minTint, maxTint]), and the fridge body one of the
    /// fridge colour variants (white, grey, cream, steel). With `randomize` off the catalog colours and a white
    /// fridge are shown, as tfsynth's sampler does with the cue off.
    /// </summary>
    [Serializable]
    [AddRandomizerMenu("tfsynth/Product Color Randomizer")]
    public class ProductColorRandomizer : Randomizer
    {
        [Tooltip("The color cue: off holds every product at its catalog colour")]
        public bool randomize = true;

        public float tintStdDev = 0.07f;

        [Tooltip("Overall brightness factor of a product's tint")]
        public FloatParameter brightness = new FloatParameter { value = new UniformSampler(0.85f, 1.1f) };

        public float minTint = 0.6f;
        public float maxTint = 1.3f;

        [Tooltip("Choose the fridge body colour among the variants (off: white)")]
        public bool randomizeFridgeColor = true;

        // Interior colours of tfsynth's fridge variants (sampler._build_fridge), linear-ish sRGB.
        static readonly Color[] k_FridgeVariants =
        {
            new Color(0.86f, 0.87f, 0.88f), new Color(0.86f, 0.87f, 0.88f), new Color(0.62f, 0.64f, 0.66f),
            new Color(0.86f, 0.83f, 0.74f), new Color(0.80f, 0.81f, 0.82f)
        };

        protected override void OnIterationStart()
        {
            var fridgeColor = randomizeFridgeColor
                ? k_FridgeVariants[TfsynthRandom.RangeInclusive(0, k_FridgeVariants.Length - 1)]
                : k_FridgeVariants[0];
            foreach (var tag in tagManager.Query<ProductColorTag>())
            {
                if (tag.isFridgeBody)
                {
                    foreach (var renderer in tag.GetComponentsInChildren<Renderer>())
                        TfsynthPropertyBlocks.SetColor(renderer, tag.colorProperty, fridgeColor);
                    continue;
                }
                var tint = Vector3.one;
                if (randomize)
                {
                    var scale = brightness.Sample();
                    tint = new Vector3(Tint(scale), Tint(scale), Tint(scale));
                }
                foreach (var renderer in tag.GetComponentsInChildren<Renderer>())
                {
                    var catalog = TfsynthPropertyBlocks.SharedColor(renderer, tag.colorProperty);
                    var tinted = new Color(catalog.r * tint.x, catalog.g * tint.y, catalog.b * tint.z, catalog.a);
                    TfsynthPropertyBlocks.SetColor(renderer, tag.colorProperty, tinted);
                }
            }
        }

        float Tint(float scale)
        {
            return Mathf.Clamp(TfsynthRandom.Normal(1f, tintStdDev) * scale, minTint, maxTint);
        }
    }
}
