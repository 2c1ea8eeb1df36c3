"""`ipwhl build-lock`: refresh locks/ from every recipe's build requirements."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.curation.locks import refresh_locks
from builder.model.farm import load_farm
from builder.options import add_cache_option, cache_path
from builder.report import Reporter


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("build-lock", help=__doc__)
    add_cache_option(parser)


def run(args: argparse.Namespace) -> int:
    reporter = Reporter()
    farm = load_farm(Path(args.root).absolute())
    count, interpreters = refresh_locks(farm, cache_path(args), reporter)
    reporter.console.print(f"{count} build requirements locked for {interpreters} interpreters")
    return 0
