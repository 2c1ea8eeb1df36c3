"""`ipwhl seed SOURCE`: fill the store with a published tree's wheels and build records."""

from __future__ import annotations

import argparse
import fnmatch
import tempfile
from collections.abc import Sequence
from pathlib import Path

from builder.options import add_source_options, add_store_options, cache_path, store_path
from builder.pipeline.seed import Seeded, seed
from builder.pipeline.store import Store
from builder.tree.published import open_published


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "seed",
        help=__doc__,
        description="SOURCE is a tree directory, a CAR file, a CID (through --api or "
        "--gateway), /ipns/NAME (through --gateway) or a gateway URL. Every block is "
        "checked against its CID and every file against manifest.json; afterwards a "
        "job whose input hash the tree has a record for is a cache hit.",
    )
    parser.add_argument("source", help="tree directory, .car file, CID, /ipns/NAME or URL")
    parser.add_argument(
        "--platform", action="append", default=[],
        help="only records of platforms matching this glob (repeatable; default: all)",
    )  # fmt: skip
    add_source_options(parser)
    add_store_options(parser)


def seed_from(
    source: str, store: Path, cache: Path, globs: Sequence[str], *, api: str, gateway: str | None
) -> Seeded:
    """Read SOURCE (checked), seed `store` and `cache`, print one line of what it did."""
    print(f"==> seed the store from {source}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ipwhl-seed-") as work:
        published = open_published(source, Path(work), api=api, gateway=gateway)
        seeded = seed(
            published,
            Store(root=store),
            cache,
            lambda pid: not globs or any(fnmatch.fnmatchcase(pid, g) for g in globs),
        )
    root = f" (root {published.root})" if published.root else ""
    print(
        f"seeded{root}: {seeded.added} records added, {seeded.present} already present, "
        f"{seeded.sdists} sdists cached",
        flush=True,
    )
    for line in seeded.conflicts:
        print(f"  kept the store's own wheel: {line}", flush=True)
    return seeded


def run(args: argparse.Namespace) -> int:
    seed_from(
        args.source, store_path(args), cache_path(args), args.platform,
        api=args.api, gateway=args.gateway,
    )  # fmt: skip
    return 0
