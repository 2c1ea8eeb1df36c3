"""Gates C020-C024: every wheel's runtime requirements (markers and requested extras
evaluated per platform) are met by the set, within each wheel's Requires-Python."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from builder.curation.facts import (
    SetView,
    WheelFacts,
    globbed,
    recipe_problem,
)
from builder.curation.pypi import admits_line
from builder.errors import Problem
from builder.model.platform import Platform
from builder.model.recipe import Recipe


@dataclass(frozen=True, kw_only=True)
class _Parsed:
    requirements: tuple[Requirement, ...]
    requires_python: SpecifierSet | None
    extras: frozenset[str]
    source: WheelFacts


@cache
def evaluate(marker: str, platform: Platform, extra: str) -> bool:
    env = platform.marker_environment()
    env["extra"] = extra
    return Marker(marker).evaluate(env)


def _applies(req: Requirement, platform: Platform, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    text = str(req.marker)
    return any(evaluate(text, platform, e) for e in ("", *sorted(extras)))


def _parse(wheel: WheelFacts, recipe: Recipe, problems: list[Problem]) -> _Parsed:
    reqs = []
    for text in wheel.requires_dist:
        try:
            reqs.append(Requirement(text))
        except InvalidRequirement as e:
            problems.append(
                recipe_problem(
                    recipe, "C020", "Requires-Dist", f"{wheel.filename}: {e}", "fix upstream"
                )
            )
    try:
        spec = SpecifierSet(wheel.requires_python) if wheel.requires_python else None
    except InvalidSpecifier:
        spec = None
    extras = frozenset(canonicalize_name(e) for e in wheel.provides_extra)
    return _Parsed(requirements=tuple(reqs), requires_python=spec, extras=extras, source=wheel)


def _metadata_for(
    view: SetView, platforms: Iterable[Platform], unchecked: list[str]
) -> dict[str, dict[str, WheelFacts]]:
    """platform id -> project -> the wheel whose metadata speaks for it there.

    A platform with no wheels built (macOS, Windows on a Linux machine) borrows each
    project's metadata from a wheel for the same interpreter, so Requires-Dist is
    still checked with that platform's markers (sys_platform == "win32" and friends).
    """
    own: dict[tuple[str, str], WheelFacts] = {(w.project, w.platform): w for w in view.wheels}
    by_project: dict[str, list[WheelFacts]] = {}
    for wheel in view.wheels:
        by_project.setdefault(wheel.project, []).append(wheel)
    result: dict[str, dict[str, WheelFacts]] = {}
    borrowing: list[str] = []
    nowhere: set[str] = set()
    for platform in platforms:
        chosen: dict[str, WheelFacts] = {}
        borrowed = 0
        for recipe in view.recipes.values():
            if not recipe.selects(platform.id):
                continue
            found = own.get((recipe.name, platform.id))
            if found is None:
                others = by_project.get(recipe.name, [])
                same = [w for w in others if w.platform.endswith(f"-{platform.interpreter}")]
                pick = sorted(same or others, key=lambda w: w.platform)
                if not pick:
                    continue
                found, borrowed = pick[0], borrowed + 1
            chosen[recipe.name] = found
        if borrowed:
            borrowing.append(platform.id)
        for recipe in view.recipes.values():
            if recipe.selects(platform.id) and recipe.name not in chosen:
                nowhere.add(recipe.name)
        result[platform.id] = chosen
    if borrowing:
        unchecked.append(
            f"dependencies on {globbed(borrowing)} were checked with the Requires-Dist of "
            "the same interpreter's wheel for another platform, evaluated for these"
        )
    if nowhere:
        unchecked.append(
            f"dependencies of {', '.join(sorted(nowhere))} not checked: no wheel built"
        )
    return result


def check_closure(
    view: SetView, platforms: Iterable[Platform], unchecked: list[str]
) -> list[Problem]:
    """C020-C024: every Requires-Dist (markers per platform, requested extras included)
    is met by the one version in the set; Requires-Python admits the interpreter."""
    problems: list[Problem] = []
    platforms = list(platforms)
    metadata = _metadata_for(view, platforms, unchecked)
    parsed_cache: dict[str, _Parsed] = {}
    per_platform: dict[Problem, list[str]] = {}
    for platform in platforms:
        chosen = metadata[platform.id]
        parsed = {}
        for name, wheel in chosen.items():
            if wheel.sha256 not in parsed_cache:
                parsed_cache[wheel.sha256] = _parse(wheel, view.recipes[name], problems)
            parsed[name] = parsed_cache[wheel.sha256]
        # The extras each project is asked for, from the roots down, to a fixed point.
        asked: dict[str, set[str]] = {name: set() for name in parsed}
        todo = list(parsed)
        while todo:
            name = todo.pop()
            for req in parsed[name].requirements:
                dep = canonicalize_name(req.name)
                if dep in asked and _applies(req, platform, asked[name]):
                    new = {canonicalize_name(e) for e in req.extras} - asked[dep]
                    if new:
                        asked[dep] |= new
                        todo.append(dep)
        for name in sorted(parsed):
            for problem in _closure_of(view, platform, name, parsed, asked):
                per_platform.setdefault(problem, []).append(platform.id)
    # One problem per cause, naming its platforms, not one per platform.
    for problem, ids in per_platform.items():
        on = f"on {globbed(ids)}"
        problems.append(
            Problem(
                code=problem.code,
                file=problem.file,
                field=problem.field,
                message=problem.message.replace("{on}", on),
                fix=problem.fix,
            )
        )
    return problems


def _closure_of(
    view: SetView,
    platform: Platform,
    name: str,
    parsed: dict[str, _Parsed],
    asked: dict[str, set[str]],
) -> list[Problem]:
    recipe, meta = view.recipes[name], parsed[name]
    problems = []
    python = platform.python_version
    full = view.python_full_versions.get(platform.id)
    spec = meta.requires_python
    if spec is not None and not (
        spec.contains(full, prereleases=True) if full else admits_line(spec, python)
    ):
        problems.append(
            recipe_problem(
                recipe,
                "C024",
                "project.version",
                f"{meta.source.filename} requires Python {meta.requires_python}, "
                "which excludes the interpreter {on}" + (f" (CPython {full})" if full else ""),
                "pick a release whose Requires-Python admits every interpreter "
                f"(`ipwhl bump {name}` lists them), or limit build.platforms",
            )
        )
    for req in meta.requirements:
        if not _applies(req, platform, asked[name]):
            continue
        dep = canonicalize_name(req.name)
        where = "{on}" + (f" (marker: {req.marker})" if req.marker else "")
        target = view.recipes.get(dep)
        if target is None:
            problems.append(
                recipe_problem(
                    recipe,
                    "C020",
                    "Requires-Dist",
                    f"{name} needs {req} {where}, which is not in the set",
                    f"add it: `ipwhl new {dep}` (writes recipes/{dep}.toml)",
                )
            )
            continue
        if not target.selects(platform.id):
            problems.append(
                recipe_problem(
                    recipe,
                    "C021",
                    "Requires-Dist",
                    f"{name} needs {req} {where}, but recipes/{dep}.toml does not build "
                    f"for {platform.id}",
                    f"widen build.platforms in recipes/{dep}.toml, or narrow this recipe's",
                )
            )
            continue
        if req.specifier and not req.specifier.contains(target.version, prereleases=True):
            problems.append(
                recipe_problem(
                    recipe,
                    "C022",
                    "Requires-Dist",
                    f"{name} needs {req} {where}; the set has {dep} {target.version}",
                    f"one version per project: bump {dep} (`ipwhl bump {dep}`) or pick a "
                    f"release of {name} that accepts {dep} {target.version}",
                )
            )
        provided = parsed[dep].extras if dep in parsed else None
        for extra in sorted(canonicalize_name(e) for e in req.extras):
            if provided is not None and extra not in provided:
                problems.append(
                    recipe_problem(
                        recipe,
                        "C023",
                        "Requires-Dist",
                        f"{name} needs {dep}[{extra}] {where}; {dep} {target.version} has no "
                        f"extra {extra!r} (it has: {', '.join(sorted(provided)) or 'none'})",
                        f"pick releases of {name} and {dep} that agree on the extra",
                    )
                )
    return problems
