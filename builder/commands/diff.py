"""`ipwhl diff OLD NEW`: what changed between two published trees, and why."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from builder.options import add_source_options
from builder.tree.diff import diff_manifests, render_markdown, render_text, to_json
from builder.tree.published import Published, open_published


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "diff",
        help=__doc__,
        description="OLD and NEW are each a tree directory, a CAR file, a CID (through "
        "--api or --gateway), /ipns/NAME (through --gateway) or a gateway URL, read and "
        "checked as `ipwhl verify` reads them. Reports projects added, removed and bumped, "
        "and per platform the wheels added, removed and changed, each change with the "
        "build inputs that differ (or 'not reproducible' when none do). Exits 0 whether "
        "or not the trees differ.",
    )
    parser.add_argument(
        "old", metavar="OLD", help="the earlier tree: directory, .car file, CID, /ipns/NAME or URL"
    )
    parser.add_argument("new", metavar="NEW", help="the later tree, in any of the same forms")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="machine-readable output")
    form.add_argument(
        "--markdown", action="store_true", help="a short Markdown report for a CI job summary"
    )
    add_source_options(parser)


def _label(source: str, published: Published) -> str:
    return published.root or source


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="ipwhl-diff-") as work:
        opened: list[Published] = []
        for name, source in (("old", args.old), ("new", args.new)):
            # One directory each: a CID's blocks and unpacked tree must not meet the other's.
            directory = Path(work) / name
            directory.mkdir()
            opened.append(open_published(source, directory, api=args.api, gateway=args.gateway))
    old, new = opened
    diff = diff_manifests(old.manifest, new.manifest)
    if args.json:
        document = to_json(diff) | {
            "old": {"source": args.old, "root": old.root},
            "new": {"source": args.new, "root": new.root},
        }
        print(json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False))
    elif args.markdown:
        print(render_markdown(diff, old=_label(args.old, old), new=_label(args.new, new)), end="")
    else:
        print(render_text(diff), end="")
    return 0
