using System;
using UnityEngine;
using UnityEngine.Perception.Randomization.Parameters;
using UnityEngine.Perception.Randomization.Randomizers;
using UnityEngine.Perception.Randomization.Samplers;

namespace Tfsynth
{
    /// <summary>
    /// The lighting cue: the fridge lamp (FridgeLightTag role Lamp) gets a colour temperature and an intensity
    /// multiple of its authored intensity, room lights (role Room) their own; with `randomize` off the lamp
    /// holds 4500 K and room lights 5000 K at their authored intensities, as tfsynth's sampler does.
    /// Works with HDRP (through HDAdditionalLightData, found by name so the script compiles without HDRP) and
    /// with URP/built-in (Light.intensity and Light.colorTemperature).
    /// </summary>
    [Serializable]
    [AddRandomizerMenu("tfsynth/Fridge Lighting Randomizer")]
    public class FridgeLightingRandomizer : Randomizer
    {
        [Tooltip("The lighting cue: off holds a fixed lamp and room light")]
        public bool randomize = true;

        [Tooltip("Fridge lamp colour temperature, kelvin")]
        public FloatParameter colorTemperature = new FloatParameter { value = new UniformSampler(2700f, 6500f) };

        [Tooltip("Fridge lamp intensity, times its authored intensity")]
        public FloatParameter intensity = new FloatParameter { value = new UniformSampler(0.9f, 2f) };

        [Tooltip("Room light colour temperature, kelvin")]
        public FloatParameter roomColorTemperature = new FloatParameter { value = new UniformSampler(2700f, 6500f) };

        [Tooltip("Room light intensity, times its authored intensity")]
        public FloatParameter roomIntensity = new FloatParameter { value = new UniformSampler(0.4f, 2f) };

        public float fixedColorTemperature = 4500f;
        public float fixedRoomColorTemperature = 5000f;

        protected override void OnScenarioStart()
        {
            // Built-in/URP only honour Light.colorTemperature with these on (HDRP always does).
            UnityEngine.Rendering.GraphicsSettings.lightsUseLinearIntensity = true;
            UnityEngine.Rendering.GraphicsSettings.lightsUseColorTemperature = true;
        }

        protected override void OnIterationStart()
        {
            foreach (var tag in tagManager.Query<FridgeLightTag>())
            {
                var light = tag.GetComponent<Light>();
                if (light == null)
                    continue;
                var authored = tag.AuthoredIntensity(light);
                float kelvin, factor;
                if (tag.role == FridgeLightRole.Lamp)
                {
                    kelvin = randomize ? colorTemperature.Sample() : fixedColorTemperature;
                    factor = randomize ? intensity.Sample() : 1f;
                }
                else
                {
                    kelvin = randomize ? roomColorTemperature.Sample() : fixedRoomColorTemperature;
                    factor = randomize ? roomIntensity.Sample() : 1f;
                }
                Apply(light, kelvin, authored * factor);
            }
        }

        static void Apply(Light light, float kelvin, float value)
        {
            light.useColorTemperature = true;
            light.colorTemperature = kelvin;
            var hdData = light.GetComponent("HDAdditionalLightData");
            if (hdData != null)
            {
                // HDRP keeps its own copy of intensity and colour; Light.intensity alone would be overwritten.
                var type = hdData.GetType();
                type.GetMethod("SetIntensity", new[] { typeof(float) })?.Invoke(hdData, new object[] { value });
                type.GetMethod("SetColor", new[] { typeof(Color), typeof(float) })
                    ?.Invoke(hdData, new object[] { light.color, kelvin });
            }
            else
            {
                light.intensity = value;
            }
        }
    }
}
