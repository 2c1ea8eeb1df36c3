"""`ipwhl system-packages`: the Debian packages the host toolchain's builds need, optionally
installed."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.model.farm import load_farm
from builder.pipeline import system


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("system-packages", help=__doc__)
    parser.add_argument(
        "--install", action="store_true", help="apt-get install the missing ones (needs root)"
    )


def run(args: argparse.Namespace) -> int:
    farm = load_farm(Path(args.root).absolute())
    needed = farm.host_packages()
    if args.install:
        installed = system.install(needed)
        print(f"installed: {' '.join(installed)}" if installed else "all present")
        return 0
    for package in needed:
        print(package)
    return 0
