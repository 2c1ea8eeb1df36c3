"""The `ipwhl` command line. The only place errors become exit codes."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from builder import __version__
from builder.errors import IpwhlError


class Command(Protocol):
    """A command module: `add_parser` declares its arguments, `run` does the work."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _command_modules() -> list[str]:
    """Every module of `builder.commands` is one or more subcommands."""
    import builder.commands

    return sorted(
        f"builder.commands.{m.name}" for m in pkgutil.iter_modules(builder.commands.__path__)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ipwhl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ipwhl {__version__}")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the farm checkout holding recipes/, platforms/ and locks/ (default: .)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    runners = {}
    for name in _command_modules():
        module: Command = importlib.import_module(name)
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for added in set(subparsers.choices) - before:
            runners[added] = module
    args = parser.parse_args(argv)
    try:
        return runners[args.command].run(args)
    except IpwhlError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
