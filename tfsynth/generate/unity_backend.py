"""The Unity Perception backend: scenario config for the player in unity_project/, running it, reading its output.

unity_project/ holds a Unity Perception 1.0 project whose randomizers mirror tfsynth's cues
(FridgeProductPlacementRandomizer, ProductColorRandomizer, ProductTextureRandomizer, CameraViewpointRandomizer,
FridgeLightingRandomizer). A built player reads a Perception "scenario configuration" JSON given with
--scenario-config-file and writes a SOLO dataset under --output-path; tfsynth.convert (--input_format solo)
turns that into the same records the embedded renderer writes.

The JSON has the layout Perception's ScenarioSerializer reads:

    {"constants": {"iterationCount": N, "startIteration": 0, "randomSeed": S},
     "randomizers": {"groups": {"<Randomizer class name>": {
         "metadata": {...}, "state": {"enabled": true, "canBeSwitchedByUser": true},
         "items": {"<public field>": {"scalar": {"metadata": {...}, "value": {"num"|"str"|"bool": V}}},
                   "<public FloatParameter field>": {"param": {"metadata": {...}, "items": {"value":
                       {"samplerOptions": {"metadata": {...}, "uniform"|"normal"|"constant": {...}}}}}}}}}}}

Every key under "items" is the name of a public field of the C# class of the same name in
unity_project/Assets/Scripts/ (tests/test_unity_backend.py parses the .cs files so the two cannot drift apart).
A cue that is off sets its randomizer's `randomize` to false, which holds that cue at the fixed values the
randomizer carries (catalog colours, canonical label placement, one camera, a 4500 K lamp), as the embedded
sampler does.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any, Iterable, Optional, Union

from tfsynth.generate.catalog import Catalog, catalog_from_flag
from tfsynth.generate.sampler import CUES, parse_cues
from tfsynth.utils.files import write_atomically

UNITY_PROJECT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 "unity_project")
SCRIPTS_DIR = os.path.join(UNITY_PROJECT_DIR, "Assets", "Scripts")

# FixedLengthScenario.Constants of Perception 1.0 (ScenarioConstants.randomSeed is a uint).
SCENARIO_CONSTANTS = ("iterationCount", "startIteration", "randomSeed")
# IdLabelConfig's MonoScript guid in com.unity.perception (Runtime/GroundTruth/Labeling/IdLabelConfig.cs.meta).
ID_LABEL_CONFIG_SCRIPT_GUID = "2f09f279848e42cea259348b13bce4c5"

PLACEMENT = "FridgeProductPlacementRandomizer"
COLOR = "ProductColorRandomizer"
TEXTURE = "ProductTextureRandomizer"
VIEWPOINT = "CameraViewpointRandomizer"
LIGHTING = "FridgeLightingRandomizer"
RANDOMIZERS = (PLACEMENT, COLOR, TEXTURE, VIEWPOINT, LIGHTING)


class UnityPlayerError(RuntimeError):
    """The Unity player is missing, failed, or wrote no SOLO dataset (the message says which and where)."""


def _metadata(name: str = "", description: str = "") -> dict:
    # Perception's reader calls metadata.ToObject() unconditionally: every group, item and sampler needs one.
    return {"name": name, "description": description, "imageLink": ""}


def _scalar(value: Union[bool, int, float, str], description: str = "") -> dict:
    if isinstance(value, bool):  # before int: bool is an int in Python
        typed = {"bool": value}
    elif isinstance(value, (int, float)):
        typed = {"num": value}
    elif isinstance(value, str):
        typed = {"str": value}
    else:
        raise TypeError(f"scenario scalar must be bool, number or string, got {value!r}")
    return {"scalar": {"metadata": _metadata(description=description), "value": typed}}


def _uniform(low: float, high: float, description: str = "") -> dict:
    """A FloatParameter whose `value` sampler is Uniform(low, high)."""
    sampler = {"metadata": _metadata(), "uniform": {"min": float(low), "max": float(high)}}
    return {"param": {"metadata": _metadata(description=description),
                      "items": {"value": {"samplerOptions": sampler}}}}


def _normal(mean: float, stddev: float, low: float, high: float, description: str = "") -> dict:
    """A FloatParameter whose `value` sampler is Normal(mean, stddev) truncated to [low, high]."""
    sampler = {"metadata": _metadata(), "normal": {"min": float(low), "max": float(high), "mean": float(mean),
                                                   "stddev": float(stddev)}}
    return {"param": {"metadata": _metadata(description=description),
                      "items": {"value": {"samplerOptions": sampler}}}}


def _group(items: dict, description: str) -> dict:
    return {"metadata": _metadata(description=description),
            "state": {"enabled": True, "canBeSwitchedByUser": True}, "items": items}


def _checked_range(value: Iterable[int], name: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected (min, max) integers, got {value!r}") from None
    if low < 0 or high < low:
        raise ValueError(f"{name}: expected 0 <= min <= max, got ({low}, {high})")
    return low, high


def _checked_cues(cues: Union[str, Iterable[str], None]) -> frozenset[str]:
    if cues is None or isinstance(cues, str):
        return parse_cues(cues or "all")
    cues = frozenset(cues)
    unknown = sorted(cues - set(CUES))
    if unknown:
        raise ValueError(f"cues: unknown cue(s) {unknown}; expected some of {list(CUES)}")
    return cues


def scenario_config(catalog: Union[Catalog, str, None], cues: Union[str, Iterable[str], None], num_images: int,
                    seed: int, products_per_image: Iterable[int] = (6, 24), distractors: Iterable[int] = (0, 4),
                    width: int = 640, height: int = 480) -> dict:
    """The Perception scenario configuration (a dict, see the module docstring) of one dataset.

    catalog: a Catalog, a YAML path, or None/'default' for the procedural one (its class names choose which
    product prefabs the player places). cues: 'all', 'none', '-texture', 'color,viewpoint' or a set of cue
    names. The ranges mirror tfsynth.generate.sampler; each Unity iteration renders one image.
    """
    if not isinstance(catalog, Catalog):
        catalog = catalog_from_flag(catalog)
    cue_set = _checked_cues(cues)
    if not isinstance(num_images, int) or isinstance(num_images, bool) or num_images < 1:
        raise ValueError(f"num_images: expected an integer >= 1, got {num_images!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed: expected an integer in [0, 2**32) (Perception's randomSeed is a uint), got {seed!r}")
    products = _checked_range(products_per_image, "products_per_image")
    distractor_range = _checked_range(distractors, "distractors")
    if products[1] < 1:
        raise ValueError(f"products_per_image: expected max >= 1, got {products}")
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 8192:
            raise ValueError(f"{name}: expected an integer pixel count in [16, 8192], got {value!r}")
    for product in catalog.products + catalog.distractors:
        if "," in product.name:
            raise ValueError(f"{catalog.source}: product {product.name!r}: names go into a comma-separated "
                             "list for the player and must not contain ','")

    placement = {
        "productClasses": _scalar(",".join(catalog.class_names),
                                  "labelled classes to place (Labeling label of the product prefabs)"),
        "distractorNames": _scalar(",".join(p.name for p in catalog.distractors),
                                   "distractor prefab names to place (never labelled)"),
        "productsPerImageMin": _scalar(products[0]),
        "productsPerImageMax": _scalar(products[1]),
        "distractorsMin": _scalar(distractor_range[0] if catalog.distractors else 0),
        "distractorsMax": _scalar(distractor_range[1] if catalog.distractors else 0),
        # Product yaw belongs to the viewpoint cue in tfsynth's sampler (off: every product faces the camera).
        "randomProductYaw": _scalar("viewpoint" in cue_set),
        "lyingProbability": _scalar(0.25),
        "frontBias": _scalar(0.45, "std of the depth preference, as a fraction of the shelf depth"),
        "placementAttempts": _scalar(12),
        "gap": _scalar(0.004, "metres kept free between neighbouring footprints"),
    }
    color = {
        "randomize": _scalar("color" in cue_set),
        "tintStdDev": _scalar(0.07),
        "brightness": _uniform(0.85, 1.1),
        "minTint": _scalar(0.6),
        "maxTint": _scalar(1.3),
        "randomizeFridgeColor": _scalar("color" in cue_set),
    }
    texture = {
        "randomize": _scalar("texture" in cue_set),
        "labelRotation": _uniform(0.0, 1.0, "label offset around the product axis, in turns"),
        "wear": _uniform(0.0, 0.3),
        "randomizeFridgeSurfaces": _scalar("texture" in cue_set),
    }
    viewpoint = {
        "randomize": _scalar("viewpoint" in cue_set),
        "imageWidth": _scalar(int(width)),
        "imageHeight": _scalar(int(height)),
        "distance": _uniform(0.45, 1.6, "metres from the fridge opening"),
        "height": _uniform(0.2, 1.3, "camera height above the fridge floor, metres"),
        "yaw": _uniform(-18.0, 18.0, "degrees left/right of the fridge axis"),
        "pitch": _uniform(-25.0, 15.0, "degrees; negative looks down"),
        "roll": _normal(0.0, 2.5, -7.5, 7.5, "degrees"),
        "fieldOfView": _uniform(45.0, 65.0, "vertical, degrees"),
        "fixedDistance": _scalar(1.35),
        "fixedHeight": _scalar(0.62),
        "fixedPitch": _scalar(-1.0),
        "fixedFieldOfView": _scalar(55.0),
    }
    lighting = {
        "randomize": _scalar("lighting" in cue_set),
        "colorTemperature": _uniform(2700.0, 6500.0, "fridge lamp, kelvin"),
        "intensity": _uniform(0.9, 2.0, "fridge lamp, times its authored intensity"),
        "roomColorTemperature": _uniform(2700.0, 6500.0, "room light, kelvin"),
        "roomIntensity": _uniform(0.4, 2.0, "room light, times its authored intensity"),
        "fixedColorTemperature": _scalar(4500.0),
        "fixedRoomColorTemperature": _scalar(5000.0),
    }
    groups = {
        PLACEMENT: _group(placement, "products on shelves without interpenetration, and distractors"),
        COLOR: _group(color, "color cue"),
        TEXTURE: _group(texture, "texture cue"),
        VIEWPOINT: _group(viewpoint, "viewpoint cue, and the image size"),
        LIGHTING: _group(lighting, "lighting cue"),
    }
    constants = {"iterationCount": num_images, "startIteration": 0, "randomSeed": seed}
    return {"constants": constants, "randomizers": {"groups": groups}}


def write_scenario_config(path: str, catalog: Union[Catalog, str, None], cues: Union[str, Iterable[str], None],
                          num_images: int, seed: int, products_per_image: Iterable[int] = (6, 24),
                          distractors: Iterable[int] = (0, 4), width: int = 640, height: int = 480) -> dict:
    """Writes the scenario configuration JSON of scenario_config(...) to `path` (temp name, then rename);
    returns the dict written."""
    config = scenario_config(catalog, cues, num_images, seed, products_per_image, distractors, width, height)
    write_atomically(path, json.dumps(config, indent=2) + "\n")
    return config


def unity_catalog(catalog: Union[Catalog, str, None], label_map: Optional[dict[str, int]] = None) -> dict:
    """The catalog as the JSON that unity_project's editor importer (Tfsynth > Import Catalog) reads with
    JsonUtility: sizes in metres, colours 0-1, label ids (label map ids, or catalog order from 1)."""
    if not isinstance(catalog, Catalog):
        catalog = catalog_from_flag(catalog)
    if label_map is None:
        label_map = {name: index for index, name in enumerate(catalog.class_names, 1)}
    missing = [name for name in catalog.class_names if name not in label_map]
    if missing:
        raise ValueError(f"label map has no id for catalog class(es) {missing}")
    entries = []
    for product in catalog.products + catalog.distractors:
        width, height, depth = product.fixed_size_m()
        entries.append({
            "name": product.name, "label": "" if product.is_distractor else product.label,
            "archetype": product.archetype, "material": product.material,
            "isDistractor": product.is_distractor,
            "labelId": 0 if product.is_distractor else int(label_map[product.label]),
            "width": round(width, 5), "height": round(height, 5), "depth": round(depth, 5),
            "colors": [{"r": round(c[0] / 255.0, 4), "g": round(c[1] / 255.0, 4), "b": round(c[2] / 255.0, 4)}
                       for c in product.colors],
            "texture": product.texture_path or "", "mesh": product.mesh_path or "",
        })
    # The file name only: the JSON is committed into unity_project/ and must not hold a machine's paths.
    return {"source": os.path.basename(catalog.source), "products": entries}


def write_unity_catalog(path: str, catalog: Union[Catalog, str, None],
                        label_map: Optional[dict[str, int]] = None) -> dict:
    """Writes unity_catalog(...) as JSON to `path` (temp name, then rename); returns it."""
    data = unity_catalog(catalog, label_map)
    write_atomically(path, json.dumps(data, indent=2) + "\n")
    return data


def id_label_config_asset(name_to_id: dict[str, int], asset_name: str = "FridgeIdLabelConfig") -> str:
    """The text of a Perception IdLabelConfig .asset (Unity YAML) listing `name_to_id` in id order, so the
    Unity labels (and SOLO labelId/labelName) match the tfsynth label map."""
    ids = sorted(name_to_id.items(), key=lambda item: item[1])
    seen: dict[int, str] = {}
    for name, label_id in ids:
        if not isinstance(label_id, int) or label_id < 1:
            raise ValueError(f"label {name!r}: expected an id >= 1, got {label_id!r}")
        if label_id in seen:
            raise ValueError(f"labels {seen[label_id]!r} and {name!r} share id {label_id}")
        if not re.fullmatch(r"[A-Za-z0-9_.\- ]+", name):
            raise ValueError(f"label {name!r}: only letters, digits, space, '_', '.', '-' are written to the asset")
        seen[label_id] = name
    lines = [
        "%YAML 1.1",
        "%TAG !u! tag:unity3d.com,2011:",
        "--- !u!114 &11400000",
        "MonoBehaviour:",
        "  m_ObjectHideFlags: 0",
        "  m_CorrespondingSourceObject: {fileID: 0}",
        "  m_PrefabInstance: {fileID: 0}",
        "  m_PrefabAsset: {fileID: 0}",
        "  m_GameObject: {fileID: 0}",
        "  m_Enabled: 1",
        "  m_EditorHideFlags: 0",
        f"  m_Script: {{fileID: 11500000, guid: {ID_LABEL_CONFIG_SCRIPT_GUID}, type: 3}}",
        f"  m_Name: {asset_name}",
        "  m_EditorClassIdentifier: ",
        "  m_LabelEntries:",
    ]
    for name, label_id in ids:
        lines += [f"  - label: {name}", f"    id: {label_id}"]
    # ids come from the label map, so the inspector must not renumber them.
    lines += ["  autoAssignIds: 0", "  startingLabelId: 1", ""]
    return "\n".join(lines)


def write_id_label_config(path: str, name_to_id: dict[str, int]) -> None:
    """Writes id_label_config_asset(name_to_id) to `path` (a .asset file; keeps an existing .meta)."""
    asset_name = os.path.splitext(os.path.basename(path))[0]
    write_atomically(path, id_label_config_asset(name_to_id, asset_name))


def player_command(player_path: str, scenario_config: str, output_dir: str, width: Optional[int] = None,
                   height: Optional[int] = None, log_file: Optional[str] = None) -> list[str]:
    """The command line run_player uses. -batchmode without -nographics: Perception captures need the GPU."""
    command = [player_path, "-batchmode", "--scenario-config-file", os.path.abspath(scenario_config),
               "--output-path", os.path.abspath(output_dir)]
    if width and height:
        # Unity's own player flags; CameraViewpointRandomizer also sets this size from the config.
        command += ["-screen-width", str(width), "-screen-height", str(height), "-screen-fullscreen", "0"]
    if log_file:
        command += ["-logFile", os.path.abspath(log_file)]
    return command


def _image_size(config: dict) -> tuple[Optional[int], Optional[int]]:
    try:
        items = config["randomizers"]["groups"][VIEWPOINT]["items"]
        return (int(items["imageWidth"]["scalar"]["value"]["num"]),
                int(items["imageHeight"]["scalar"]["value"]["num"]))
    except (KeyError, TypeError, ValueError):
        return None, None


def find_solo_dataset(output_dir: str) -> str:
    """The SOLO dataset a player wrote under output_dir: output_dir itself when it holds metadata.json, else
    the most recently written sub-folder that does (Perception names them solo, solo_1, ...)."""
    if os.path.isfile(os.path.join(output_dir, "metadata.json")):
        return output_dir
    candidates = []
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            folder = os.path.join(output_dir, name)
            metadata = os.path.join(folder, "metadata.json")
            if os.path.isfile(metadata):
                candidates.append((os.path.getmtime(metadata), folder))
    if not candidates:
        raise UnityPlayerError(f"{output_dir}: no SOLO dataset (a folder with metadata.json) was written")
    return max(candidates)[1]


def _log_tail(path: str, size: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_player(player_path: str, scenario_config: str, output_dir: str, timeout: Optional[float] = None,
               log_file: Optional[str] = None) -> str:
    """Runs a built player of unity_project/ on a scenario config; returns the SOLO dataset folder it wrote.

    Raises UnityPlayerError when the player is missing or not executable, exits with an error, times out, or
    leaves no dataset under output_dir. The player's log goes to log_file (default output_dir/player.log).
    """
    if not player_path:
        raise UnityPlayerError("no Unity player given: build one from unity_project/ (see unity_project/README.md)")
    if os.path.isdir(player_path) and player_path.rstrip("/").endswith(".app"):
        # macOS bundle: the executable is inside.
        name = os.path.splitext(os.path.basename(player_path.rstrip("/")))[0]
        player_path = os.path.join(player_path, "Contents", "MacOS", name)
    if not os.path.isfile(player_path):
        raise UnityPlayerError(f"{player_path}: Unity player not found; build it from unity_project/ "
                               "(see unity_project/README.md, 'Build the player')")
    if not os.access(player_path, os.X_OK):
        raise UnityPlayerError(f"{player_path}: Unity player is not executable (chmod +x it)")
    if not os.path.isfile(scenario_config):
        raise UnityPlayerError(f"{scenario_config}: scenario config not found (write it with "
                               "write_scenario_config)")
    try:
        with open(scenario_config, encoding="utf-8") as handle:
            config = json.load(handle)
    except json.JSONDecodeError as error:
        raise UnityPlayerError(f"{scenario_config}:{error.lineno}: not valid JSON: {error.msg}") from None
    os.makedirs(output_dir, exist_ok=True)
    log_file = log_file or os.path.join(output_dir, "player.log")
    width, height = _image_size(config)
    command = player_command(player_path, scenario_config, output_dir, width, height, log_file)
    try:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                                   check=False)
    except subprocess.TimeoutExpired:
        raise UnityPlayerError(f"{player_path}: still running after {timeout} s (log: {log_file})") from None
    except OSError as error:
        raise UnityPlayerError(f"{player_path}: cannot start the player: {error}") from None
    if completed.returncode != 0:
        # With -logFile the player logs to the file; its end says what went wrong.
        tail = _log_tail(log_file) or completed.stdout.decode("utf-8", "replace")[-2000:]
        raise UnityPlayerError(f"{player_path}: exited with status {completed.returncode} (log: {log_file})"
                               + (f"\n{tail}" if tail.strip() else ""))
    return find_solo_dataset(output_dir)


def generate_with_unity(player_path: str, output_dir: str, catalog: Union[Catalog, str, None] = None,
                        cues: Union[str, Iterable[str], None] = "all", num_images: int = 4000, seed: int = 0,
                        products_per_image: Iterable[int] = (6, 24), distractors: Iterable[int] = (0, 4),
                        width: int = 640, height: int = 480, label_map_path: Optional[str] = None,
                        num_shards: int = 10, name: str = "train", include_masks: bool = False,
                        timeout: Optional[float] = None) -> Any:
    """Scenario config -> Unity player -> SOLO -> records: output_dir/scenario.json, output_dir/unity_solo/
    (the player's output, kept), and NAME-*.tfrecord + label_map.pbtxt + NAME_coco.json in output_dir.
    Without label_map_path, ids follow the catalog order (as the embedded renderer's). Returns
    tfsynth.convert's ConversionSummary."""
    from tfsynth.convert import convert
    from tfsynth.utils import label_map_util

    if not isinstance(catalog, Catalog):
        catalog = catalog_from_flag(catalog)
    config_path = os.path.join(output_dir, "scenario.json")
    write_scenario_config(config_path, catalog, cues, num_images, seed, products_per_image, distractors, width,
                          height)
    solo_root = os.path.join(output_dir, "unity_solo")
    dataset = run_player(player_path, config_path, solo_root, timeout=timeout)
    if label_map_path is None:
        # Ids in catalog order, as the embedded renderer assigns them without --label_map.
        label_map_path = os.path.join(solo_root, "catalog_label_map.pbtxt")
        label_map_util.write_label_map(label_map_path, {name: index for index, name in
                                                        enumerate(catalog.class_names, 1)})
    return convert(input_format="solo", input_path=dataset, output_dir=output_dir, num_shards=num_shards,
                   name=name, label_map_path=label_map_path, include_masks=include_masks)

