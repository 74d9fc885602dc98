using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using UnityEditor;
using UnityEditor.SceneManagement;
using UnityEngine;
using UnityEngine.Perception.GroundTruth;
using UnityEngine.Perception.GroundTruth.Labelers;
using UnityEngine.Perception.Randomization.Scenarios;

namespace Tfsynth.Editor
{
    /// <summary>
    /// Editor commands that build the tfsynth fridge project from tfsynth's own files, so nothing is set up by
    /// hand: the IdLabelConfig from a label_map.pbtxt, product prefabs from a catalog exported with
    /// tfsynth.generate.unity_backend.write_unity_catalog, the fridge scene with its Perception camera and
    /// scenario, and the player (also callable with -executeMethod Tfsynth.Editor.TfsynthProjectMenu.BuildPlayer).
    /// </summary>
    public static class TfsynthProjectMenu
    {
        const string k_Root = "Assets/Tfsynth";
        const string k_LabelConfigPath = k_Root + "/FridgeIdLabelConfig.asset";
        const string k_PrefabDir = k_Root + "/Prefabs";
        const string k_MaterialDir = k_Root + "/Materials";
        const string k_ScenePath = k_Root + "/FridgeScene.unity";
        const string k_PlayerName = "tfsynth_fridge";

        [Serializable]
        class CatalogColor
        {
            public float r, g, b;
        }

        [Serializable]
        class CatalogEntry
        {
            public string name, label, archetype, material, texture, mesh;  // label: the class (several products may share it)
            public bool isDistractor;
            public int labelId;
            public float width, height, depth;
            public CatalogColor[] colors;
        }

        [Serializable]
        class CatalogFile
        {
            public string source;
            public CatalogEntry[] products;
        }

        // ---------------------------------------------------------------- label config

        [MenuItem("Tfsynth/Build Label Config From Label Map...")]
        static void BuildLabelConfigMenu()
        {
            var path = EditorUtility.OpenFilePanel("tfsynth label_map.pbtxt", "", "pbtxt");
            if (!string.IsNullOrEmpty(path))
                BuildLabelConfig(path);
        }

        /// <summary>Writes Assets/Tfsynth/FridgeIdLabelConfig.asset with the label map's names and ids.</summary>
        public static IdLabelConfig BuildLabelConfig(string labelMapPath)
        {
            var entries = ReadLabelMap(labelMapPath);
            var config = AssetDatabase.LoadAssetAtPath<IdLabelConfig>(k_LabelConfigPath);
            var isNew = config == null;
            if (isNew)
                config = ScriptableObject.CreateInstance<IdLabelConfig>();
            config.autoAssignIds = false;  // ids come from the label map
            config.startingLabelId = StartingLabelId.One;
            config.Init(entries);
            EnsureFolder(k_Root);
            if (isNew)
                AssetDatabase.CreateAsset(config, k_LabelConfigPath);
            EditorUtility.SetDirty(config);
            AssetDatabase.SaveAssets();
            Debug.Log($"tfsynth: {k_LabelConfigPath} lists {entries.Count} labels from {labelMapPath}");
            return config;
        }

        /// <summary>The items of a label_map.pbtxt (id >= 1), in id order; errors name the file and item.</summary>
        static List<IdLabelEntry> ReadLabelMap(string path)
        {
            var text = File.ReadAllText(path);
            var entries = new List<IdLabelEntry>();
            var index = 0;
            foreach (Match item in Regex.Matches(text, @"item\s*\{([^}]*)\}"))
            {
                index++;
                var body = item.Groups[1].Value;
                var id = Regex.Match(body, @"\bid\s*:\s*(-?\d+)");
                var name = Regex.Match(body, @"\bname\s*:\s*[""']([^""']*)[""']");
                var display = Regex.Match(body, @"\bdisplay_name\s*:\s*[""']([^""']*)[""']");
                if (!id.Success)
                    throw new FormatException($"{path}: item {index} has no id");
                var label = name.Success ? name.Groups[1].Value : display.Success ? display.Groups[1].Value : "";
                if (label.Length == 0)
                    throw new FormatException($"{path}: item {index} (id {id.Groups[1].Value}) has no name");
                var labelId = int.Parse(id.Groups[1].Value);
                if (labelId < 1)
                    continue;  // the background entry
                entries.Add(new IdLabelEntry { label = label, id = labelId });
            }
            if (entries.Count == 0)
                throw new FormatException($"{path}: no label map items with id >= 1");
            return entries.OrderBy(e => e.id).ToList();
        }

        /// <summary>Creates an Assets/... folder (and its parents) through the AssetDatabase, which only
        /// creates assets in folders it knows.</summary>
        static void EnsureFolder(string path)
        {
            if (AssetDatabase.IsValidFolder(path))
                return;
            var parent = Path.GetDirectoryName(path).Replace('\\', '/');
            EnsureFolder(parent);
            AssetDatabase.CreateFolder(parent, Path.GetFileName(path));
        }

        // ---------------------------------------------------------------- catalog -> prefabs

        [MenuItem("Tfsynth/Import Catalog...")]
        static void ImportCatalogMenu()
        {
            var path = EditorUtility.OpenFilePanel("tfsynth catalog JSON (write_unity_catalog)", "", "json");
            if (!string.IsNullOrEmpty(path))
                ImportCatalog(path);
        }

        /// <summary>One prefab per catalog product/distractor under Assets/Tfsynth/Prefabs: a primitive of the
        /// archetype's shape at the catalog size, a Lit material in the main colour, the tfsynth tags, and for
        /// products a Labeling with the class name. Replace the mesh by a real model where you have one.</summary>
        public static void ImportCatalog(string catalogJsonPath)
        {
            var catalog = JsonUtility.FromJson<CatalogFile>(File.ReadAllText(catalogJsonPath));
            if (catalog?.products == null || catalog.products.Length == 0)
                throw new FormatException($"{catalogJsonPath}: expected {{\"products\": [...]}} as written by " +
                    "tfsynth.generate.unity_backend.write_unity_catalog");
            EnsureFolder(k_PrefabDir);
            EnsureFolder(k_MaterialDir);
            var shader = Shader.Find("HDRP/Lit") ?? Shader.Find("Universal Render Pipeline/Lit") ?? Shader.Find("Standard");
            foreach (var entry in catalog.products)
            {
                if (string.IsNullOrEmpty(entry.name) || entry.width <= 0f || entry.height <= 0f || entry.depth <= 0f)
                    throw new FormatException($"{catalogJsonPath}: product '{entry.name}': expected a name and " +
                        "positive width, height, depth (metres)");
                var material = new Material(shader) { name = entry.name };
                var main = entry.colors != null && entry.colors.Length > 0 ? entry.colors[0] : new CatalogColor { r = 0.8f, g = 0.8f, b = 0.8f };
                material.SetColor("_BaseColor", new Color(main.r, main.g, main.b));
                if (material.HasProperty("_Smoothness"))
                    material.SetFloat("_Smoothness", entry.material == "matte" ? 0.2f : entry.material == "glass" ? 0.95f : 0.7f);
                AssetDatabase.CreateAsset(material, $"{k_MaterialDir}/{entry.name}.mat");

                var root = new GameObject(entry.name);
                var shape = GameObject.CreatePrimitive(PrimitiveFor(entry.archetype));
                UnityEngine.Object.DestroyImmediate(shape.GetComponent<Collider>());
                shape.name = "shape";
                shape.transform.SetParent(root.transform, false);
                // Unity's cylinder is 2 units tall; every primitive is 1 unit across.
                var yScale = PrimitiveFor(entry.archetype) == PrimitiveType.Cylinder ? entry.height * 0.5f : entry.height;
                shape.transform.localScale = new Vector3(entry.width, yScale, entry.depth);
                shape.transform.localPosition = new Vector3(0f, entry.height * 0.5f, 0f);
                shape.GetComponent<Renderer>().sharedMaterial = material;
                root.AddComponent<ProductColorTag>();
                root.AddComponent<ProductTextureTag>();
                if (!entry.isDistractor)
                    root.AddComponent<Labeling>().labels.Add(entry.label);
                PrefabUtility.SaveAsPrefabAsset(root, $"{k_PrefabDir}/{entry.name}.prefab");
                UnityEngine.Object.DestroyImmediate(root);
            }
            AssetDatabase.SaveAssets();
            Debug.Log($"tfsynth: {catalog.products.Length} prefabs in {k_PrefabDir} from {catalogJsonPath}");
        }

        static PrimitiveType PrimitiveFor(string archetype)
        {
            switch (archetype)
            {
                case "sphere":
                case "ellipsoid":
                case "squash":
                    return PrimitiveType.Sphere;
                case "can":
                case "bottle":
                case "squeeze_bottle":
                case "jar":
                case "cup":
                case "tub":
                    return PrimitiveType.Cylinder;
                default:
                    return PrimitiveType.Cube;
            }
        }

        // ---------------------------------------------------------------- scene

        [MenuItem("Tfsynth/Build Fridge Scene")]
        public static void BuildFridgeScene()
        {
            var labelConfig = AssetDatabase.LoadAssetAtPath<IdLabelConfig>(k_LabelConfigPath);
            if (labelConfig == null)
                throw new InvalidOperationException($"{k_LabelConfigPath} is missing: run Tfsynth > Build Label Config first");
            var prefabs = AssetDatabase.FindAssets("t:Prefab", new[] { k_PrefabDir })
                .Select(guid => AssetDatabase.LoadAssetAtPath<GameObject>(AssetDatabase.GUIDToAssetPath(guid)))
                .Where(p => p != null).ToList();
            var products = prefabs.Where(p => p.GetComponent<Labeling>() != null).ToArray();
            var distractors = prefabs.Where(p => p.GetComponent<Labeling>() == null).ToArray();
            if (products.Length == 0)
                throw new InvalidOperationException($"no product prefabs in {k_PrefabDir}: run Tfsynth > Import Catalog first");

            EnsureFolder(k_MaterialDir);
            var scene = EditorSceneManager.NewScene(NewSceneSetup.EmptyScene, NewSceneMode.Single);
            var shader = Shader.Find("HDRP/Lit") ?? Shader.Find("Universal Render Pipeline/Lit") ?? Shader.Find("Standard");
            var wall = new Material(shader) { name = "fridge_wall" };
            wall.SetColor("_BaseColor", new Color(0.86f, 0.87f, 0.88f));
            AssetDatabase.CreateAsset(wall, $"{k_MaterialDir}/fridge_wall.mat");

            // Fridge interior 0.64 m wide, 1.2 m high, 0.5 m deep; origin at the front of its floor, +z outwards.
            const float halfWidth = 0.32f, fridgeHeight = 1.2f, depth = 0.5f, t = 0.02f;
            var origin = new GameObject("FridgeOrigin").transform;
            var body = new GameObject("FridgeBody");
            body.transform.SetParent(origin, false);
            Slab(body.transform, "back", new Vector3(0f, fridgeHeight / 2, -depth - t / 2), new Vector3(2 * halfWidth, fridgeHeight, t), wall);
            Slab(body.transform, "left", new Vector3(-halfWidth - t / 2, fridgeHeight / 2, -depth / 2), new Vector3(t, fridgeHeight, depth), wall);
            Slab(body.transform, "right", new Vector3(halfWidth + t / 2, fridgeHeight / 2, -depth / 2), new Vector3(t, fridgeHeight, depth), wall);
            Slab(body.transform, "ceiling", new Vector3(0f, fridgeHeight + t / 2, -depth / 2), new Vector3(2 * halfWidth, t, depth), wall);
            Slab(body.transform, "floor", new Vector3(0f, -t / 2, -depth / 2), new Vector3(2 * halfWidth, t, depth), wall);
            body.AddComponent<ProductColorTag>().isFridgeBody = true;
            body.AddComponent<ProductTextureTag>().isFridgeSurface = true;

            var levels = new[] { 0f, 0.36f, 0.74f };
            for (var i = 0; i < levels.Length; i++)
            {
                var top = i + 1 < levels.Length ? levels[i + 1] : fridgeHeight;
                if (i > 0)
                    Slab(body.transform, $"shelf_{i}", new Vector3(0f, levels[i] - 0.003f, -depth / 2), new Vector3(2 * halfWidth, 0.006f, depth), wall);
                var shelf = new GameObject($"shelf_surface_{i}").AddComponent<FridgeShelfTag>();
                shelf.transform.SetParent(origin, false);
                shelf.transform.localPosition = new Vector3(0f, levels[i], -depth / 2);
                shelf.size = new Vector2(2 * halfWidth - 0.06f, depth - 0.09f);
                shelf.clearance = top - levels[i] - 0.02f;
                shelf.kind = i == 0 ? ShelfKind.Floor : ShelfKind.Shelf;
            }

            var lamp = new GameObject("FridgeLamp").AddComponent<Light>();
            lamp.type = LightType.Point;
            lamp.range = 2f;
            lamp.transform.SetParent(origin, false);
            lamp.transform.localPosition = new Vector3(0f, fridgeHeight - 0.05f, -depth * 0.35f);
            lamp.gameObject.AddComponent<FridgeLightTag>().role = FridgeLightRole.Lamp;
            var room = new GameObject("RoomLight").AddComponent<Light>();
            room.type = LightType.Directional;
            room.transform.rotation = Quaternion.Euler(40f, 180f, 0f);
            room.gameObject.AddComponent<FridgeLightTag>().role = FridgeLightRole.Room;

            var cameraObject = new GameObject("PerceptionCamera");
            cameraObject.tag = "MainCamera";
            var camera = cameraObject.AddComponent<Camera>();
            camera.nearClipPlane = 0.05f;
            cameraObject.AddComponent<CameraViewpointTag>().fridgeOrigin = origin;
            var perceptionCamera = cameraObject.AddComponent<PerceptionCamera>();
            perceptionCamera.captureRgbImages = true;
            perceptionCamera.AddLabeler(new BoundingBox2DLabeler(labelConfig));
            perceptionCamera.AddLabeler(new InstanceSegmentationLabeler(labelConfig));

            var scenario = new GameObject("Scenario").AddComponent<FixedLengthScenario>();
            scenario.constants.iterationCount = 100;
            scenario.AddRandomizer(new FridgeProductPlacementRandomizer { productPrefabs = products, distractorPrefabs = distractors });
            scenario.AddRandomizer(new ProductColorRandomizer());
            scenario.AddRandomizer(new ProductTextureRandomizer());
            scenario.AddRandomizer(new CameraViewpointRandomizer());
            scenario.AddRandomizer(new FridgeLightingRandomizer());

            EditorSceneManager.SaveScene(scene, k_ScenePath);
            EditorBuildSettings.scenes = new[] { new EditorBuildSettingsScene(k_ScenePath, true) };
            Debug.Log($"tfsynth: {k_ScenePath} with {products.Length} products, {distractors.Length} distractors");
        }

        static void Slab(Transform parent, string name, Vector3 centre, Vector3 size, Material material)
        {
            var slab = GameObject.CreatePrimitive(PrimitiveType.Cube);
            slab.name = name;
            slab.transform.SetParent(parent, false);
            slab.transform.localPosition = centre;
            slab.transform.localScale = size;
            slab.GetComponent<Renderer>().sharedMaterial = material;
        }

        // ---------------------------------------------------------------- player

        [MenuItem("Tfsynth/Build Player")]
        static void BuildPlayerMenu() => BuildPlayer();

        /// <summary>Builds the fridge scene into Build/&lt;platform&gt;/tfsynth_fridge for the editor's current
        /// build target. Batch use: Unity -batchmode -quit -projectPath unity_project -buildTarget Linux64
        /// -executeMethod Tfsynth.Editor.TfsynthProjectMenu.BuildPlayer</summary>
        public static void BuildPlayer()
        {
            var target = EditorUserBuildSettings.activeBuildTarget;
            string file;
            switch (target)
            {
                case BuildTarget.StandaloneWindows64:
                    file = $"Build/Windows/{k_PlayerName}.exe";
                    break;
                case BuildTarget.StandaloneOSX:
                    file = $"Build/macOS/{k_PlayerName}.app";
                    break;
                default:
                    target = BuildTarget.StandaloneLinux64;
                    file = $"Build/Linux/{k_PlayerName}.x86_64";
                    break;
            }
            var options = new BuildPlayerOptions
            {
                scenes = new[] { k_ScenePath },
                locationPathName = file,
                target = target,
                options = BuildOptions.None
            };
            var report = BuildPipeline.BuildPlayer(options);
            if (report.summary.result != UnityEditor.Build.Reporting.BuildResult.Succeeded)
            {
                Debug.LogError($"tfsynth: player build {report.summary.result} ({report.summary.totalErrors} errors)");
                if (Application.isBatchMode)
                    EditorApplication.Exit(1);
                return;
            }
            Debug.Log($"tfsynth: player built at {Path.GetFullPath(file)}");
        }
    }
}
