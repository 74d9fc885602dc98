using System;
using UnityEngine;
using UnityEngine.Perception.Randomization.Parameters;
using UnityEngine.Perception.Randomization.Randomizers;
using UnityEngine.Perception.Randomization.Samplers;

namespace Tfsynth
{
    /// <summary>
    /// The viewpoint cue: places each camera tagged with CameraViewpointTag as a person photographs an open
    /// fridge - `distance` from the opening, `height` above the fridge floor, turned `yaw` degrees off the
    /// fridge axis, pitched (`pitch`, negative looks down), a small `roll`, and a vertical `fieldOfView`. With
    /// `randomize` off one fixed camera frames the fridge (fixedDistance, fixedHeight, fixedPitch,
    /// fixedFieldOfView). It also sets the capture size (imageWidth x imageHeight) at the start of the scenario.
    /// </summary>
    [Serializable]
    [AddRandomizerMenu("tfsynth/Camera Viewpoint Randomizer")]
    public class CameraViewpointRandomizer : Randomizer
    {
        [Tooltip("The viewpoint cue: off holds one fixed camera")]
        public bool randomize = true;

        [Tooltip("Capture width in pixels (0: leave the player's resolution)")]
        public int imageWidth = 640;

        [Tooltip("Capture height in pixels (0: leave the player's resolution)")]
        public int imageHeight = 480;

        [Tooltip("Metres from the fridge opening")]
        public FloatParameter distance = new FloatParameter { value = new UniformSampler(0.45f, 1.6f) };

        [Tooltip("Camera height above the fridge floor, metres")]
        public FloatParameter height = new FloatParameter { value = new UniformSampler(0.2f, 1.3f) };

        [Tooltip("Degrees left/right of the fridge axis")]
        public FloatParameter yaw = new FloatParameter { value = new UniformSampler(-18f, 18f) };

        [Tooltip("Degrees; negative looks down")]
        public FloatParameter pitch = new FloatParameter { value = new UniformSampler(-25f, 15f) };

        [Tooltip("Degrees about the view axis")]
        public FloatParameter roll = new FloatParameter { value = new NormalSampler(-7.5f, 7.5f, 0f, 2.5f) };

        [Tooltip("Vertical field of view, degrees")]
        public FloatParameter fieldOfView = new FloatParameter { value = new UniformSampler(45f, 65f) };

        public float fixedDistance = 1.35f;
        public float fixedHeight = 0.62f;
        public float fixedPitch = -1f;
        public float fixedFieldOfView = 55f;

        protected override void OnScenarioStart()
        {
            if (imageWidth > 0 && imageHeight > 0)
                Screen.SetResolution(imageWidth, imageHeight, FullScreenMode.Windowed);
        }

        protected override void OnIterationStart()
        {
            foreach (var tag in tagManager.Query<CameraViewpointTag>())
            {
                float cameraDistance, cameraHeight, yawDegrees, pitchDegrees, rollDegrees, fov;
                if (randomize)
                {
                    cameraDistance = distance.Sample();
                    cameraHeight = height.Sample();
                    yawDegrees = yaw.Sample();
                    pitchDegrees = pitch.Sample();
                    rollDegrees = roll.Sample();
                    fov = fieldOfView.Sample();
                }
                else
                {
                    cameraDistance = fixedDistance;
                    cameraHeight = fixedHeight;
                    yawDegrees = 0f;
                    pitchDegrees = fixedPitch;
                    rollDegrees = 0f;
                    fov = fixedFieldOfView;
                }
                var yawRadians = yawDegrees * Mathf.Deg2Rad;
                // Fridge frame: +z out of the opening; the camera stands in front and looks back in (-z).
                var localPosition = new Vector3(Mathf.Sin(yawRadians) * cameraDistance, cameraHeight,
                    Mathf.Cos(yawRadians) * cameraDistance);
                // Unity's Euler order is yaw (y), then pitch (x, positive looks down), then roll (z).
                var localRotation = Quaternion.Euler(-pitchDegrees, 180f + yawDegrees, rollDegrees);
                var origin = tag.fridgeOrigin;
                if (origin != null)
                    tag.transform.SetPositionAndRotation(origin.position + origin.rotation * localPosition,
                        origin.rotation * localRotation);
                else
                    tag.transform.SetPositionAndRotation(localPosition, localRotation);
                var camera = tag.GetComponent<Camera>();
                if (camera != null)
                    camera.fieldOfView = fov;
            }
        }
    }
}
