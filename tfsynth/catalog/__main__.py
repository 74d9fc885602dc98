r"""python -m tfsynth.catalog: check a product catalog, or preview what it renders, before rendering for an hour.

    python -m tfsynth.catalog check configs/fridge_us_catalog.yaml [--label_map configs/fridge_us_label_map.pbtxt]
    python -m tfsynth.catalog preview configs/fridge_us_catalog.yaml --output sheet.png [--views 5] [--size 192] \
        [--products ketchup,water_1l] [--cues all]

check prints every error and warning one line each, then a summary; exit status 0 without errors, 1 with.
preview renders each look (products, then distractors) from several views into one PNG contact sheet.

The command line uses argparse subcommands, not absl flags as the other commands do: absl's flags are global to
the process, so `check --views 3` would be accepted and silently ignored, and `--help` could not list each
subcommand's own options.

Nothing here imports TensorFlow: preview renders in this process, and Mesa's llvmpipe and TensorFlow hang in one
process.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def _parser() -> argparse.ArgumentParser:
    from tfsynth.catalog.preview import DEFAULT_VIEWS, VIEWS
    parser = argparse.ArgumentParser(prog="python -m tfsynth.catalog", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{check,preview}")
    check = commands.add_parser("check", help="report every problem of a catalog, then a summary",
                                description="Every error (exit 1) and warning of a catalog, one line each, "
                                            "then a summary of its classes, looks, distractors, archetypes and "
                                            "materials.")
    check.add_argument("catalog", help="the catalog YAML file")
    check.add_argument("--label_map", default=None,
                       help="also check that every class has an id in this label_map.pbtxt and name the "
                            "entries no class uses")
    check.add_argument("--verbose", action="store_true", help="tracebacks of files that fail to load")
    preview = commands.add_parser("preview", help="render every look from several views into a contact sheet",
                                  description="Renders each look on a fridge shelf under fridge lighting, in front "
                                              "of a checkered wall, with the project's renderer and materials, "
                                              "and writes one PNG: a row per look, a column per view.")
    preview.add_argument("catalog", help="the catalog YAML file ('default': the procedural catalog)")
    preview.add_argument("--output", required=True, help="the contact sheet PNG to write")
    preview.add_argument("--views", type=int, default=DEFAULT_VIEWS,
                         help=f"views per look, 1-{len(VIEWS)}, in this order: "
                              + "; ".join(v.name for v in VIEWS) + f" (default {DEFAULT_VIEWS})")
    preview.add_argument("--size", type=int, default=192, help="pixels per view, square (default 192)")
    preview.add_argument("--products", default="",
                         help="comma-separated product, distractor or class names to preview (default: all)")
    preview.add_argument("--cues", default="all",
                         help="cues given to each instance's material as in generate --cues: 'all' (default), "
                              "'none', 'color,texture', '-color'. Colour and texture vary the instances; the "
                              "preview's camera and lighting are fixed")
    preview.add_argument("--verbose", action="store_true", help="progress per look; a traceback on failure")
    return parser


def _run_check(args: argparse.Namespace) -> int:
    from tfsynth.catalog.check import check_catalog, format_report
    report = check_catalog(args.catalog, label_map=args.label_map, verbose=args.verbose)
    print(format_report(report))
    return 0 if report.ok else 1


def _run_preview(args: argparse.Namespace) -> int:
    from tfsynth.catalog.preview import preview_catalog
    from tfsynth.generate.catalog import default_catalog, read_catalog
    from tfsynth.generate.sampler import parse_cues
    from tfsynth.utils.preflight import check_output_file
    check_output_file(args.output, "--output")  # before the renders
    if not args.output.lower().endswith(".png"):
        raise ValueError(f"--output {args.output}: expected a .png file name (the contact sheet is written as PNG)")
    cues = parse_cues(args.cues)
    if args.catalog in ("", "default"):
        catalog = default_catalog()
    else:
        reading = read_catalog(args.catalog)  # every problem at once, as check reports them
        if reading.errors:
            for error in reading.errors:
                print("error: " + " ".join(str(error).split()), file=sys.stderr)
            print(f"error: {len(reading.errors)} problem(s) in {args.catalog}; nothing rendered", file=sys.stderr)
            return 1
        catalog = reading.catalog
    names = [n for n in args.products.split(",") if n.strip()]

    def progress(done: int, total: int, look) -> None:
        if args.verbose:
            print(f"rendered {done}/{total}: {look.name}", file=sys.stderr, flush=True)

    layout = preview_catalog(catalog, args.output, num_views=args.views, size=args.size, names=names, cues=cues,
                             progress=progress)
    print(f"wrote {args.output} ({layout.width}x{layout.height}): {layout.num_products} looks, "
          f"{layout.num_distractors} distractors, {layout.views} views of {layout.size} px")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command; returns the exit status (errors are one line each, tracebacks only with --verbose or for
    a bug: tfsynth.utils.cli)."""
    from tfsynth.utils import cli
    args = _parser().parse_args(argv)
    return cli.call("catalog", lambda: _run_check(args) if args.command == "check" else _run_preview(args),
                    verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
