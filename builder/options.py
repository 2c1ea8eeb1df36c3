"""Command-line options more than one command takes, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.paths import cache_dir, store_dir


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="the local store (default: <root>/store, or $IPWHL_STORE)",
    )
    add_cache_option(parser)


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="download cache for sdists (default: ~/.cache/ipwhl or $IPWHL_CACHE)",
    )


def store_path(args: argparse.Namespace) -> Path:
    return store_dir(Path(args.root), args.store)


def cache_path(args: argparse.Namespace) -> Path:
    return cache_dir(args.cache)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """How a published tree named by CID or IPNS name is reached."""
    parser.add_argument(
        "--api", default="http://127.0.0.1:5001", help="kubo RPC address to read a CID through"
    )
    parser.add_argument(
        "--gateway",
        default=None,
        help="read a CID or /ipns/NAME through this gateway instead (trustless: CAR, "
        "every block checked)",
    )
