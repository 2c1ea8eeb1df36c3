"""`ipwhl bump NAME [VERSION]`: move a recipe to another release; name what must rebuild.

The recipe file is edited in place (version, url, sha256 only; comments and every
other key stay), after the new sdist is downloaded and verified against PyPI's hash.
Then it names the projects that must be rebuilt or retested with it: the reverse
build-time dependencies (`build.depends`, transitively) and the reverse runtime
dependencies (wheels whose Requires-Dist names it), with any whose requirement the new
version no longer meets.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from builder.atomic import write_atomic
from builder.commands.build import add_store_options, default_cache, store_path
from builder.commands.new import python_versions
from builder.curation import pypi
from builder.curation.check import WheelFacts
from builder.errors import CurationError
from builder.model.farm import load_farm
from builder.model.recipe import Recipe
from builder.pipeline.store import Store


@dataclass(frozen=True, kw_only=True)
class Dependents:
    build: tuple[str, ...]  # rebuild: they build against it (build.depends, transitively)
    runtime: tuple[str, ...]  # retest: their wheels require it at run time
    broken: tuple[str, ...]  # "name: requirement" the new version does not meet


def build_dependents(recipes: Mapping[str, Recipe], names: Iterable[str]) -> set[str]:
    """Every recipe that needs one of `names` at build time, transitively."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        for recipe in recipes.values():
            if name in recipe.depends and recipe.name not in found:
                found.add(recipe.name)
                todo.append(recipe.name)
    return found


def dependents(
    recipes: Mapping[str, Recipe], wheels: Iterable[WheelFacts], name: str, version: Version
) -> Dependents:
    runtime, broken = set(), set()
    for wheel in wheels:
        for text in wheel.requires_dist:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if canonicalize_name(req.name) != name or wheel.project == name:
                continue
            runtime.add(wheel.project)
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                broken.add(f"{wheel.project}: {req}")
    return Dependents(
        build=tuple(sorted(build_dependents(recipes, [name]))),
        runtime=tuple(sorted(runtime)),
        broken=tuple(sorted(broken)),
    )


def edit_recipe(text: str, *, version: str, url: str, sha256: str) -> str:
    """The recipe with its pin moved: only these three values change."""
    replacements = {"version": version, "url": url, "sha256": sha256}
    for key, value in replacements.items():
        pattern = re.compile(rf'^(\s*{key}\s*=\s*)"[^"\n]*"', re.M)
        quoted = json.dumps(value).replace("\\", "\\\\")  # re.subn reads backslashes
        text, count = pattern.subn(rf"\g<1>{quoted}", text, count=1)
        if count != 1:
            raise CurationError(
                f'cannot find `{key} = "..."` in the recipe',
                fix="write the key as a plain one-line string, then rerun",
            )
    return text


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bump", help=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name")
    parser.add_argument("version", nargs="?", default=None)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    from builder.commands.check import gather

    root = Path(args.root).absolute()
    farm = load_farm(root)
    name = canonicalize_name(args.name)
    recipe = farm.recipes.get(name)
    if recipe is None:
        raise CurationError(f"no recipe for {name}", fix=f"add one with `ipwhl new {name}`")
    cache = (args.cache or default_cache()).absolute()
    release = pypi.choose(name, python_versions(farm), args.version)
    assert release.sdist is not None  # choose() only returns releases with an sdist
    if release.version == recipe.version:
        print(f"{name} is at {recipe.version}, the newest release fit for every platform")
        return 0
    pypi.download(release.sdist, cache)  # verified against the index before we pin it
    text = edit_recipe(
        recipe.path.read_text(),
        version=str(release.version),
        url=release.sdist.url,
        sha256=release.sdist.sha256,
    )
    write_atomic(recipe.path, text)
    view = gather(farm, Store(root=store_path(args)), cache)
    found = dependents(farm.recipes, view.wheels, name, release.version)
    if args.json:
        print(
            json.dumps(
                {
                    "project": name,
                    "from": str(recipe.version),
                    "to": str(release.version),
                    "rebuild": [name, *found.build],
                    "retest": list(found.runtime),
                    "broken": list(found.broken),
                },
                indent=2,
            )
        )
    else:
        print(f"recipes/{name}.toml: {recipe.version} -> {release.version}")
        print(f"rebuild: {' '.join([name, *found.build])}")
        print(f"retest (runtime dependents): {' '.join(found.runtime) or '-'}")
        for line in found.broken:
            print(f"broken: {line} (not met by {release.version})")
        print(
            "next: `nox -s lock` if its build requirements changed, then "
            f"`ipwhl build {' '.join([name, *found.build, *found.runtime])}`"
        )
    return 1 if found.broken else 0
