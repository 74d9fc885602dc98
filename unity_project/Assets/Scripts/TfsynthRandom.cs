using UnityEngine;
using UnityEngine.Perception.Randomization.Samplers;

namespace Tfsynth
{
    /// <summary>
    /// Draws from Perception's sampler state, so every value is reproducible from the scenario's randomSeed and
    /// iteration index (the same contract as tfsynth's sampler: an image is a function of (seed, index)).
    /// </summary>
    public static class TfsynthRandom
    {
        static UniformSampler s_Unit;

        static UniformSampler Unit => s_Unit ?? (s_Unit = new UniformSampler(0f, 1f));

        /// <summary>A uniform value in [0, 1).</summary>
        public static float Value() => Mathf.Min(Unit.Sample(), 0.9999999f);

        /// <summary>A uniform value in [min, max).</summary>
        public static float Range(float min, float max) => min + (max - min) * Value();

        /// <summary>A uniform integer in [min, max] (both inclusive, as tfsynth's products_per_image).</summary>
        public static int RangeInclusive(int min, int max)
        {
            if (max <= min)
                return min;
            return Mathf.Min(max, min + Mathf.FloorToInt(Value() * (max - min + 1)));
        }

        /// <summary>A normal value (Box-Muller from two uniforms).</summary>
        public static float Normal(float mean, float stddev)
        {
            var u1 = Mathf.Max(Value(), 1e-7f);
            var u2 = Value();
            return mean + stddev * Mathf.Sqrt(-2f * Mathf.Log(u1)) * Mathf.Cos(2f * Mathf.PI * u2);
        }
    }
}
