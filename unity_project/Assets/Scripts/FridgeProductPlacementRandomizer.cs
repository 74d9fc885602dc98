using System;
using System.Collections.Generic;
using System.Linq;
using UnityEngine;
using UnityEngine.Perception.GroundTruth;
using UnityEngine.Perception.Randomization.Randomizers;

namespace Tfsynth
{
    /// <summary>
    /// Places products (labelled) and distractors (unlabelled) on the shelves tagged with FridgeShelfTag at the
    /// start of every iteration, as tfsynth's sampler does: a number of products per image, shelves chosen in
    /// proportion to their area, the front of a shelf preferred, some elongated products lying down, and no two
    /// footprints overlapping (footprints are circles around the product's rotated bounds, so no yaw can make
    /// two products interpenetrate). Products taller than a shelf's clearance are not put on it.
    /// The public scalar fields are set by the scenario JSON that tfsynth/generate/unity_backend.py writes.
    /// </summary>
    [Serializable]
    [AddRandomizerMenu("tfsynth/Fridge Product Placement Randomizer")]
    public class FridgeProductPlacementRandomizer : Randomizer
    {
        [Tooltip("Comma-separated class names to place (the Labeling label of product prefabs); empty: all")]
        public string productClasses = "";

        [Tooltip("Comma-separated distractor prefab names to place; empty: all distractor prefabs")]
        public string distractorNames = "";

        public int productsPerImageMin = 6;
        public int productsPerImageMax = 24;
        public int distractorsMin = 0;
        public int distractorsMax = 4;

        [Tooltip("Random yaw per product (tfsynth: part of the viewpoint cue); off: every product faces the door")]
        public bool randomProductYaw = true;

        [Tooltip("Chance that an elongated product (bottle, can) lies on its side")]
        public float lyingProbability = 0.25f;

        [Tooltip("Std of the preference for the front of a shelf, as a fraction of its depth")]
        public float frontBias = 0.45f;

        [Tooltip("Positions tried per product before it is left out")]
        public int placementAttempts = 12;

        [Tooltip("Metres kept free between neighbouring footprints")]
        public float gap = 0.004f;

        [Tooltip("Product prefabs, each with a Labeling component whose first label is its class")]
        public GameObject[] productPrefabs = new GameObject[0];

        [Tooltip("Distractor prefabs (no Labeling component: never labelled)")]
        public GameObject[] distractorPrefabs = new GameObject[0];

        struct Footprint
        {
            public float x, z, radius;
        }

        GameObject m_Container;
        Dictionary<GameObject, Stack<GameObject>> m_Free;
        List<KeyValuePair<GameObject, GameObject>> m_InUse;
        List<GameObject> m_Products;
        List<GameObject> m_Distractors;

        /// <summary>Number of products placed in the current iteration (for logs and tests in the editor).</summary>
        public int placedProducts { get; private set; }

        protected override void OnScenarioStart()
        {
            m_Container = new GameObject("tfsynth placed products");
            m_Free = new Dictionary<GameObject, Stack<GameObject>>();
            m_InUse = new List<KeyValuePair<GameObject, GameObject>>();
            m_Products = SelectProducts();
            m_Distractors = SelectDistractors();
            if (productsPerImageMin < 0 || productsPerImageMax < productsPerImageMin)
                Fail($"productsPerImageMin/Max: expected 0 <= min <= max, got {productsPerImageMin}, {productsPerImageMax}");
            if (distractorsMin < 0 || distractorsMax < distractorsMin)
                Fail($"distractorsMin/Max: expected 0 <= min <= max, got {distractorsMin}, {distractorsMax}");
        }

        protected override void OnIterationStart()
        {
            var shelves = tagManager.Query<FridgeShelfTag>().Where(s => s.isActiveAndEnabled && s.Area > 0f).ToList();
            if (shelves.Count == 0)
                Fail("no active FridgeShelfTag with a non-zero size in the scene: tag the shelves products stand on");

            var wanted = new List<GameObject>();
            var count = TfsynthRandom.RangeInclusive(productsPerImageMin, productsPerImageMax);
            for (var i = 0; i < count && m_Products.Count > 0; i++)
                wanted.Add(m_Products[TfsynthRandom.RangeInclusive(0, m_Products.Count - 1)]);
            var distractors = m_Distractors.Count > 0 ? TfsynthRandom.RangeInclusive(distractorsMin, distractorsMax) : 0;
            for (var i = 0; i < distractors; i++)
                wanted.Add(m_Distractors[TfsynthRandom.RangeInclusive(0, m_Distractors.Count - 1)]);
            Shuffle(wanted);

            var areas = shelves.Select(s => s.Area).ToArray();
            var footprints = shelves.ToDictionary(s => s, s => new List<Footprint>());
            placedProducts = 0;
            foreach (var prefab in wanted)
            {
                var shelf = shelves[PickByWeight(areas)];
                if (TryPlace(prefab, shelf, footprints[shelf]) && !m_Distractors.Contains(prefab))
                    placedProducts++;
            }
        }

        protected override void OnIterationEnd()
        {
            foreach (var pair in m_InUse)
            {
                pair.Value.SetActive(false);
                m_Free[pair.Key].Push(pair.Value);
            }
            m_InUse.Clear();
        }

        protected override void OnScenarioComplete()
        {
            if (m_Container != null)
                UnityEngine.Object.Destroy(m_Container);
        }

        bool TryPlace(GameObject prefab, FridgeShelfTag shelf, List<Footprint> footprints)
        {
            var instance = Take(prefab);
            var lying = false;
            var bounds = LocalBounds(instance, Quaternion.identity);
            var elongated = bounds.size.y > 1.6f * Mathf.Max(bounds.size.x, bounds.size.z);
            if (elongated && shelf.kind != ShelfKind.Door && TfsynthRandom.Value() < lyingProbability)
            {
                var lyingBounds = LocalBounds(instance, Quaternion.Euler(0f, 0f, 90f));
                if (FitsOn(lyingBounds, shelf))
                {
                    lying = true;
                    bounds = lyingBounds;
                }
            }
            if (!FitsOn(bounds, shelf))
            {
                Give(prefab, instance);
                return false;
            }

            var radius = 0.5f * Mathf.Sqrt(bounds.size.x * bounds.size.x + bounds.size.z * bounds.size.z);
            var halfX = shelf.size.x * 0.5f;
            var halfZ = shelf.size.y * 0.5f;
            // A footprint circle is the bounds' half-diagonal: let it overhang the usable area a little
            // (tfsynth's sampler keeps 0.7 radius from the edges), the walls lie beyond the usable area.
            var margin = radius * 0.7f;
            for (var attempt = 0; attempt < Mathf.Max(1, placementAttempts); attempt++)
            {
                var x = TfsynthRandom.Range(-halfX + margin, halfX - margin);
                var z = halfZ - Mathf.Abs(TfsynthRandom.Normal(0f, frontBias)) * shelf.size.y;
                if (shelf.kind == ShelfKind.Door)
                    z = TfsynthRandom.Range(-halfZ, halfZ);
                z = Mathf.Clamp(z, -halfZ + margin, halfZ - margin);
                if (!IsFree(footprints, x, z, radius))
                    continue;

                footprints.Add(new Footprint { x = x, z = z, radius = radius });
                var yaw = randomProductYaw ? TfsynthRandom.Range(-180f, 180f) : 0f;
                var tilt = lying ? Quaternion.Euler(0f, 0f, 90f) : Quaternion.identity;
                var yawRotation = Quaternion.Euler(0f, yaw, 0f);
                // Place the bounds' centre (not the pivot) on (x, z) and its bottom on the surface.
                var centre = yawRotation * new Vector3(bounds.center.x, 0f, bounds.center.z);
                var local = new Vector3(x - centre.x, -bounds.min.y + 0.0005f, z - centre.z);
                var shelfTransform = shelf.transform;
                instance.transform.SetPositionAndRotation(
                    shelfTransform.position + shelfTransform.rotation * local,
                    shelfTransform.rotation * yawRotation * tilt);
                return true;
            }
            Give(prefab, instance);
            return false;
        }

        bool IsFree(List<Footprint> footprints, float x, float z, float radius)
        {
            foreach (var other in footprints)
            {
                var dx = x - other.x;
                var dz = z - other.z;
                var minimum = radius + other.radius + gap;
                if (dx * dx + dz * dz < minimum * minimum)
                    return false;
            }
            return true;
        }

        static bool FitsOn(Bounds bounds, FridgeShelfTag shelf)
        {
            var radius = 0.5f * Mathf.Sqrt(bounds.size.x * bounds.size.x + bounds.size.z * bounds.size.z);
            return bounds.size.y <= shelf.clearance && 1.4f * radius <= Mathf.Min(shelf.size.x, shelf.size.y);
        }

        /// <summary>The instance's renderer bounds in its own frame, for the given rotation (pivot at origin).</summary>
        static Bounds LocalBounds(GameObject instance, Quaternion rotation)
        {
            instance.transform.SetPositionAndRotation(Vector3.zero, rotation);
            var renderers = instance.GetComponentsInChildren<Renderer>();
            if (renderers.Length == 0)
                return new Bounds(Vector3.zero, Vector3.one * 0.05f);
            var bounds = renderers[0].bounds;
            for (var i = 1; i < renderers.Length; i++)
                bounds.Encapsulate(renderers[i].bounds);
            return bounds;
        }

        GameObject Take(GameObject prefab)
        {
            if (!m_Free.TryGetValue(prefab, out var free))
                m_Free[prefab] = free = new Stack<GameObject>();
            var instance = free.Count > 0 ? free.Pop() : UnityEngine.Object.Instantiate(prefab, m_Container.transform);
            instance.SetActive(true);
            m_InUse.Add(new KeyValuePair<GameObject, GameObject>(prefab, instance));
            return instance;
        }

        void Give(GameObject prefab, GameObject instance)
        {
            instance.SetActive(false);
            m_InUse.RemoveAll(pair => pair.Value == instance);
            m_Free[prefab].Push(instance);
        }

        List<GameObject> SelectProducts()
        {
            var byClass = new Dictionary<string, List<GameObject>>();
            foreach (var prefab in productPrefabs.Where(p => p != null))
            {
                var labeling = prefab.GetComponentInChildren<Labeling>(true);
                if (labeling == null || labeling.labels.Count == 0)
                    Fail($"product prefab '{prefab.name}' has no Labeling component with a label (its class)");
                var label = labeling.labels[0];
                if (!byClass.TryGetValue(label, out var list))
                    byClass[label] = list = new List<GameObject>();
                list.Add(prefab);
            }
            var classes = SplitNames(productClasses);
            if (classes.Count == 0)
                classes = byClass.Keys.ToList();
            var missing = classes.Where(c => !byClass.ContainsKey(c)).ToList();
            if (missing.Count > 0)
                Fail($"productClasses: no product prefab labelled {string.Join(", ", missing)} " +
                    "(add them to productPrefabs: Tfsynth > Import Catalog makes them)");
            var selected = classes.SelectMany(c => byClass[c]).ToList();
            if (selected.Count == 0)
                Fail("no product prefabs: fill productPrefabs (Tfsynth > Import Catalog)");
            return selected;
        }

        List<GameObject> SelectDistractors()
        {
            var names = SplitNames(distractorNames);
            var prefabs = distractorPrefabs.Where(p => p != null).ToList();
            if (names.Count == 0)
                return prefabs;
            var missing = names.Where(n => prefabs.All(p => p.name != n)).ToList();
            if (missing.Count > 0)
                Fail($"distractorNames: no distractor prefab named {string.Join(", ", missing)}");
            return prefabs.Where(p => names.Contains(p.name)).ToList();
        }

        static List<string> SplitNames(string text)
        {
            return (text ?? "").Split(',').Select(s => s.Trim()).Where(s => s.Length > 0).ToList();
        }

        static int PickByWeight(float[] weights)
        {
            var total = weights.Sum();
            var target = TfsynthRandom.Value() * total;
            for (var i = 0; i < weights.Length; i++)
            {
                target -= weights[i];
                if (target < 0f)
                    return i;
            }
            return weights.Length - 1;
        }

        static void Shuffle<T>(IList<T> items)
        {
            for (var i = items.Count - 1; i > 0; i--)
            {
                var j = TfsynthRandom.RangeInclusive(0, i);
                (items[i], items[j]) = (items[j], items[i]);
            }
        }

        /// <summary>A configuration error: logged, and a built player quits with status 3 so that
        /// tfsynth's run_player reports it instead of waiting for images that never come.</summary>
        static void Fail(string message)
        {
            message = "FridgeProductPlacementRandomizer: " + message;
            Debug.LogError(message);
            if (!Application.isEditor)
                Application.Quit(3);
            throw new InvalidOperationException(message);
        }
    }
}
