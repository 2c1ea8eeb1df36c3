"""`ipwhl assemble`: lay out the published tree, print its root CID, write its CAR."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.model.farm import load_farm
from builder.options import add_store_options, cache_path, store_path
from builder.pipeline.collection import current
from builder.pipeline.store import Store
from builder.tree.assemble import assemble

# A path gateway. kubo answers `localhost` with a redirect to a subdomain gateway,
# `<cid>.ipfs.localhost`, which many hosts cannot resolve (kubo issue 7290).
GATEWAY = "http://127.0.0.1:8080"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "assemble",
        help=__doc__,
        description=(
            "Write the pip index of every current wheel to OUT/tree, compute its IPFS "
            "CID in-process (as `ipfs add -r --only-hash` would) and write OUT/<cid>.car "
            "for `ipfs dag import`."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="output directory (default: <root>/public)",
    )  # fmt: skip
    parser.add_argument(
        "--platform", action="append", default=[], metavar="GLOB",
        help="only platforms matching this glob (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", default=None, metavar="P",
        help="IPIP-499 import profile: unixfs-v1-2025 (default) or unixfs-v0-2015",
    )  # fmt: skip
    parser.add_argument(
        "--no-car", dest="car", action="store_false",
        help="only the tree and its CID; skip the CAR (no block is written, cached "
        "file CIDs are enough)",
    )  # fmt: skip
    parser.add_argument(
        "--status", type=Path, default=None, metavar="DIR",
        help="a report directory of `ipwhl verify` to publish under _status/",
    )  # fmt: skip
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    farm = load_farm(root)
    store = Store(root=store_path(args))
    out = Path(args.out).absolute() if args.out is not None else root / "public"
    result = assemble(
        farm,
        store,
        current(farm, store),
        out=out,
        platforms=args.platform,
        profile=args.profile,
        sdist_cache=cache_path(args),
        car=args.car,
        status=args.status.absolute() if args.status else None,
    )
    print(f"tree:     {result.tree} ({result.projects} projects, {result.files} files)")
    if result.car is not None:
        print(f"car:      {result.car}")
    if result.missing:
        print(f"missing:  {len(result.missing)} (project, platform) pairs, see manifest.json")
    print(f"profile:  {result.profile}")
    print(f"root CID: {result.root}")
    print(f"index:    {GATEWAY}/ipfs/{result.root}/")
    print(f"  pip install --index-url {GATEWAY}/ipfs/{result.root}/ <project>")
    return 0
