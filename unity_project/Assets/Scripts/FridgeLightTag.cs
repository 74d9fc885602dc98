using System;
using UnityEngine;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>Which light of the scene a FridgeLightTag marks.</summary>
    public enum FridgeLightRole
    {
        /// <summary>The lamp inside the fridge.</summary>
        Lamp,
        /// <summary>Room light falling into the open fridge.</summary>
        Room
    }

    /// <summary>
    /// Marks a light FridgeLightingRandomizer varies (the lighting cue). Intensities are multiples of the
    /// light's authored intensity, which is remembered the first time the randomizer sees the light.
    /// </summary>
    [AddComponentMenu("tfsynth/Fridge Light Tag")]
    [RequireComponent(typeof(Light))]
    public class FridgeLightTag : RandomizerTag
    {
        public FridgeLightRole role = FridgeLightRole.Lamp;

        [NonSerialized] float m_AuthoredIntensity = -1f;

        /// <summary>The light's intensity before any randomization.</summary>
        public float AuthoredIntensity(Light light)
        {
            if (m_AuthoredIntensity < 0f)
                m_AuthoredIntensity = light.intensity;
            return m_AuthoredIntensity;
        }
    }
}
