"""`ipwhl cid PATH`: the IPFS CID of a file or directory, computed here, no daemon."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.ipfs.car import BlockStore, write_dag_car
from builder.ipfs.unixfs import Importer, get_profile


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cid",
        help="print the IPFS CID of a file or directory",
        description=(
            "Print the CID that `ipfs add -r --only-hash -Q PATH` prints under the same "
            "profile (kubo >= 0.40 rules: hidden files skipped, empty directories and "
            "symlinks kept). Optionally write the DAG as a CARv1 file for `ipfs dag import`."
        ),
    )
    parser.add_argument("path", type=Path, help="a file or directory")
    parser.add_argument(
        "--profile", default=None, metavar="P",
        help="IPIP-499 import profile: unixfs-v1-2025 (default) or unixfs-v0-2015",
    )  # fmt: skip
    parser.add_argument(
        "--car", type=Path, default=None, metavar="OUT",
        help="also write every block of the DAG to this CARv1 file (root first)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    if args.car is None:
        cid = Importer(profile=profile).add_path(args.path).cid
    else:
        # Spool next to the output: the CAR's size of free space is needed there anyway.
        out = Path(args.car).absolute()
        out.parent.mkdir(parents=True, exist_ok=True)
        with BlockStore(out.parent) as store:
            cid = Importer(profile=profile, sink=store).add_path(args.path).cid
            write_dag_car(out, cid, store)
    print(cid)
    return 0
