using UnityEngine;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>
    /// Marks the Perception camera CameraViewpointRandomizer places (the viewpoint cue). `fridgeOrigin` is the
    /// centre of the fridge opening at the height of the fridge floor, its +z pointing out of the fridge
    /// towards the person photographing it; without it the world origin is used.
    /// </summary>
    [AddComponentMenu("tfsynth/Camera Viewpoint Tag")]
    [RequireComponent(typeof(Camera))]
    public class CameraViewpointTag : RandomizerTag
    {
        public Transform fridgeOrigin;
    }
}
