"""Moving a recipe to another release, and what must be rebuilt or retested with it.

The recipe file is edited in place (version, url, sha256 only; comments and every
other key stay), after the new sdist is downloaded and verified against PyPI's hash.
Its dependents are the reverse build-time dependencies (`build.depends`, transitively)
and the reverse runtime dependencies (wheels whose Requires-Dist names it), with any
whose requirement the new version no longer meets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from builder.atomic import write_atomic
from builder.curation import pypi
from builder.curation.draft import python_versions
from builder.curation.facts import WheelFacts
from builder.curation.view import gather
from builder.errors import CurationError
from builder.model.farm import Farm
from builder.model.recipe import Recipe
from builder.pipeline import bootstrap
from builder.pipeline.store import Store
from builder.tomlwrite import toml_string


@dataclass(frozen=True, kw_only=True)
class Dependents:
    build: tuple[str, ...]  # rebuild: they build against it or with it, transitively
    runtime: tuple[str, ...]  # retest: their wheels require it at run time
    broken: tuple[str, ...]  # "name: requirement" the new version does not meet


def build_dependents(
    recipes: Mapping[str, Recipe],
    names: Iterable[str],
    uses: Mapping[str, Iterable[str]] | None = None,
) -> set[str]:
    """Every recipe that needs one of `names` at build time, transitively: through
    `build.depends`, and through `uses` (recipe -> the set's own backends its builds
    install, `bootstrap.build_uses`)."""
    needs = {
        recipe.name: {*recipe.depends, *((uses or {}).get(recipe.name, ()))}
        for recipe in recipes.values()
    }
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        for recipe, wanted in needs.items():
            if name in wanted and recipe not in found:
                found.add(recipe)
                todo.append(recipe)
    return found


def dependents(
    recipes: Mapping[str, Recipe],
    wheels: Iterable[WheelFacts],
    name: str,
    version: Version,
    uses: Mapping[str, Iterable[str]] | None = None,
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
        build=tuple(sorted(build_dependents(recipes, [name], uses))),
        runtime=tuple(sorted(runtime)),
        broken=tuple(sorted(broken)),
    )


def edit_recipe(text: str, *, version: str, url: str, sha256: str) -> str:
    """The recipe with its pin moved: only these three values change."""
    replacements = {"version": version, "url": url, "sha256": sha256}
    for key, value in replacements.items():
        # Only a one-line basic string, escapes and all, with nothing after it but a
        # comment: a multi-line or literal string is refused, never half replaced.
        pattern = re.compile(rf'^(\s*{key}\s*=\s*)"(?:[^"\\\n]|\\.)*"(?=\s*(?:#.*)?$)', re.M)
        quoted = toml_string(value).replace("\\", "\\\\")  # re.subn reads backslashes
        text, count = pattern.subn(rf"\g<1>{quoted}", text, count=1)
        if count != 1:
            raise CurationError(
                f'cannot find `{key} = "..."` in the recipe',
                fix="write the key as a plain one-line string, then rerun",
            )
    return text


@dataclass(frozen=True, kw_only=True)
class Bumped:
    project: str
    old: Version
    new: Version
    dependents: Dependents | None  # None: it is already at the chosen release


def bump(farm: Farm, name: str, version: str | None, *, cache: Path, store: Store) -> Bumped:
    """Move `name`'s recipe to `version` (default: the newest fit release)."""
    recipe = farm.recipes.get(name)
    if recipe is None:
        raise CurationError(f"no recipe for {name}", fix=f"add one with `ipwhl new {name}`")
    release = pypi.choose(name, python_versions(farm), version)
    assert release.sdist is not None  # choose() only returns releases with an sdist
    if release.version == recipe.version:
        return Bumped(project=name, old=recipe.version, new=release.version, dependents=None)
    pypi.download(release.sdist, cache)  # verified against the index before we pin it
    text = edit_recipe(
        recipe.path.read_text(),
        version=str(release.version),
        url=release.sdist.url,
        sha256=release.sdist.sha256,
    )
    uses = bootstrap.build_uses(farm)  # as the locks pin it now: the old version
    write_atomic(recipe.path, text)
    view = gather(farm, store, cache)
    found = dependents(farm.recipes, view.wheels, name, release.version, uses)
    return Bumped(project=name, old=recipe.version, new=release.version, dependents=found)
