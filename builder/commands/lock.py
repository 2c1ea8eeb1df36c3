"""`ipwhl lock`: a PEP 751 pylock.toml for projects of a published tree, on one platform."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.atomic import write_atomic
from builder.errors import PylockError
from builder.ipfs.gateway import DEFAULT_GATEWAY, Gateway
from builder.ipfs.multiformats import Cid
from builder.ipfs.unixfs import cid_of_path
from builder.tomlwrite import dumps
from builder.tree.manifest import MANIFEST
from builder.tree.pylock import (
    GatewayTree,
    LocalTree,
    TreeFiles,
    document,
    make_lock,
    parse_manifest,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lock",
        help=__doc__,
        description=(
            "Lock NAME... and their whole dependency closure on platform ID, from the "
            "tree's manifest.json and .metadata files: one wheel per project, with its "
            "sha256 and its URL on the gateway. Install it with `uv pip install -r "
            "pylock.toml`."
        ),
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="projects, extras allowed")
    parser.add_argument("--cid", default=None, help="the tree's root CID")
    parser.add_argument("--platform", required=True, metavar="ID", help="e.g. linux-x86_64-cp312")
    parser.add_argument(
        "--gateway", default=None, metavar="URL",
        help=f"the gateway to read the tree from and to put in URLs (default {DEFAULT_GATEWAY})",
    )  # fmt: skip
    parser.add_argument(
        "--tree", type=Path, default=None, metavar="DIR",
        help="read a local tree (`ipwhl assemble`'s <out>/tree) instead of the gateway; "
        "its CID is computed here, and must equal --cid if both are given",
    )  # fmt: skip
    parser.add_argument(
        "-o", "--output", default="pylock.toml", metavar="FILE",
        help="where to write (default: pylock.toml; `-` for standard output)",
    )  # fmt: skip


def _local(tree: Path, cid: str | None) -> tuple[str, TreeFiles]:
    files = LocalTree(directory=tree)
    profile = parse_manifest(files.read(MANIFEST)).profile or None
    # The URLs in the lock name this CID, so it must be the CID of exactly these bytes.
    computed = str(cid_of_path(tree, profile))
    if cid is not None and str(Cid.parse(cid)) != computed:
        raise PylockError(
            f"the tree at {tree} has CID {computed}, not {cid}",
            fix="lock the tree you published, or leave out --cid to use the tree's own",
        )
    return computed, files


def run(args: argparse.Namespace) -> int:
    gateway = Gateway.parse(args.gateway)
    if args.tree is not None:
        cid, files = _local(Path(args.tree), args.cid)
    elif args.cid is not None:
        cid = str(Cid.parse(args.cid))
        files = GatewayTree(gateway=gateway, cid=cid)
    else:
        raise PylockError("no tree to lock", fix="pass --cid CID (and/or --tree DIR)")
    lock = make_lock(
        cid=cid, platform_id=args.platform, names=args.names, files=files, gateway=gateway
    )
    text = dumps(document(lock))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(args.output), text)
        print(
            f"{args.output}: {len(lock.packages)} packages for {lock.platform.id} from /ipfs/{cid}",
            file=sys.stderr,
        )
        print(f"  install: uv pip install -r {args.output}", file=sys.stderr)
    return 0
