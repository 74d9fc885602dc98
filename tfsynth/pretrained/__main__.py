"""`python -m tfsynth.pretrained`: list known pretrained detectors, or fetch one into --output_dir.

  python -m tfsynth.pretrained --list
  python -m tfsynth.pretrained --fetch ssdlite_mobilenet_v2_coco --output_dir pretrained/
  python -m tfsynth.pretrained --fetch ssdlite_mobilenet_v2_coco_backbone --output_dir pretrained/  # backbone only
  python -m tfsynth.pretrained --fetch ssd_mobilenet_v2_320x320_coco17_tpu-8 --output_dir pretrained/ --sha256 HEX

Zoo tarballs come over https and are extracted only when their sha256 is the expected one; none is known for them
yet, so --sha256 (a digest you trust) or --allow_unverified (unchecked; the digest is printed to pin it) is needed.
The npm model is always checked against its npm sha512 integrity. Errors are one line; --verbose adds the traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from tfsynth.pretrained import fetch, registry
from tfsynth.utils import cli


def format_list() -> str:
    """One line per known model: name, how it is obtained, and the URL or npm package."""
    lines = []
    for model in registry.KNOWN_MODELS.values():
        if model.source == "zoo":
            where = model.url
        elif model.source == "backbone":
            where = f"from {model.base} (offline)"
        else:
            where = f"npm {model.npm.package}@{model.npm.version} (offline)"
        lines.append(f"{model.name}\t{where}\t{model.description}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """The command; returns its exit status (errors: one line, status 1; see tfsynth.utils.cli)."""
    parser = argparse.ArgumentParser(prog="python -m tfsynth.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list the known pretrained models")
    action.add_argument("--fetch", metavar="NAME", help="download or convert model NAME")
    parser.add_argument("--output_dir", help="folder that receives NAME/ (required with --fetch)")
    parser.add_argument("--sha256", metavar="HEX", help="expected sha256 of a Zoo tarball (64 hex digits); the "
                        "download is removed, not extracted, when it differs")
    parser.add_argument("--allow_unverified", action="store_true", help="download a Zoo tarball whose sha256 is "
                        "not known, unchecked (the digest it has is printed); no effect on the npm model")
    cli.add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if args.list:
        print(format_list())
        return 0
    if not args.output_dir:
        parser.error("--fetch needs --output_dir")

    def fetch_and_say() -> None:
        result = fetch.fetch(args.fetch, args.output_dir, log=lambda message: print(message, file=sys.stderr),
                             sha256=args.sha256, allow_unverified=args.allow_unverified)
        print(f"{result.model_dir}" + ("" if result.created else " (already present, nothing done)"))

    return cli.call("pretrained", fetch_and_say, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
