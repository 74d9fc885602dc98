"""`python -m tfsynth.pretrained`: list known pretrained detectors, or fetch one into --output_dir.

  python -m tfsynth.pretrained --list
  python -m tfsynth.pretrained --fetch ssdlite_mobilenet_v2_coco --output_dir pretrained/
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from tfsynth.pretrained import downloads, fetch, registry


def format_list() -> str:
    """One line per known model: name, how it is obtained, and the URL or npm package."""
    lines = []
    for model in registry.KNOWN_MODELS.values():
        where = model.url if model.source == "zoo" else f"npm {model.npm.package}@{model.npm.version} (offline)"
        lines.append(f"{model.name}\t{where}\t{model.description}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsynth.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list the known pretrained models")
    action.add_argument("--fetch", metavar="NAME", help="download or convert model NAME")
    parser.add_argument("--output_dir", help="folder that receives NAME/ (required with --fetch)")
    args = parser.parse_args(argv)
    if args.list:
        print(format_list())
        return 0
    if not args.output_dir:
        parser.error("--fetch needs --output_dir")
    try:
        result = fetch.fetch(args.fetch, args.output_dir, log=lambda message: print(message, file=sys.stderr))
    except (ValueError, downloads.FetchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{result.model_dir}" + ("" if result.created else " (already present, nothing done)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
