"""The whole-set gates: what must hold for the set of recipes and wheels as one.

Pure functions over values (recipes, platforms, facts read from wheels, locks): no disk,
no network, so every gate is tested with small fixture sets. `commands/check.py` reads
the facts from the store. Every failure is a `Problem` (file, field, stable code, fix),
all reported at once; what cannot be checked (no wheels for a platform, no sdist in the
cache) is said, not passed over.

Codes: C001 versions; C010-C012 wheels per platform; C020-C024 runtime closure;
C030-C031 build requirements; C040-C041 licenses; C050-C051 names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging import tags
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from builder.curation import names
from builder.curation.licenses import Allowlist, license_ids
from builder.errors import LockError, Problem
from builder.model.lock import Lock
from builder.model.platform import OS, Platform
from builder.model.recipe import Recipe


@dataclass(frozen=True, kw_only=True)
class WheelFacts:
    """What the gates need from one current wheel (read from its METADATA and members)."""

    filename: str
    sha256: str
    platform: str  # the platform id whose current wheel this is
    name: str  # METADATA Name, as written
    version: str  # METADATA Version
    requires_dist: tuple[str, ...] = ()
    requires_python: str = ""
    provides_extra: tuple[str, ...] = ()
    license_files: tuple[str, ...] = ()

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True, kw_only=True)
class SetView:
    """Everything the gates look at. `build_requires` is None for a project whose sdist
    is not at hand; `locks` maps an interpreter tag to its lock, None when absent."""

    recipes: Mapping[str, Recipe]
    platforms: Mapping[str, Platform]
    wheels: tuple[WheelFacts, ...]
    build_requires: Mapping[str, tuple[str, ...] | None]
    locks: Mapping[str, Lock | None]
    locks_dir: Path
    allowlist: Allowlist


@dataclass(frozen=True, kw_only=True)
class Report:
    problems: tuple[Problem, ...]
    unchecked: tuple[str, ...]  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems


def _platform_tags(platform: Platform) -> list[str]:
    policy, arch = platform.policy, platform.arch
    if platform.os is OS.WINDOWS:
        return [policy]
    if platform.os is OS.MACOS:
        major, minor = (int(x) for x in policy.split("_")[1:3])
        return list(tags.mac_platforms((major, minor), arch))
    match = re.fullmatch(r"(manylinux|musllinux)_(\d+)_(\d+)_(.+)", policy)
    if match is None:
        return [policy, f"linux_{arch}"]
    family, major, minor = match[1], int(match[2]), int(match[3])
    lowest = 5 if family == "manylinux" else 0
    found = [f"{family}_{major}_{m}_{arch}" for m in range(minor, lowest - 1, -1)]
    if family == "manylinux":  # the PEP 513/571/599 aliases pip still accepts
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        found += [f"{legacy[m]}_{arch}" for m in legacy if m <= minor]
    return [*found, f"linux_{arch}"]


@cache
def supported_tags(platform: Platform) -> frozenset[tags.Tag]:
    """The tags an installer on `platform` accepts (packaging's order, as a set)."""
    version = tuple(int(x) for x in platform.python_version.split("."))
    plats = _platform_tags(platform)
    interp = platform.interpreter
    found = set(tags.cpython_tags(version, abis=[interp], platforms=plats))
    found |= set(tags.compatible_tags(version, interp, plats))
    return frozenset(found)


def _wheel_tags(filename: str) -> frozenset[tags.Tag]:
    return parse_wheel_filename(filename)[3]


def _problem(recipe: Recipe, code: str, fld: str, message: str, fix: str) -> Problem:
    return Problem(code=code, file=recipe.path, field=fld, message=message, fix=fix)


def check_versions(view: SetView) -> list[Problem]:
    """C001: each project has one version in the set, the one its recipe pins."""
    problems = []
    seen: dict[str, dict[str, list[str]]] = {}
    for wheel in view.wheels:
        _, file_version, _, _ = parse_wheel_filename(wheel.filename)
        versions = seen.setdefault(wheel.project, {})
        versions.setdefault(str(Version(wheel.version)), []).append(wheel.filename)
        if Version(wheel.version) != file_version:
            versions.setdefault(str(file_version), []).append(wheel.filename)
    for project, versions in sorted(seen.items()):
        recipe = view.recipes.get(project)
        if recipe is None:
            continue
        pinned = str(recipe.version)
        if set(versions) != {pinned}:
            other = sorted(set(versions) - {pinned})
            wheels = sorted({w for v in other for w in versions[v]})
            problems.append(
                _problem(
                    recipe,
                    "C001",
                    "project.version",
                    f"the set holds {project} {', '.join(other)} beside the pinned {pinned} "
                    f"({', '.join(wheels)})",
                    "IPWHL is singly-versioned: rebuild the stale wheels from this recipe "
                    "(`ipwhl build`), or fix a recipe whose sdist builds another version",
                )
            )
    return problems


def built_platforms(view: SetView) -> set[str]:
    return {w.platform for w in view.wheels}


def check_wheels(view: SetView, platforms: Iterable[Platform]) -> list[Problem]:
    """C010-C012: on each platform exactly one wheel of each project would install."""
    problems = []
    by_name: dict[str, set[str]] = {}
    unique: dict[str, WheelFacts] = {}
    for wheel in view.wheels:
        by_name.setdefault(wheel.filename, set()).add(wheel.sha256)
        unique.setdefault(wheel.filename, wheel)
    for filename, shas in sorted(by_name.items()):
        if len(shas) > 1:
            recipe = view.recipes.get(unique[filename].project)
            if recipe is not None:
                problems.append(
                    _problem(
                        recipe,
                        "C012",
                        "(wheel)",
                        f"{filename} exists with {len(shas)} different contents",
                        "one file name, one content: make the builds agree (`ipwhl verify`) "
                        "or drop the stale records",
                    )
                )
    built = built_platforms(view)
    tagged = [(w, _wheel_tags(w.filename)) for w in unique.values()]
    for platform in platforms:
        supported = supported_tags(platform)
        serving: dict[str, list[str]] = {}
        for wheel, wheel_tags in tagged:
            if wheel_tags & supported:
                serving.setdefault(wheel.project, []).append(wheel.filename)
        for recipe in sorted(view.recipes.values(), key=lambda r: r.name):
            if not recipe.selects(platform.id):
                continue
            files = sorted(serving.get(recipe.name, []))
            if len(files) > 1:
                problems.append(
                    _problem(
                        recipe,
                        "C011",
                        "build.pure" if any("none-any" in f for f in files) else "(wheel tags)",
                        f"{len(files)} wheels would install on {platform.id}: {', '.join(files)}",
                        "exactly one wheel per platform: a pure wheel serves every platform "
                        "and an abi3 wheel every later interpreter, so build one kind only "
                        "(`pure`, or the same tag scheme on every interpreter)",
                    )
                )
            elif not files and platform.id in built:
                problems.append(
                    _problem(
                        recipe,
                        "C010",
                        "(wheel)",
                        f"no current wheel of {recipe.name} {recipe.version} for {platform.id}",
                        f"run `ipwhl build {recipe.name} --platform {platform.id}`",
                    )
                )
    return problems


@dataclass(frozen=True, kw_only=True)
class _Parsed:
    requirements: tuple[Requirement, ...]
    requires_python: SpecifierSet | None
    extras: frozenset[str]
    source: WheelFacts


@cache
def _evaluate(marker: str, platform: Platform, extra: str) -> bool:
    env = platform.marker_environment()
    env["extra"] = extra
    return Marker(marker).evaluate(env)


def _applies(req: Requirement, platform: Platform, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    text = str(req.marker)
    return any(_evaluate(text, platform, e) for e in ("", *sorted(extras)))


def _parse(wheel: WheelFacts, recipe: Recipe, problems: list[Problem]) -> _Parsed:
    reqs = []
    for text in wheel.requires_dist:
        try:
            reqs.append(Requirement(text))
        except InvalidRequirement as e:
            problems.append(
                _problem(recipe, "C020", "Requires-Dist", f"{wheel.filename}: {e}", "fix upstream")
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
            f"dependencies on {_globbed(borrowing)} were checked with the Requires-Dist of "
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
        on = f"on {_globbed(ids)}"
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
    if meta.requires_python is not None and not meta.requires_python.contains(
        python, prereleases=True
    ):
        problems.append(
            _problem(
                recipe,
                "C024",
                "project.version",
                f"{meta.source.filename} requires Python {meta.requires_python}, "
                "which excludes the interpreter {on}",
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
                _problem(
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
                _problem(
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
                _problem(
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
                    _problem(
                        recipe,
                        "C023",
                        "Requires-Dist",
                        f"{name} needs {dep}[{extra}] {where}; {dep} {target.version} has no "
                        f"extra {extra!r} (it has: {', '.join(sorted(provided)) or 'none'})",
                        f"pick releases of {name} and {dep} that agree on the extra",
                    )
                )
    return problems


def _interpreters(recipe: Recipe, view: SetView) -> dict[str, Platform]:
    """interpreter tag -> one platform of it, for the builds this recipe has."""
    found: dict[str, Platform] = {}
    for platform in sorted(view.platforms.values(), key=lambda p: p.id):
        if recipe.pure and not platform.builds_pure:
            continue  # a pure wheel is built once, on the pure platform
        if recipe.selects(platform.id):
            found.setdefault(platform.interpreter, platform)
    return found


def check_build_requirements(view: SetView, unchecked: list[str]) -> list[Problem]:
    """C030-C031: each recipe's build requirements are pinned by the lock of every
    interpreter it is built with."""
    problems: list[Problem] = []
    no_sdist = []
    failing: dict[tuple[str, str, str], list[str]] = {}
    for interpreter, lock in sorted(view.locks.items()):
        if lock is None:
            problems.append(
                Problem(
                    code="C030",
                    file=view.locks_dir / f"{interpreter}.txt",
                    field="(file)",
                    message=f"no build lock for {interpreter}",
                    fix="run `nox -s lock` (ipwhl build-lock) and commit locks/",
                )
            )
    for recipe in sorted(view.recipes.values(), key=lambda r: r.name):
        from_sdist = view.build_requires.get(recipe.name)
        if from_sdist is None:
            no_sdist.append(recipe.name)
        texts = [*(from_sdist or ()), *recipe.requires]
        for interpreter, platform in _interpreters(recipe, view).items():
            lock = view.locks.get(interpreter)
            if lock is None:
                continue
            wanted = []
            for text in texts:
                req = Requirement(text)
                if canonicalize_name(req.name) in recipe.depends:
                    continue  # built by the farm first, not taken from the lock
                if req.marker is None or _evaluate(str(req.marker), platform, ""):
                    wanted.append(req)
            try:
                lock.closure(wanted, who=recipe.name)
            except LockError as e:
                # One problem per requirement, naming its locks, not one per interpreter.
                text = e.message.split(": ", 1)[-1].replace(str(lock.path), "{lock}")
                failing.setdefault((recipe.name, text, e.fix), []).append(interpreter)
    for (name, text, fix), interpreters in failing.items():
        locks = ", ".join(f"locks/{i}.txt" for i in sorted(interpreters, key=_interp_key))
        problems.append(
            _problem(
                view.recipes[name], "C031", "build.requires", text.replace("{lock}", locks), fix
            )
        )
    if no_sdist:
        unchecked.append(
            f"[build-system] requires not read (sdist not in the cache): {', '.join(no_sdist)}; "
            "`ipwhl build-lock` downloads them"
        )
    return problems


def check_licenses(view: SetView, unchecked: list[str]) -> list[Problem]:
    """C040-C041: every SPDX id is on the allowlist; the wheels carry license files."""
    problems = []
    allow = view.allowlist
    for recipe in sorted(view.recipes.values(), key=lambda r: r.name):
        ids, exceptions = license_ids(recipe.license)
        bad = [i for i in ids if i not in allow.licenses]
        bad += [e for e in exceptions if e not in allow.exceptions]
        if bad:
            problems.append(
                _problem(
                    recipe,
                    "C040",
                    "project.license",
                    f"{', '.join(bad)} (in {recipe.license!r}) is not on the free-software "
                    "allowlist",
                    f"IPWHL carries only free software: if it is OSI-approved or FSF-free, "
                    f"add it to {allow.path.name} citing the SPDX list; else drop the recipe",
                )
            )
    seen = set()
    for wheel in view.wheels:
        owner = view.recipes.get(wheel.project)
        if owner is None or wheel.filename in seen:
            continue
        seen.add(wheel.filename)
        if not wheel.license_files:
            problems.append(
                _problem(
                    owner,
                    "C041",
                    "(wheel)",
                    f"{wheel.filename} carries no license file (.dist-info/licenses/ or "
                    "LICENSE*/COPYING* in .dist-info/)",
                    "the license requires its text to travel with the code: add a patch "
                    f"under recipes/patches/{recipe.name}/ declaring license-files, and ask "
                    "upstream to ship it",
                )
            )
    if not view.wheels:
        unchecked.append("license files: no wheels built")
    return problems


def check_names(view: SetView) -> list[Problem]:
    """C050-C051: near-duplicate names need an explicit `confusable-with`."""
    problems = []
    declared = {name: recipe.confusable_with for name, recipe in view.recipes.items()}
    for clash in names.clashes(declared):
        recipe = view.recipes[clash.name]
        what = "the well-known project" if clash.well_known else "the project in the set"
        problems.append(
            _problem(
                recipe,
                "C051" if clash.well_known else "C050",
                "project.confusable-with",
                f"{clash.name!r} is easily mistaken for {what} {clash.other!r}",
                f"check that {clash.name} is the project you mean (not a typosquat of "
                f"{clash.other}), then add confusable-with = [{clash.other!r}]",
            )
        )
    return problems


def check(view: SetView, platforms: Iterable[Platform] | None = None) -> Report:
    """Every gate over the set; `platforms` limits the per-platform gates."""
    chosen = sorted(view.platforms.values() if platforms is None else platforms, key=lambda p: p.id)
    unchecked: list[str] = []
    problems = check_versions(view)
    problems += check_wheels(view, chosen)
    problems += check_closure(view, chosen, unchecked)
    problems += check_build_requirements(view, unchecked)
    problems += check_licenses(view, unchecked)
    problems += check_names(view)
    built = built_platforms(view)
    unbuilt = [p.id for p in chosen if p.id not in built]
    if unbuilt:
        unchecked.insert(
            0,
            f"no wheels for {len(unbuilt)} platforms ({_globbed(unbuilt)}): missing wheels "
            "and license files not checked there",
        )
    unique = {(p.code, str(p.file), p.field, p.message): p for p in problems}
    ordered = sorted(unique.values(), key=lambda p: (str(p.file), p.code, p.field, p.message))
    return Report(problems=tuple(ordered), unchecked=tuple(unchecked))


def _interp_key(interpreter: str) -> tuple[int, str]:
    return (len(interpreter), interpreter)


def _globbed(ids: Iterable[str]) -> str:
    """`macos-arm64-{cp39,cp310}` for ids sharing os and arch: short enough for one line."""
    groups: dict[str, list[str]] = {}
    for platform_id in ids:
        prefix, interpreter = platform_id.rsplit("-", 1)
        groups.setdefault(prefix, []).append(interpreter)
    parts = []
    for prefix, interps in sorted(groups.items()):
        interps = sorted(set(interps), key=_interp_key)
        parts.append(
            f"{prefix}-{interps[0]}" if len(interps) == 1 else f"{prefix}-{{{','.join(interps)}}}"
        )
    return ", ".join(parts)
