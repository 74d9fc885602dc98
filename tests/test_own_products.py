"""A user's own products end to end, up to the training: study files with their own catalog, label map, class_init,
COCO mapping and real photos in every form main_job and the studies take, the cross-checks that refuse files
which disagree (before anything is fetched or rendered), num_classes from the label map, main_job's override flags,
and class_head's warning for classes that start from one COCO class.

Fixtures are tiny datasets written by the tests (VOC, COCO, CNTK, file lists, records) and the Unity SOLO sample of
shared/data; conversions run through tfsynth.convert as the study runner runs them.
"""
import json
import logging
import os
import pathlib

import pytest
from PIL import Image

from tfsynth.utils import label_map_util  # noqa: F401 - compiles protos before TF loads (see convert.py)
from tfsynth.studies.checks import check_study
from tfsynth.studies.runner import StudyRunner
from tfsynth.studies.spec import REPO_ROOT, RealData, StudyError, load_study
from tfsynth.utils.shared_data import SHARED_DATA

SOLO_SAMPLE = SHARED_DATA / "unity_solo_sample"
FRCNN_CONFIG = (SHARED_DATA / "odapi_reference" / "configs_tf2"
                / "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config")
EXAMPLE_STUDY = REPO_ROOT / "configs" / "studies" / "own_products_example.yaml"

# milk=1, egg=2: the opposite of the sorted-name ids a conversion without the label map gives (egg=1, milk=2).
LABEL_MAP = 'item { id: 1 name: "milk" }\nitem { id: 2 name: "egg" }\n'
CATALOG = """products:
  - {name: milk_carton, class: milk, archetype: gable_top_carton, size_mm: {width: 70, height: 200},
     colors: [[240, 240, 240]]}
  - {name: egg_box, class: egg, archetype: egg_box, size_mm: {width: 150, height: 70, depth: 100},
     colors: [[200, 190, 170]]}
"""
VOC_XML = """<annotation><filename>{image}</filename><size><width>40</width><height>30</height></size>
  <object><name>milk</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object>
  <object><name>egg</name><bndbox><xmin>21</xmin><ymin>1</ymin><xmax>39</xmax><ymax>29</ymax></bndbox></object>
</annotation>"""


def _image(path: pathlib.Path, color=(120, 30, 200)) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), color).save(path)
    return path


def _cntk(root: pathlib.Path) -> pathlib.Path:
    """CNTK layout: positive/a.jpg (milk, egg), positive/b.jpg (egg), negative/n.jpg."""
    for name, boxes in (("positive/a", [("milk", 1, 1, 10, 10), ("egg", 12, 2, 30, 20)]),
                        ("positive/b", [("egg", 3, 3, 20, 20)]), ("negative/n", None)):
        _image(root / f"{name}.jpg")
        if boxes:
            (root / f"{name}.bboxes.tsv").write_text("".join(f"{x1}\t{y1}\t{x2}\t{y2}\n"
                                                             for _, x1, y1, x2, y2 in boxes))
            (root / f"{name}.bboxes.labels.tsv").write_text("".join(f"{label}\n" for label, *_ in boxes))
    return root


def _voc(root: pathlib.Path) -> pathlib.Path:
    """A VOC year folder of two images, each with a milk and an egg."""
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for name in ("000001", "000002"):
        _image(root / "JPEGImages" / f"{name}.jpg")
        (root / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(image=f"{name}.jpg"))
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n")
    return root


def _coco(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A COCO instances JSON in root/annotations/ and its two images in root/images/ (elsewhere than the JSON)."""
    for index in (1, 2):
        _image(root / "images" / f"p{index}.jpg")
    data = {"images": [{"id": i, "file_name": f"p{i}.jpg", "width": 40, "height": 30} for i in (1, 2)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 3, 10, 10], "iscrowd": 0},
                            {"id": 2, "image_id": 2, "category_id": 9, "bbox": [5, 5, 20, 20], "iscrowd": 0}],
            "categories": [{"id": 7, "name": "milk"}, {"id": 9, "name": "egg"}]}
    (root / "annotations").mkdir(parents=True)
    json_path = root / "annotations" / "instances.json"
    json_path.write_text(json.dumps(data))
    return json_path, root / "images"


def _study(tmp_path: pathlib.Path, real_data: str, label_map: str = LABEL_MAP, catalog: str = CATALOG,
           extra: str = "", rows: str = "  - name: a\n") -> pathlib.Path:
    """A study of the milk/egg products in tmp_path with its own label map and catalog; real_data as YAML text."""
    (tmp_path / "label_map.pbtxt").write_text(label_map)
    (tmp_path / "catalog.yaml").write_text(catalog)
    path = tmp_path / "study.yaml"
    path.write_text(f"""title: own products
pipeline_config: {REPO_ROOT}/configs/ssdlite_fridge_quick.config
catalog: catalog.yaml
label_map: label_map.pbtxt
real_data: {real_data}
{extra}rows:
{rows}""")
    return path


def _records_classes(pattern: str) -> list[list[tuple[str, int]]]:
    from tfsynth.data import tfrecord
    return [[(o.class_name, o.class_id) for o in tfrecord.example_to_annotation(e).objects]
            for e in tfrecord.read_examples(pattern)]


def test_example_study_loads_and_its_files_agree(tmp_path):
    study = load_study(str(EXAMPLE_STUDY))
    assert study.real_data == RealData("/path/to/your/labelled_photos")
    assert [row.kind for row in study.rows] == ["train", "coco_mapped"]
    # Its catalog, label map, class_init and COCO mapping agree; only the placeholder for the photos is refused.
    with pytest.raises(StudyError, match=r"own_products_example\.yaml: field 'real_data': "
                                         r"/path/to/your/labelled_photos does not exist; expected a folder in CNTK "
                                         r"tsv layout"):
        check_study(study)
    voc = _voc(tmp_path / "VOC2007")
    for xml in (voc / "Annotations").glob("*.xml"):  # the example's classes instead of milk and egg
        xml.write_text(xml.read_text().replace("milk", "lemon").replace("egg", "butter"))
    study.real_data = RealData(str(voc))
    assert check_study(study) == []  # no class shares a COCO start; every class is rendered
    runner = StudyRunner(study, tmp_path / "out")
    runner.convert_real()
    assert sorted(c for image in _records_classes(runner.real_records) for c in image) == [
        ("butter", 3), ("butter", 3), ("lemon", 4), ("lemon", 4)]


# The whole CNTK folder (today's real_data_dir) is converted in test_main_path's end-to-end study.
@pytest.mark.parametrize("form", ["cntk_subfolder", "voc", "coco", "solo", "list_cntk", "list_voc"])
def test_each_form_of_real_photos_is_converted_with_the_label_map(tmp_path, form):
    label_map, catalog = LABEL_MAP, CATALOG
    if form == "cntk_subfolder":
        real_data = str(_cntk(tmp_path / "photos") / "positive")
        expected, expected_format = [[("milk", 1), ("egg", 2)], [("egg", 2)]], "cntk"
    elif form == "voc":
        real_data = str(_voc(tmp_path / "VOC2007"))
        expected, expected_format = [[("milk", 1), ("egg", 2)]] * 2, "voc"
    elif form == "coco":
        json_path, images = _coco(tmp_path / "coco")
        real_data = f"{{path: {json_path}, image_dir: {images}}}"
        expected, expected_format = [[("milk", 1)], [("egg", 2)]], "coco"
    elif form == "solo":
        real_data = str(SOLO_SAMPLE)
        label_map = 'item { id: 1 name: "Crate" }\nitem { id: 2 name: "Character" }\n'
        catalog = CATALOG.replace("class: milk", "class: Crate").replace("class: egg", "class: Character")
        from tfsynth.data.readers import get_reader
        ids = {"Crate": 1, "Character": 2}
        expected = [[(o.class_name, ids[o.class_name]) for o in image.objects]
                    for image in get_reader("solo")(str(SOLO_SAMPLE))]
        expected_format = "solo"
    else:
        # Images of two folders with the same file names; annotations beside each image (none: a negative).
        if form == "list_cntk":
            _cntk(tmp_path / "one")
            _cntk(tmp_path / "two")
            listed = ["one/positive/a.jpg", "two/positive/a.jpg", "# a comment", "", "two/negative/n.jpg"]
            expected = [[("milk", 1), ("egg", 2)], [("milk", 1), ("egg", 2)], []]
        else:
            for folder in ("one", "two"):
                _image(tmp_path / folder / "x.jpg")
                (tmp_path / folder / "x.xml").write_text(VOC_XML.format(image="elsewhere.jpg"))
            _image(tmp_path / "two" / "negative.jpg")
            listed = ["one/x.jpg", "two/x.jpg", "two/negative.jpg"]
            expected = [[("milk", 1), ("egg", 2)], [("milk", 1), ("egg", 2)], []]
        (tmp_path / "photos.txt").write_text("\n".join(listed) + "\n")
        real_data, expected_format = "photos.txt", "list"  # relative: from the study file's folder
    study = load_study(str(_study(tmp_path, real_data, label_map, catalog)))
    runner = StudyRunner(study, tmp_path / "out")
    assert runner.check() == []
    assert runner._real_format == expected_format
    runner.convert_real()
    assert _records_classes(runner.real_records) == expected
    assert runner.real_dir.name.startswith(expected_format + "_") and (runner.real_dir / ".done").exists()


def test_records_are_used_directly_when_their_ids_are_the_label_maps(tmp_path):
    from tfsynth import convert
    voc = _voc(tmp_path / "VOC2007")
    (tmp_path / "label_map.pbtxt").write_text(LABEL_MAP)
    convert.convert("voc", str(voc), str(tmp_path / "good"), name="real",
                    label_map_path=str(tmp_path / "label_map.pbtxt"))
    study = load_study(str(_study(tmp_path, "good/real-*.tfrecord")))
    runner = StudyRunner(study, tmp_path / "out")
    runner.check()
    assert runner._real_format == "records"
    runner.convert_real()
    assert runner.real_records == str(tmp_path.resolve() / "good" / "real-*.tfrecord")
    assert not (tmp_path / "out").exists()  # nothing converted
    # Records converted without the label map number classes by sorted name (egg=1): refused, naming the record.
    convert.convert("voc", str(voc), str(tmp_path / "other"), name="real")
    study = load_study(str(_study(tmp_path, "{path: other/real-00000-of-00001.tfrecord, format: records}")))
    with pytest.raises(StudyError, match=r"field 'real_data': .*other/real-00000-of-00001\.tfrecord: record 1 "
                                         r"\(000001\.jpg\): class 'milk' has id 2 but the label map .*label_map\.pbtxt "
                                         r"gives it id 1; convert the photos with --label_map"):
        StudyRunner(study, tmp_path / "out").convert_real()


def test_real_data_errors_name_the_field_and_what_was_expected(tmp_path):
    def refused(real_data: str, pattern: str, extra: str = "") -> None:
        with pytest.raises(StudyError, match=pattern):
            check_study(load_study(str(_study(tmp_path, real_data, extra=extra))))

    refused("missing_folder", r"study\.yaml: field 'real_data': .*missing_folder does not exist; expected a folder in "
                              r"CNTK tsv layout \(or a subfolder of one\), a VOC folder, a Unity SOLO folder, a COCO")
    refused("'nothing/*.tfrecord'", r"field 'real_data': no file matches .*; expected TFRecord files")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no photos here")
    refused("empty", r"field 'real_data': .*empty holds no image files \(\.jpg, \.jpeg, \.png, \.bmp\) in any of its "
                     r"folders")
    _voc(tmp_path / "VOC2007")
    refused("{path: VOC2007, format: coco}", r"field 'real_data': .*VOC2007 is a folder; format coco expects a file")
    (tmp_path / "list.txt").write_text("VOC2007/JPEGImages/000001.jpg\nVOC2007/JPEGImages/000009.jpg\n")
    refused("list.txt", r"field 'real_data': .*list\.txt:2: image .*000009\.jpg does not exist")
    (tmp_path / "list.txt").write_text("VOC2007/Annotations/000001.xml\n")
    refused("list.txt", r"list\.txt:1: 'VOC2007/Annotations/000001\.xml': expected the path of an image")
    with pytest.raises(StudyError, match=r"study\.yaml: field 'real_data': unknown key\(s\) \['folder'\]; expected "
                                         r"some of \['path', 'format', 'image_dir', 'split'\]"):
        load_study(str(_study(tmp_path, "{folder: VOC2007}")))
    with pytest.raises(StudyError, match=r"fields 'real_data' and 'real_data_dir' both name real photos"):
        load_study(str(_study(tmp_path, "VOC2007", extra="real_data_dir: VOC2007\n")))


def test_num_classes_follows_the_label_map_in_the_written_pipeline_config(tmp_path):
    from tfsynth.utils import config_io
    label_map = LABEL_MAP + 'item { id: 3 name: "butter" }\n'
    catalog = CATALOG + ("  - {name: butter_block, class: butter, archetype: box, size_mm: {width: 100, height: 30, "
                         "depth: 60}, colors: [[230, 200, 90]]}\n")
    path = _study(tmp_path, str(_voc(tmp_path / "VOC2007")), label_map, catalog,
                  rows=f"  - name: ssd\n  - name: frcnn\n    pipeline_config: {FRCNN_CONFIG}\n")
    study = load_study(str(path))
    assert check_study(study) == []
    runner = StudyRunner(study, tmp_path / "out")
    configs = [config_io.get_configs_from_pipeline_file(
        runner.pipeline_config_for(row, tmp_path / "renders", tmp_path / "rows" / row.name)) for row in study.rows]
    assert configs[0]["model"].ssd.num_classes == 3  # the template says 8
    assert configs[1]["model"].faster_rcnn.num_classes == 3  # the template says 90
    assert configs[0]["train_input_config"].label_map_path == str(tmp_path / "label_map.pbtxt")
    # num_classes is not the user's to override: it would disagree with the label map.
    path.write_text(path.read_text().replace("rows:", "overrides: {model.ssd.num_classes: 8}\nrows:"))
    with pytest.raises(StudyError, match=r"field 'overrides': key 'model\.ssd\.num_classes': num_classes follows the "
                                         r"label map \(3 classes in .*label_map\.pbtxt\)"):
        check_study(load_study(str(path)))


def test_cross_checks_name_file_and_entry_and_fire_before_anything_runs(tmp_path):
    voc = str(_voc(tmp_path / "VOC2007"))
    out = tmp_path / "out"

    def refused(path: pathlib.Path, pattern: str) -> None:
        with pytest.raises(StudyError, match=pattern):
            StudyRunner(load_study(str(path)), out).run()
        assert not out.exists(), "a check fired only after something was written"

    # A catalog class the label map lacks.
    refused(_study(tmp_path, voc, catalog=CATALOG.replace("class: egg", "class: eggs")),
            r"study\.yaml: field 'catalog': .*catalog\.yaml: products\[1\] \('egg_box'\): class 'eggs' is not a class "
            r"of the label map .*label_map\.pbtxt \(its classes: \['egg', 'milk'\]\)")
    # Label map ids with a gap (num_classes and the class head follow the ids).
    refused(_study(tmp_path, voc, label_map=LABEL_MAP.replace("id: 2", "id: 3")),
            r"field 'label_map': .*label_map\.pbtxt: item 2 \('egg', id 3\): expected ids 1\.\.2 without gaps")
    # class_init: a class of another label map (named with its line), then a COCO typo with close matches.
    (tmp_path / "init.yaml").write_text("# comment\nmilk: cup\nwater: bottle\n")
    refused(_study(tmp_path, voc, extra="class_init: init.yaml\n"),
            r"field 'class_init': .*init\.yaml:3: entry 'water': not a class of the label map .*label_map\.pbtxt")
    (tmp_path / "init.yaml").write_text("milk: botle\n")
    refused(_study(tmp_path, voc, extra="class_init: init.yaml\n"),
            r"init\.yaml:1: entry 'milk': 'botle' is not a COCO class of .*mscoco_label_map\.pbtxt \(COCO names are "
            r"the display_name entries of .*tfsynth/pretrained/mscoco_label_map\.pbtxt.*\); close matches: \['bottle'")
    # class_mapping of a coco_mapped row: a target the label map lacks.
    (tmp_path / "mapping.yaml").write_text("cup: [milk]\nbowl: [cereal]\n")
    refused(_study(tmp_path, voc, rows="  - name: a\n  - name: b2\n    kind: coco_mapped\n"
                                       "    class_mapping: mapping.yaml\n"),
            r"row 'b2': field 'class_mapping': .*mapping\.yaml:2: entry 'bowl': 'cereal' is not a class of the "
            r"label map")
    # The rows chosen are the rows checked: row a alone runs without the broken mapping (here up to the check).
    study = load_study(str(tmp_path / "study.yaml"))
    assert StudyRunner(study, out).check(["a"]) == []


def test_main_job_flags_override_the_recipe(tmp_path, monkeypatch):
    from tfsynth.main_job import STUDIES, apply_overrides, describe_overrides
    monkeypatch.chdir(tmp_path)
    # Relative flags are the user's folder's, made absolute for the steps (which run from the repository root).
    json_path, images = _coco(pathlib.Path.cwd() / "photos")
    configs = REPO_ROOT / "configs"
    study = load_study(str(STUDIES["quick"]))
    overrides = apply_overrides(study, {
        "catalog": str(configs / "own_products_example_catalog.yaml"),
        "label_map": str(configs / "own_products_example_label_map.pbtxt"),
        "class_init": str(configs / "own_products_example_class_init.yaml"),
        "class_mapping": str(configs / "own_products_example_coco_mapping.yaml"),
        "real_data": "photos/annotations/instances.json", "real_data_format": "coco",
        "real_data_image_dir": "photos/images", "real_data_dir": None, "num_images": None,
        "num_train_steps": 20})
    assert study.catalog == str(configs / "own_products_example_catalog.yaml")
    assert study.label_map == str(configs / "own_products_example_label_map.pbtxt")
    assert study.class_init == str(configs / "own_products_example_class_init.yaml")
    assert [row.class_mapping for row in study.rows if row.kind == "coco_mapped"] == [
        str(configs / "own_products_example_coco_mapping.yaml")]
    assert study.real_data == RealData(str(json_path), "coco", str(images))
    assert study.num_train_steps == 20 and study.num_images == 1000
    assert [o.flag for o in overrides] == ["--catalog", "--label_map", "--class_init", "--class_mapping",
                                          "--real_data", "--real_data_format", "--real_data_image_dir",
                                          "--num_train_steps"]
    assert overrides[0].recipe_value == str(configs / "fridge_us_catalog.yaml")
    notes = describe_overrides(study, "quick", "/runs/mine", overrides, ["a"])
    assert notes[0].startswith("Made by `python -m tfsynth.main_job --recipe quick --output_dir /runs/mine "
                               f"--catalog={configs / 'own_products_example_catalog.yaml'} ")
    assert f"--real_data={json_path} --real_data_format=coco --real_data_image_dir={images} " in notes[0]
    assert notes[0].endswith("--num_train_steps=20 --rows a` (study configs/studies/main_quick.yaml).")
    assert f"--label_map {configs / 'own_products_example_label_map.pbtxt'} [{configs / 'fridge_us_label_map.pbtxt'}]" \
        in notes[1]
    assert check_study(study) == []  # the example's files agree, the photos are a COCO JSON

    study = load_study(str(STUDIES["quick"]))
    apply_overrides(study, {"catalog": str(configs / "own_products_example_catalog.yaml"),
                            "label_map": str(configs / "own_products_example_label_map.pbtxt"),
                            "class_init": "none", "real_data_dir": "photos"})
    assert study.class_init is None
    assert study.real_photos() == (RealData(str(pathlib.Path.cwd() / "photos"), "cntk"), "real_data_dir")
    # Forgetting --class_mapping leaves row b2's US mapping, refused naming its file and entry (row a alone is fine).
    with pytest.raises(StudyError, match=r"row 'b2: .*field 'class_mapping': .*coco_to_fridge_us\.yaml:\d+: entry "
                                         r"'bottle': 'water' is not a class of the label map"):
        check_study(study)
    with pytest.raises(StudyError, match=r"--real_data and --real_data_dir both name real photos"):
        apply_overrides(load_study(str(STUDIES["quick"])), {"real_data": "photos", "real_data_dir": "photos"})
    with pytest.raises(StudyError, match=r"--class_mapping: the recipe .*cues\.yaml has no coco_mapped row"):
        apply_overrides(load_study(str(STUDIES["cues"])), {"class_mapping": "x.yaml"})


def test_class_head_warns_for_classes_that_share_a_coco_class(tmp_path, caplog):
    from tfsynth.pretrained.class_head import COCO_LABEL_MAP, read_init_mapping
    (tmp_path / "lm.pbtxt").write_text(LABEL_MAP + 'item { id: 3 name: "water" }\n')
    (tmp_path / "init.yaml").write_text("milk: bottle\nwater: bottle\negg: null\n")
    with caplog.at_level(logging.WARNING, logger="tfsynth.pretrained.class_head"):
        mapping = read_init_mapping(str(tmp_path / "init.yaml"), str(COCO_LABEL_MAP), str(tmp_path / "lm.pbtxt"))
    assert mapping == {1: 44, 2: None, 3: 44}  # COCO's bottle is id 44
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "classes ['milk', 'water'] all start from COCO class 'bottle'" in warning
    assert "only training on the renders can tell them apart" in warning
    caplog.clear()
    (tmp_path / "init.yaml").write_text("milk: bottle\nwater: wine glass\n")
    with caplog.at_level(logging.WARNING, logger="tfsynth.pretrained.class_head"):
        read_init_mapping(str(tmp_path / "init.yaml"), str(COCO_LABEL_MAP), str(tmp_path / "lm.pbtxt"))
    assert not caplog.records
    (tmp_path / "init.yaml").write_text("milk: bottle\nwater: Bottles\n")
    with pytest.raises(ValueError, match=r"init\.yaml:2: 'water' -> 'Bottles' is not a COCO class of .*mscoco_label_map"
                                         r"\.pbtxt .*close matches: \['bottle'\]"):
        read_init_mapping(str(tmp_path / "init.yaml"), str(COCO_LABEL_MAP), str(tmp_path / "lm.pbtxt"))


def test_convert_warns_when_ids_follow_sorted_names(tmp_path, caplog):
    from tfsynth import convert
    voc = str(_voc(tmp_path / "VOC2007"))
    (tmp_path / "lm.pbtxt").write_text(LABEL_MAP)
    with caplog.at_level(logging.WARNING):
        convert.convert("voc", voc, str(tmp_path / "with"), label_map_path=str(tmp_path / "lm.pbtxt"))
    assert not [r for r in caplog.records if "label_map" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        convert.convert("voc", voc, str(tmp_path / "without"))
    (warning,) = [r.getMessage() for r in caplog.records if "label_map" in r.getMessage()]
    assert warning.startswith("no --label_map: class ids follow sorted class names (egg=1, milk=2)")
    assert "\n" not in warning
    assert os.path.exists(tmp_path / "without" / "data-00000-of-00001.tfrecord")
