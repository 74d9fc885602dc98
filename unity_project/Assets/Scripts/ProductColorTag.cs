using UnityEngine;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>
    /// Marks a product, distractor or fridge body whose colour ProductColorRandomizer varies (the color cue).
    /// Products get a tint around their catalog colour; the fridge body gets one of the fridge colour variants.
    /// </summary>
    [AddComponentMenu("tfsynth/Product Color Tag")]
    public class ProductColorTag : RandomizerTag
    {
        [Tooltip("Colour property of the material (HDRP/URP Lit: _BaseColor)")]
        public string colorProperty = "_BaseColor";

        [Tooltip("This is the fridge body (interior walls), not a product")]
        public bool isFridgeBody;
    }
}
