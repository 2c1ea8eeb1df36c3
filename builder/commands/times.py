"""`ipwhl times`: rewrite builder/data/build-times.toml from a store's measured times."""

from __future__ import annotations

import argparse

from builder.atomic import write_atomic
from builder.errors import IpwhlError
from builder.model.data import data_path
from builder.options import add_store_options, store_path
from builder.pipeline.estimates import reference_times, render
from builder.pipeline.store import Store


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("times", help=__doc__)
    parser.add_argument(
        "--platform", default=None,
        help="the platform whose times to keep (default: the one the file names now)",
    )  # fmt: skip
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    platform = args.platform or reference_times()[0]
    measured = Store(root=store_path(args)).times()
    kept = sum(pid == platform for _, pid in measured)
    if not kept:
        raise IpwhlError(
            f"{store_path(args)}: no times measured on {platform}",
            fix=f"build the set there first: ipwhl build --platform {platform}",
        )
    path = data_path("build-times.toml")
    write_atomic(path, render(platform, measured))
    print(f"{path}: {kept} jobs of {platform}")
    return 0
