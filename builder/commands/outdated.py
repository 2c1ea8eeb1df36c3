"""`ipwhl outdated`: recipes with a newer upstream release that still fits every platform."""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from builder.curation import pypi
from builder.curation.draft import python_versions
from builder.errors import IpwhlError, PyPIError
from builder.model.farm import load_farm
from builder.model.recipe import Recipe


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("outdated", help=__doc__)
    parser.add_argument("projects", nargs="*", help="only these recipes (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--drop", action="append", default=[], metavar="X.Y",
        help="as if this interpreter line were retired (repeatable): what it holds back",
    )  # fmt: skip


def newer(recipe: Recipe, versions: list[str]) -> dict[str, str] | None:
    """The newest fit release above the recipe's, and the newest overall if it does not fit."""
    everything = pypi.releases(recipe.name)
    fit = pypi.candidates_from(everything, versions)
    finals = [r for r in everything if not r.version.is_prerelease and r.sdist is not None]
    if not fit or fit[0].version <= recipe.version:
        if finals and finals[0].version > recipe.version:
            # Upstream moved on but dropped an interpreter we still build for.
            sdist = finals[0].sdist
            return {
                "project": recipe.name,
                "current": str(recipe.version),
                "fit": "",
                "newest": str(finals[0].version),
                "newest_requires_python": sdist.requires_python if sdist else "",
                "held_back_by": ", ".join(
                    v for v in versions if sdist is not None and not sdist.admits([v])
                ),
            }
        return None
    newest = finals[0] if finals else fit[0]
    return {
        "project": recipe.name,
        "current": str(recipe.version),
        "fit": str(fit[0].version),
        "newest": str(newest.version),
        "newest_requires_python": newest.sdist.requires_python if newest.sdist else "",
    }


def run(args: argparse.Namespace) -> int:
    farm = load_farm(Path(args.root).absolute())
    versions = python_versions(farm)
    if unknown := sorted(set(args.drop) - set(versions)):
        raise IpwhlError(
            f"--drop {', '.join(unknown)}: no platform builds that interpreter line",
            fix=f"name one of {', '.join(versions)}",
        )
    versions = [v for v in versions if v not in args.drop]
    recipes = [
        r for n, r in sorted(farm.recipes.items()) if not args.projects or n in args.projects
    ]
    rows: list[dict[str, str]] = []
    errors: list[str] = []

    def one(recipe: Recipe) -> dict[str, str] | None:
        try:
            return newer(recipe, versions)
        except PyPIError as e:
            errors.append(f"{recipe.name}: {e.message}")
            return None

    # PyPI answers one request at a time slowly; a few at once keep this under seconds.
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = [row for row in pool.map(one, recipes) if row is not None]
    if args.json:
        print(json.dumps({"outdated": rows, "errors": errors}, indent=2))
        return 0
    bumpable = [row for row in rows if row["fit"]]
    held = [row for row in rows if not row["fit"]]
    if args.drop:
        print(f"as if Python {', '.join(args.drop)} were retired:")
    if not bumpable:
        print(f"no recipe has a newer release that admits Python {', '.join(versions)}")
    else:
        print(f"{'project':<24} {'recipe':<12} {'bump to':<12} newest upstream")
        for row in bumpable:
            note = (
                ""
                if row["newest"] == row["fit"]
                else (f"{row['newest']} (Requires-Python {row['newest_requires_python']})")
            )
            print(f"{row['project']:<24} {row['current']:<12} {row['fit']:<12} {note}")
        print("`ipwhl bump NAME` moves a recipe to its 'bump to' release")
    if held:
        print(f"\nheld back: newer releases drop an interpreter we build ({len(held)})")
        for row in held:
            print(
                f"  {row['project']:<22} {row['current']:<12} newest {row['newest']} "
                f"(Requires-Python {row['newest_requires_python']}): held back by "
                f"{row['held_back_by'] or '-'}"
            )
        print("`ipwhl outdated --drop X.Y` shows what each would move to without that line")
    for line in errors:
        print(f"error: {line}")
    return 1 if errors else 0
