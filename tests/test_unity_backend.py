"""unity_project/ and tfsynth/generate/unity_backend.py: the scenario JSON against the C# randomizers' public
fields (parsed from the .cs files, so the two cannot drift apart), the committed Unity assets against tfsynth's
label map and catalog, the player runner (with a stand-in player script), and SOLO -> records."""
from __future__ import annotations

import glob
import json
import os
import re
import stat
import textwrap

import pytest

from tfsynth.generate import unity_backend
from tfsynth.generate.catalog import load_catalog
from tfsynth.generate.unity_backend import RANDOMIZERS, SCRIPTS_DIR, UNITY_PROJECT_DIR, UnityPlayerError
from tfsynth.utils.shared_data import SHARED_DATA

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(REPO, "configs", "fridge_us_catalog.yaml")
LABEL_MAP = os.path.join(REPO, "configs", "fridge_us_label_map.pbtxt")
SOLO_SAMPLE = str(SHARED_DATA / "unity_solo_sample")

# Field types Perception's ScenarioSerializer writes and reads: scalars and numeric parameters.
SCALAR_TYPES = {"int": "num", "float": "num", "double": "num", "bool": "bool", "string": "str"}
PARAMETER_TYPES = {"FloatParameter", "IntegerParameter"}
_FIELD = re.compile(r"^[ \t]*public\s+(?!static\b|const\b|readonly\b|override\b|abstract\b|virtual\b)"
                    r"([\w<>\[\]]+)\s+(\w+)\s*(=[^;]*)?;", re.M)
_CLASS = re.compile(r"public\s+class\s+(\w+)\s*:\s*(\w+)")


def _cs_source(class_name: str) -> str:
    path = os.path.join(SCRIPTS_DIR, f"{class_name}.cs")
    assert os.path.isfile(path), f"no {path} for {class_name}"
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _serialized_fields(class_name: str) -> dict[str, tuple[str, str]]:
    """Public fields of the class that the scenario JSON can set: name -> (C# type, initializer text)."""
    source = _cs_source(class_name)
    fields = {}
    for match in _FIELD.finditer(source):
        type_name, name, initializer = match.group(1), match.group(2), (match.group(3) or "").lstrip("= ").strip()
        if type_name in SCALAR_TYPES or type_name in PARAMETER_TYPES:
            fields[name] = (type_name, initializer)
    return fields


def _config(cues="all", **overrides) -> dict:
    arguments = dict(catalog=CATALOG, cues=cues, num_images=5, seed=7, products_per_image=(6, 24),
                     distractors=(0, 4), width=640, height=480)
    arguments.update(overrides)
    return unity_backend.scenario_config(**arguments)


def _scalar_value(item: dict):
    (kind, value), = item["scalar"]["value"].items()
    return kind, value


def _sampler(item: dict) -> tuple[str, dict]:
    (kind, sampler), = ((k, v) for k, v in item["param"]["items"]["value"]["samplerOptions"].items()
                        if k != "metadata")
    return kind, sampler


@pytest.mark.parametrize("cues", ["all", "none"])
def test_scenario_items_are_the_csharp_public_fields(cues):
    groups = _config(cues)["randomizers"]["groups"]
    assert sorted(groups) == sorted(RANDOMIZERS)
    for class_name, group in groups.items():
        source = _cs_source(class_name)
        classes = dict(_CLASS.findall(source))
        assert classes.get(class_name) == "Randomizer", f"{class_name}.cs: expected class {class_name} : Randomizer"
        assert "[Serializable]" in source, f"{class_name}.cs: randomizers must be [Serializable]"
        fields = _serialized_fields(class_name)
        # Both directions: nothing the JSON sets is missing in C#, nothing C# exposes is left unset.
        assert set(group["items"]) == set(fields), (class_name, set(group["items"]) ^ set(fields))
        for name, item in group["items"].items():
            type_name = fields[name][0]
            if type_name in PARAMETER_TYPES:
                assert "param" in item, f"{class_name}.{name} is a {type_name}: expected a param item"
            else:
                kind, value = _scalar_value(item)
                assert kind == SCALAR_TYPES[type_name], (class_name, name, kind, type_name)
                if type_name == "int":
                    assert isinstance(value, int) and not isinstance(value, bool), (class_name, name, value)


def _csharp_number(text: str) -> float:
    return float(text.strip().rstrip("fFdD"))


def test_csharp_defaults_equal_what_tfsynth_writes():
    """The values a Unity user sees in the inspector are the ones tfsynth writes with every cue on."""
    groups = _config("all")["randomizers"]["groups"]
    checked = 0
    for class_name, group in groups.items():
        for name, (type_name, initializer) in _serialized_fields(class_name).items():
            item = group["items"][name]
            if type_name == "string":
                continue  # class lists come from the catalog
            if type_name in PARAMETER_TYPES:
                kind, sampler = _sampler(item)
                match = re.search(r"new\s+(Uniform|Normal)Sampler\(([^)]*)\)", initializer)
                assert match, f"{class_name}.{name}: expected a Uniform/NormalSampler initializer"
                numbers = [_csharp_number(n) for n in match.group(2).split(",")]
                assert kind == match.group(1).lower(), (class_name, name)
                expected = ([sampler["min"], sampler["max"]] if kind == "uniform"
                            else [sampler["min"], sampler["max"], sampler["mean"], sampler["stddev"]])
                assert numbers == pytest.approx(expected), (class_name, name, numbers, expected)
            else:
                assert initializer, f"{class_name}.{name}: give the field an explicit default"
                _, value = _scalar_value(item)
                if type_name == "bool":
                    assert initializer == ("true" if value else "false"), (class_name, name)
                else:
                    assert _csharp_number(initializer) == pytest.approx(value), (class_name, name)
            checked += 1
    assert checked >= 30


def test_config_has_the_layout_perception_reads():
    config = _config()
    assert set(config) == {"constants", "randomizers"}
    assert set(config["constants"]) == set(unity_backend.SCENARIO_CONSTANTS)
    assert set(config["randomizers"]) == {"groups"}
    metadata_keys = {"name", "description", "imageLink"}
    for group in config["randomizers"]["groups"].values():
        assert set(group["metadata"]) == metadata_keys
        assert group["state"] == {"enabled": True, "canBeSwitchedByUser": True}
        for item in group["items"].values():
            (kind, body), = item.items()
            assert kind in ("scalar", "param")
            assert set(body["metadata"]) == metadata_keys
            if kind == "scalar":
                (value_kind, value), = body["value"].items()
                assert value_kind in ("num", "str", "bool")
            else:
                assert set(body["items"]) == {"value"}
                options = body["items"]["value"]["samplerOptions"]
                assert set(options["metadata"]) == metadata_keys
                sampler_kind, sampler = _sampler(item)
                assert sampler_kind in ("uniform", "normal", "constant")
                if sampler_kind != "constant":
                    assert sampler["min"] <= sampler["max"]


def test_cues_switch_the_randomizers():
    def randomize_flags(cues):
        groups = _config(cues)["randomizers"]["groups"]
        flags = {name: _scalar_value(group["items"]["randomize"])[1]
                 for name, group in groups.items() if "randomize" in group["items"]}
        flags["yaw"] = _scalar_value(groups[unity_backend.PLACEMENT]["items"]["randomProductYaw"])[1]
        return flags

    assert all(randomize_flags("all").values())
    assert not any(randomize_flags("none").values())
    flags = randomize_flags("-texture")
    assert flags[unity_backend.TEXTURE] is False
    assert flags[unity_backend.COLOR] and flags[unity_backend.VIEWPOINT] and flags[unity_backend.LIGHTING]
    flags = randomize_flags({"color", "lighting"})
    assert flags[unity_backend.COLOR] and flags[unity_backend.LIGHTING]
    assert not flags[unity_backend.VIEWPOINT] and not flags["yaw"] and not flags[unity_backend.TEXTURE]


def test_counts_sizes_and_classes_reach_the_config():
    config = _config(num_images=12, seed=2 ** 32 - 1, products_per_image=(3, 9), distractors=(1, 2), width=320,
                     height=240)
    assert config["constants"] == {"iterationCount": 12, "startIteration": 0, "randomSeed": 2 ** 32 - 1}
    groups = config["randomizers"]["groups"]
    placement = {k: _scalar_value(v)[1] for k, v in groups[unity_backend.PLACEMENT]["items"].items()}
    assert (placement["productsPerImageMin"], placement["productsPerImageMax"]) == (3, 9)
    assert (placement["distractorsMin"], placement["distractorsMax"]) == (1, 2)
    catalog = load_catalog(CATALOG)
    assert placement["productClasses"].split(",") == catalog.class_names
    assert placement["distractorNames"].split(",") == [p.name for p in catalog.distractors]
    viewpoint = groups[unity_backend.VIEWPOINT]["items"]
    assert _scalar_value(viewpoint["imageWidth"]) == ("num", 320)
    assert _scalar_value(viewpoint["imageHeight"]) == ("num", 240)


@pytest.mark.parametrize("overrides, field", [
    ({"num_images": 0}, "num_images"),
    ({"seed": -1}, "seed"),
    ({"seed": 2 ** 32}, "seed"),
    ({"products_per_image": (5, 2)}, "products_per_image"),
    ({"products_per_image": (0, 0)}, "products_per_image"),
    ({"distractors": (-1, 2)}, "distractors"),
    ({"cues": "color,glitter"}, "glitter"),
    ({"cues": {"shadow"}}, "shadow"),
    ({"width": 8}, "width"),
])
def test_bad_arguments_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        _config(**overrides)


def test_write_scenario_config_writes_the_returned_json(tmp_path):
    path = tmp_path / "sub" / "scenario.json"
    written = unity_backend.write_scenario_config(str(path), CATALOG, "-lighting", 3, 11, (2, 4), (0, 1), 64, 48)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == written
    assert os.listdir(tmp_path / "sub") == ["scenario.json"]  # no temporary file left


def test_procedural_catalog_is_accepted():
    config = unity_backend.scenario_config(None, "all", 2, 0)
    classes = _scalar_value(config["randomizers"]["groups"][unity_backend.PLACEMENT]["items"]["productClasses"])[1]
    assert len(classes.split(",")) == 150


def test_every_randomizer_queries_its_tag_component():
    for class_name in RANDOMIZERS:
        tags = set(re.findall(r"Query<(\w+)>", _cs_source(class_name)))
        assert tags, f"{class_name} queries no tag component"
        for tag in tags:
            tag_source = _cs_source(tag)
            assert re.search(rf"public\s+class\s+{tag}\s*:\s*RandomizerTag\b", tag_source), tag


def test_project_pins_perception_1_0_and_its_unity_version():
    with open(os.path.join(UNITY_PROJECT_DIR, "Packages", "manifest.json"), encoding="utf-8") as handle:
        dependencies = json.load(handle)["dependencies"]
    assert dependencies["com.unity.perception"] == "1.0.0"
    assert dependencies["com.unity.render-pipelines.high-definition"].startswith("12.1.")  # 2021.3's HDRP
    with open(os.path.join(UNITY_PROJECT_DIR, "ProjectSettings", "ProjectVersion.txt"), encoding="utf-8") as handle:
        version = re.search(r"m_EditorVersion:\s*(\S+)", handle.read()).group(1)
    assert version.startswith(("2021.3.", "2022.1."))
    readme = open(os.path.join(UNITY_PROJECT_DIR, "README.md"), encoding="utf-8").read()
    for needed in ("--scenario-config-file", "--output-path", "-batchmode", "BuildPlayer", "--input_format solo"):
        assert needed in readme, needed


def test_committed_label_config_and_catalog_match_tfsynth_files():
    from tfsynth.utils import label_map_util
    name_to_id = label_map_util.get_label_map_dict(LABEL_MAP)
    asset_path = os.path.join(UNITY_PROJECT_DIR, "Assets", "Tfsynth", "FridgeIdLabelConfig.asset")
    with open(asset_path, encoding="utf-8") as handle:
        assert handle.read() == unity_backend.id_label_config_asset(name_to_id)
    catalog_path = os.path.join(UNITY_PROJECT_DIR, "Assets", "Tfsynth", "fridge_us_catalog.json")
    with open(catalog_path, encoding="utf-8") as handle:
        committed = json.load(handle)
    assert committed == unity_backend.unity_catalog(CATALOG, name_to_id)
    labelled = {(p["label"], p["labelId"]) for p in committed["products"] if not p["isDistractor"]}
    assert labelled == set(name_to_id.items())  # every product carries its class's id; every class has a product


def test_id_label_config_rejects_clashing_ids():
    with pytest.raises(ValueError, match="share id 1"):
        unity_backend.id_label_config_asset({"a": 1, "b": 1})
    with pytest.raises(ValueError, match="id >= 1"):
        unity_backend.id_label_config_asset({"a": 0})


def test_run_player_missing_or_not_executable(tmp_path):
    config = tmp_path / "scenario.json"
    unity_backend.write_scenario_config(str(config), CATALOG, "all", 1, 0)
    with pytest.raises(UnityPlayerError, match="not found.*README"):
        unity_backend.run_player(str(tmp_path / "no_player.x86_64"), str(config), str(tmp_path / "out"))
    player = tmp_path / "player.x86_64"
    player.write_text("#!/bin/sh\n")
    with pytest.raises(UnityPlayerError, match="not executable"):
        unity_backend.run_player(str(player), str(config), str(tmp_path / "out"))
    with pytest.raises(UnityPlayerError, match="no Unity player"):
        unity_backend.run_player("", str(config), str(tmp_path / "out"))


def _stand_in_player(tmp_path, exit_status: int = 0) -> tuple[str, str]:
    """A script that behaves like the built player on the command line: records its arguments and writes the
    real Unity SOLO sample under --output-path/solo (or fails with exit_status)."""
    args_file = tmp_path / "player_args.txt"
    player = tmp_path / "tfsynth_fridge.x86_64"
    player.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$@" > '{args_file}'
        out=""
        while [ $# -gt 0 ]; do
          if [ "$1" = "--output-path" ]; then out="$2"; fi
          shift
        done
        if [ {exit_status} -ne 0 ]; then echo "FridgeProductPlacementRandomizer: no prefab"; exit {exit_status}; fi
        mkdir -p "$out/solo" && cp -R '{SOLO_SAMPLE}/.' "$out/solo/"
        """))
    player.chmod(player.stat().st_mode | stat.S_IXUSR)
    return str(player), str(args_file)


def test_run_player_passes_the_flags_and_finds_the_dataset(tmp_path):
    player, args_file = _stand_in_player(tmp_path)
    config = tmp_path / "scenario.json"
    unity_backend.write_scenario_config(str(config), CATALOG, "all", 2, 0, width=320, height=240)
    out = tmp_path / "unity_out"
    dataset = unity_backend.run_player(player, str(config), str(out))
    assert dataset == str(out / "solo")
    args = open(args_file, encoding="utf-8").read().split("\n")
    assert "-batchmode" in args and "-nographics" not in args  # Perception captures need rendering
    assert args[args.index("--scenario-config-file") + 1] == str(config)
    assert args[args.index("--output-path") + 1] == str(out)
    assert args[args.index("-screen-width") + 1] == "320" and args[args.index("-screen-height") + 1] == "240"


def test_run_player_failure_is_reported(tmp_path):
    player, _ = _stand_in_player(tmp_path, exit_status=3)
    config = tmp_path / "scenario.json"
    unity_backend.write_scenario_config(str(config), CATALOG, "all", 1, 0)
    with pytest.raises(UnityPlayerError, match="(?s)status 3.*no prefab"):
        unity_backend.run_player(player, str(config), str(tmp_path / "out"))


def test_find_solo_dataset_without_output_fails(tmp_path):
    with pytest.raises(UnityPlayerError, match="no SOLO dataset"):
        unity_backend.find_solo_dataset(str(tmp_path))


def _solo_boxes(dataset: str) -> list[str]:
    names = []
    for path in sorted(glob.glob(os.path.join(dataset, "sequence.*", "step*.frame_data.json"))):
        with open(path, encoding="utf-8") as handle:
            for capture in json.load(handle)["captures"]:
                for annotation in capture["annotations"]:
                    if annotation["@type"].endswith("BoundingBox2DAnnotation"):
                        names += [value["labelName"] for value in annotation["values"]]
    return names


def _read_records(paths: list[str]) -> list[dict]:
    import tensorflow as tf
    records = []
    for record in tf.data.TFRecordDataset(paths):
        example = tf.train.Example.FromString(record.numpy())
        features = example.features.feature
        records.append({
            "classes": [c.decode() for c in features["image/object/class/text"].bytes_list.value],
            "width": features["image/width"].int64_list.value[0],
            "xmin": list(features["image/object/bbox/xmin"].float_list.value),
            "xmax": list(features["image/object/bbox/xmax"].float_list.value),
        })
    return records


def test_solo_sample_converts_to_records(tmp_path):
    from tfsynth.convert import convert
    summary = convert(input_format="solo", input_path=SOLO_SAMPLE, output_dir=str(tmp_path), name="unity")
    expected = _solo_boxes(SOLO_SAMPLE)
    assert expected, "the sample has 2D boxes"
    assert summary.num_images == 2 and summary.num_boxes == len(expected)
    records = _read_records(summary.shard_paths)
    assert len(records) == 2
    assert sorted(c for r in records for c in r["classes"]) == sorted(expected)
    for record in records:
        assert record["width"] == 1024
        assert all(0.0 <= lo < hi <= 1.0 for lo, hi in zip(record["xmin"], record["xmax"]))
    assert os.path.isfile(summary.label_map_path) and os.path.isfile(summary.coco_json_path)


def test_generate_with_unity_end_to_end_with_a_stand_in_player(tmp_path):
    player, _ = _stand_in_player(tmp_path)
    # A catalog whose classes are the sample's labels, in a non-alphabetical order: ids must follow it.
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(textwrap.dedent("""\
        products:
          - {name: Crate, archetype: box, size_mm: {width: 300}}
          - {name: Character, archetype: bottle, size_mm: {width: 80, height: 250}}
        """))
    out = tmp_path / "dataset"
    summary = unity_backend.generate_with_unity(player, str(out), catalog=str(catalog), cues="-texture",
                                                num_images=2, seed=1, width=64, height=48, num_shards=1,
                                                name="train")
    with open(out / "scenario.json", encoding="utf-8") as handle:
        config = json.load(handle)
    assert config["constants"]["iterationCount"] == 2
    classes = config["randomizers"]["groups"][unity_backend.PLACEMENT]["items"]["productClasses"]
    assert _scalar_value(classes) == ("str", "Crate,Character")
    assert summary.num_images == 2
    assert summary.label_map == {"Crate": 1, "Character": 2}
    assert len(_read_records(summary.shard_paths)) == 2
    assert os.path.isfile(out / "unity_solo" / "solo" / "metadata.json")
