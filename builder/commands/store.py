"""`ipwhl store check [--repair]`: re-hash the store; name what is damaged."""

from __future__ import annotations

import argparse

from builder.errors import ExitCode
from builder.options import add_store_options, store_path
from builder.pipeline.store import Store
from builder.pipeline.storecheck import check_store, repair


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("store", help=__doc__)
    parser.add_argument("action", choices=["check"])
    parser.add_argument(
        "--repair", action="store_true",
        help="remove what is damaged (its jobs are built again) and wheels a killed run "
        "left staged; run it when no build is using the store",
    )  # fmt: skip
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    store = Store(root=store_path(args))
    report = check_store(store)
    for item in report.damage:
        print(f"damaged: {item.path}: {item.what}")
    for path in report.leftovers:
        print(f"left by a killed run: {path}")
    print(f"{report.blobs} blobs and {report.records} records checked: "
          f"{len(report.damage)} damaged, {len(report.leftovers)} staged leftovers")  # fmt: skip
    if args.repair and (report.damage or report.leftovers):
        repair(report)
        print("repaired: the damaged files are gone; `ipwhl build` makes their jobs again")
        return 0
    if report.damage:
        print("fix: `ipwhl store check --repair`, then `ipwhl build`")
        return int(ExitCode.INTEGRITY)
    return 0
