"""`ipwhl new NAME [VERSION]`: draft recipes/<name>.toml from PyPI, then lock and build it.

What the draft holds and how it is guessed: `builder.curation.draft`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from builder.atomic import write_atomic
from builder.curation.draft import Draft, draft_set
from builder.curation.locks import refresh_locks
from builder.curation.names import clashes
from builder.model.farm import load_farm
from builder.options import cache_path
from builder.paths import DEFAULT_BUILD_ROOT, store_dir
from builder.pipeline.run import build_set, exit_code, settings
from builder.report import Reporter


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("new", help=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name")
    parser.add_argument("version", nargs="?", default=None)
    parser.add_argument(
        "--with-deps", action="store_true", help="also draft recipes for missing dependencies"
    )
    parser.add_argument("--no-build", action="store_true", help="only write the recipes")
    parser.add_argument(
        "--license", default=None, help="SPDX expression, when the metadata cannot tell"
    )
    parser.add_argument("--cache", type=Path, default=None, help="sdist download cache")
    parser.add_argument("--store", type=Path, default=None, help="the local store")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="parallel build jobs")
    parser.add_argument("--build-root", type=Path, default=None, help="see `ipwhl build`")
    parser.add_argument(
        "--platform", action="append", default=[], metavar="GLOB",
        help="build only on these platforms (repeatable; default: every one buildable here)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    farm = load_farm(root)
    cache = cache_path(args)

    def write(recipe: Draft) -> None:
        write_atomic(root / "recipes" / f"{recipe.name}.toml", recipe.toml())

    made, missing = draft_set(
        args.name, args.version, farm, cache, license_=args.license,
        with_deps=args.with_deps, write=write,
    )  # fmt: skip
    for item in made:
        recipe = item.draft
        print(
            f"wrote recipes/{recipe.name}.toml: {recipe.version}, {recipe.license}, "
            + ("pure" if recipe.pure else "a program" if recipe.program else "compiled")
            + (f", imports {', '.join(recipe.imports)}" if recipe.imports else "")
            + "".join(f", runs `{command}`" for command in recipe.commands)
            + (f", system packages {' '.join(recipe.system_packages)}"
               if recipe.system_packages else "")
            + (f" (needed by {item.needed_by})" if item.needed_by else "")
        )  # fmt: skip
    written = [item.draft.name for item in made]
    known = set(farm.recipes) | set(written)
    for clash in clashes({n: () for n in known}):
        if clash.name in written:
            print(
                f"note: {clash.name!r} is easily mistaken for {clash.other!r}: check it is "
                f"the project you mean, then add confusable-with = [{clash.other!r}]"
            )
    if missing:
        print("not in the set yet (add them, or rerun with --with-deps):")
        for line in missing:
            print(f"  {line}")
    if args.no_build:
        return 0
    reporter = Reporter()
    farm = load_farm(root)  # with the new recipes
    refresh_locks(farm, cache, reporter, written)
    run_settings = settings(
        store=store_dir(root, args.store), cache=cache,
        build_root=args.build_root or DEFAULT_BUILD_ROOT, jobs=args.jobs or os.cpu_count() or 1,
    )  # fmt: skip
    return exit_code(build_set(farm, written, args.platform, run_settings, reporter))
