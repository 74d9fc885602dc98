using UnityEngine;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>What a support surface is; door bins get no lying products, as in tfsynth's sampler.</summary>
    public enum ShelfKind
    {
        Shelf,
        Floor,
        Drawer,
        Door
    }

    /// <summary>
    /// Marks a horizontal surface products stand on (FridgeProductPlacementRandomizer). The surface is the tag's
    /// local y = 0 plane, centred on its origin: `size.x` across (local x), `size.y` deep (local z, +z towards
    /// the fridge door). Keep the GameObject unscaled; `clearance` is the free height above the surface.
    /// </summary>
    [AddComponentMenu("tfsynth/Fridge Shelf Tag")]
    public class FridgeShelfTag : RandomizerTag
    {
        [Tooltip("Usable surface in metres: x across, y (local z) deep")]
        public Vector2 size = new Vector2(0.6f, 0.45f);

        [Tooltip("Free height above the surface in metres (products taller than this are not placed here)")]
        public float clearance = 0.3f;

        public ShelfKind kind = ShelfKind.Shelf;

        /// <summary>Usable area in square metres (shelves are chosen in proportion to it).</summary>
        public float Area => Mathf.Max(0f, size.x) * Mathf.Max(0f, size.y);

        void OnDrawGizmosSelected()
        {
            Gizmos.matrix = Matrix4x4.TRS(transform.position, transform.rotation, Vector3.one);
            Gizmos.color = new Color(0.2f, 0.8f, 0.3f, 0.6f);
            Gizmos.DrawWireCube(new Vector3(0f, clearance * 0.5f, 0f), new Vector3(size.x, clearance, size.y));
        }
    }
}
