"""`ipwhl root-lock NAME PACKAGE...`: pin a system root from a Debian suite's signed index."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.atomic import write_atomic
from builder.curation import debian
from builder.model.root import ROOTS_DIR, root_text


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("root-lock", help=__doc__)
    parser.add_argument("name", help="the root's name: roots/NAME.toml")
    parser.add_argument("packages", nargs="+", metavar="PACKAGE", help="what the root is for")
    parser.add_argument("--suite", default="sid", help="the Debian suite (default: sid)")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian",
                        help="a Debian mirror; trust comes from the signed index")  # fmt: skip
    parser.add_argument("--arch", default="amd64", help="Debian architecture (default: amd64)")


def run(args: argparse.Namespace) -> int:
    index = debian.signed_index(args.mirror, args.suite, args.arch)
    debs = debian.closure(index, args.packages)
    target = Path(args.root).absolute() / ROOTS_DIR / f"{args.name}.toml"
    write_atomic(target, root_text(name=args.name, mirror=args.mirror, suite=args.suite,
                                   release_date=index.date, wanted=list(args.packages),
                                   debs=debs, arch=args.arch))  # fmt: skip
    size = sum(d.size for d in debs)
    print(f"wrote {target}: {len(debs)} packages, {size / 1e6:.0f} MB, from {args.suite} "
          f"of {index.date}")  # fmt: skip
    return 0
