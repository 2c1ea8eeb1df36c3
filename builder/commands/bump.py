"""`ipwhl bump NAME [VERSION]`: move a recipe to another release; name what must rebuild.

How, and which dependents it names: `builder.curation.bump`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from packaging.utils import canonicalize_name

from builder.curation.bump import bump
from builder.model.farm import load_farm
from builder.options import add_store_options, cache_path, store_path
from builder.pipeline.store import Store


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bump", help=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name")
    parser.add_argument("version", nargs="?", default=None)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    farm = load_farm(Path(args.root).absolute())
    name = canonicalize_name(args.name)
    done = bump(
        farm, name, args.version, cache=cache_path(args), store=Store(root=store_path(args))
    )
    found = done.dependents
    if found is None:
        print(f"{name} is at {done.old}, the newest release fit for every platform")
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "project": name,
                    "from": str(done.old),
                    "to": str(done.new),
                    "rebuild": [name, *found.build],
                    "retest": list(found.runtime),
                    "broken": list(found.broken),
                },
                indent=2,
            )
        )
    else:
        print(f"recipes/{name}.toml: {done.old} -> {done.new}")
        print(f"rebuild: {' '.join([name, *found.build])}")
        print(f"retest (runtime dependents): {' '.join(found.runtime) or '-'}")
        for line in found.broken:
            print(f"broken: {line} (not met by {done.new})")
        print(
            f"next: `ipwhl build-lock {name}` if its build requirements changed, then "
            f"`ipwhl build {' '.join([name, *found.build, *found.runtime])}`"
        )
    return 1 if found.broken else 0
