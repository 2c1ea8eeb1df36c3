"""`ipwhl build-lock [NAME ...]`: refresh locks/<recipe>/ from each recipe's build
requirements (default: every recipe)."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.curation.locks import refresh_locks
from builder.model.farm import load_farm
from builder.options import add_cache_option, cache_path
from builder.report import Reporter


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("build-lock", help=__doc__)
    parser.add_argument("projects", nargs="*", help="only these recipes (default: all)")
    add_cache_option(parser)


def run(args: argparse.Namespace) -> int:
    reporter = Reporter()
    farm = load_farm(Path(args.root).absolute())
    done = refresh_locks(farm, cache_path(args), reporter, args.projects)
    for path in done.removed:
        reporter.console.print(f"removed {path.relative_to(farm.root)}")
    reporter.console.print(f"{done.files} locks written for {done.recipes} recipes")
    return 0
