"""`ipwhl publish`: import the assembled CAR into a running IPFS node, pin it, name it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.ipfs.gateway import DEFAULT_API, DEFAULT_GATEWAY
from builder.ipfs.publish import publish
from builder.tree.assemble import find_car


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help=__doc__,
        description=(
            "Import CAR (default: the one CAR in <root>/public, written by `ipwhl "
            "assemble`) into a running kubo through its RPC API, pin its root, confirm "
            "the pin, optionally point an IPNS key at it, and print the index URL to "
            "install from. Needs a running daemon: `ipfs daemon`."
        ),
    )
    parser.add_argument("car", nargs="?", type=Path, default=None, metavar="CAR")
    parser.add_argument(
        "--api", default=None, metavar="ADDR",
        help=f"kubo's RPC API, multiaddr or URL (default: $IPFS_PATH/api, else {DEFAULT_API})",
    )  # fmt: skip
    parser.add_argument(
        "--gateway", default=None, metavar="URL",
        help="the gateway users install through (default: the node's own, else "
        f"{DEFAULT_GATEWAY}; an IP address, not localhost)",
    )  # fmt: skip
    parser.add_argument(
        "--ipns-key", default=None, metavar="NAME",
        help="also point this IPNS key at the tree (`self` is the node's own key)",
    )  # fmt: skip
    parser.add_argument(
        "--create-key", action="store_true",
        help="create the --ipns-key key if the node lacks it (default: an error, so a "
        "typo never starts a new channel)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    car = Path(args.car) if args.car is not None else find_car(Path(args.root).absolute())
    done = publish(
        car, api=args.api, gateway=args.gateway, ipns_key=args.ipns_key,
        create_key=args.create_key,
    )  # fmt: skip
    index = done.index_url
    print(f"published: {done.cid}")
    print(f"  {done.blocks} blocks, {done.block_bytes / 2**20:.1f} MiB, pinned (recursive)")
    if done.ipns_name is not None:
        made = " (new key: back it up with `ipfs key export`)" if done.key_created else ""
        print(f"ipns:      /ipns/{done.ipns_name} (key {done.ipns_key}){made}")
        print(f"  follow:  {done.gateway.url}/ipns/{done.ipns_name}/")
    print(f"index:     {index}")
    print(f"  pip install --index-url {index} NAME")
    print(f"  pip config --site set global.index-url {index}")
    print(f"  uv pip install --index-url {index} NAME")
    print(f"  one platform only: {index}_platforms/<platform-id>/")
    print(f"mirror:    ipfs pin add {done.cid}")
    if done.gateway_problem is not None:
        # The tree is pinned, so publishing succeeded; the URL above may still not work.
        print(f"warning: the gateway check failed: {done.gateway_problem}", file=sys.stderr)
    return 0
