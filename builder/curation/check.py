"""The whole-set gates: what must hold for the set of recipes and wheels as one.

Pure functions over values (recipes, platforms, facts read from wheels, locks): no disk,
no network, so every gate is tested with small fixture sets. `commands/check.py` reads
the facts from the store. Every failure is a `Problem` (file, field, stable code, fix),
all reported at once; what cannot be checked (no wheels for a platform, no sdist in the
cache) is said, not passed over.

Codes: C001 versions; C010-C013 wheels per platform; C020-C024 runtime closure;
C030-C031 build requirements; C040-C041 licenses; C050-C051 names; C060-C061 interpreter
lifecycles (builder/data/pythons.toml).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from builder.curation import names
from builder.curation.closure import check_closure, evaluate
from builder.curation.facts import (
    Report,
    SetView,
    WheelFacts,
    globbed,
    interp_key,
    recipe_problem,
    supported_tags,
    wheel_tags,
)
from builder.curation.licenses import license_ids
from builder.errors import LockError, Problem
from builder.model import pythons
from builder.model.lock import apply_overrides
from builder.model.platform import Platform
from builder.model.recipe import Recipe


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
                recipe_problem(
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
    """C010-C013: on each platform exactly one wheel of each project would install, and it
    passed its build and test there."""
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
                    recipe_problem(
                        recipe,
                        "C012",
                        "(wheel)",
                        f"{filename} exists with {len(shas)} different contents",
                        "one file name, one content: make the builds agree (`ipwhl verify`) "
                        "or drop the stale records",
                    )
                )
    built = built_platforms(view)
    tagged = [(w, wheel_tags(w.filename)) for w in unique.values()]
    tested = {(w.filename, w.platform) for w in view.wheels}
    for platform in platforms:
        supported = supported_tags(platform)
        serving: dict[str, list[str]] = {}
        for wheel, tags_of_wheel in tagged:
            if tags_of_wheel & supported:
                serving.setdefault(wheel.project, []).append(wheel.filename)
        for recipe in sorted(view.recipes.values(), key=lambda r: r.name):
            files = sorted(serving.get(recipe.name, []))
            untested = [f for f in files if (f, platform.id) not in tested]
            if len(files) == 1 and untested and platform.id in built:
                # The root index is one index for every platform: pip there takes this
                # wheel by its tags, whether or not it was ever tested there.
                problems.append(
                    recipe_problem(
                        recipe,
                        "C013",
                        "(wheel)",
                        f"{files[0]} would install on {platform.id} from the root index, "
                        f"but it has not passed its build and test there",
                        f"run `ipwhl build {recipe.name} --platform {platform.id}` and make it "
                        "pass (its log says what failed); a wheel must be tested wherever its "
                        "tags let pip install it",
                    )
                )
            if not recipe.selects(platform.id):
                continue
            if len(files) > 1:
                problems.append(
                    recipe_problem(
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
                    recipe_problem(
                        recipe,
                        "C010",
                        "(wheel)",
                        f"no current wheel of {recipe.name} {recipe.version} for {platform.id}",
                        f"run `ipwhl build {recipe.name} --platform {platform.id}`",
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
    for (name, interpreter), lock in sorted(view.locks.items()):
        if lock is None:
            problems.append(
                Problem(
                    code="C030",
                    file=view.locks_dir / name / f"{interpreter}.txt",
                    field="(file)",
                    message=f"no build lock of {name} for {interpreter}",
                    fix=f"run `ipwhl build-lock {name}` and commit locks/{name}/",
                )
            )
    for recipe in sorted(view.recipes.values(), key=lambda r: r.name):
        from_sdist = view.build_requires.get(recipe.name)
        if from_sdist is None:
            no_sdist.append(recipe.name)
        asked = [Requirement(t) for t in (*(from_sdist or ()), *recipe.requires)]
        asked = apply_overrides(asked, [Requirement(t) for t in recipe.overrides])
        for interpreter, platform in _interpreters(recipe, view).items():
            lock = view.locks.get((recipe.name, interpreter))
            if lock is None:
                continue
            wanted = []
            for req in asked:
                if canonicalize_name(req.name) in recipe.depends:
                    continue  # built by the farm first, not taken from the lock
                if req.marker is None or evaluate(str(req.marker), platform, ""):
                    wanted.append(req)
            try:
                lock.closure(wanted, who=recipe.name)
            except LockError as e:
                # One problem per requirement, naming its locks, not one per interpreter.
                text = e.message.split(": ", 1)[-1].replace(str(lock.path), "{lock}")
                failing.setdefault((recipe.name, text, e.fix), []).append(interpreter)
    for (name, text, fix), interpreters in failing.items():
        locks = ", ".join(f"locks/{name}/{i}.txt" for i in sorted(interpreters, key=interp_key))
        problems.append(
            recipe_problem(
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
                recipe_problem(
                    recipe,
                    "C040",
                    "project.license",
                    f"{', '.join(bad)} (in {recipe.license!r}) is not on the free-software "
                    "allowlist",
                    "IPWHL carries only free software: if it is OSI-approved or FSF-free, "
                    "add it to builder/data/licenses.toml citing the SPDX list; else drop "
                    "the recipe (a derived set may allow it in its own policy.toml)",
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
                recipe_problem(
                    owner,
                    "C041",
                    "(wheel)",
                    f"{wheel.filename} carries no license file (.dist-info/licenses/ or "
                    "LICENSE*/COPYING* in .dist-info/)",
                    "the license requires its text to travel with the code: add a patch "
                    f"under recipes/patches/{owner.name}/ declaring license-files, and ask "
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
            recipe_problem(
                recipe,
                "C051" if clash.well_known else "C050",
                "project.confusable-with",
                f"{clash.name!r} is easily mistaken for {what} {clash.other!r}",
                f"check that {clash.name} is the project you mean (not a typosquat of "
                f"{clash.other}), then add confusable-with = [{clash.other!r}]",
            )
        )
    return problems


def check_interpreters(view: SetView, today: datetime.date) -> list[Problem]:
    """The set builds the interpreter lines alive today (builder/data/pythons.toml): no
    platform of a line past its end of life unless policy.toml keeps it, and every live
    line on each OS and arch the set builds for."""
    problems = []
    tags = {(p.os, p.arch, p.interpreter) for p in view.platforms.values()}
    for platform in sorted(view.platforms.values(), key=lambda p: p.id):
        line = pythons.line_of(platform.interpreter)
        if line is None or line.end_of_life >= today or line.version in view.keep:
            continue
        problems.append(Problem(
            code="C060", file=platform.path, field="interpreter",
            message=f"{line.implementation} {line.version} reached its end of life on "
            f"{line.end_of_life} (builder/data/pythons.toml): the set no longer builds it",
            fix=f"remove this platform file (and the other {platform.interpreter} ones, and "
            f"locks/{platform.interpreter}.txt); a derived set that must keep it says so in "
            f'policy.toml: [python] keep = ["{line.version}"]',
        ))  # fmt: skip
    for os_, arch in sorted({(os_, arch) for os_, arch, _ in tags}):
        for line in pythons.lines():
            if not line.alive(today) or (os_, arch, line.tag) in tags:
                continue
            if not any(t.startswith(line.tag[:2]) for o, a, t in tags if (o, a) == (os_, arch)):
                continue  # an implementation the set does not build there at all
            name = f"{os_}-{arch}-{line.tag}"
            problems.append(Problem(
                code="C061", file=next(iter(view.platforms.values())).path.parent / f"{name}.toml",
                field="interpreter",
                message=f"{line.implementation} {line.version} is alive (released "
                f"{line.released}, end of life {line.end_of_life}) but no platform builds it "
                f"on {os_} {arch}",
                fix=f"add platforms/{name}.toml (copy another {os_}-{arch} one, interpreter = "
                f'"{line.tag}") and its lock: ipwhl lock',
            ))  # fmt: skip
    return problems


def _elf_findings(
    view: SetView, code: str, found: Callable[[WheelFacts], tuple[str, ...]], what: str, fix: str
) -> list[Problem]:
    """One problem per distinct wheel whose ELF files `found` something in: the first
    three findings, and how many more."""
    problems = []
    seen = set()
    for wheel in sorted(view.wheels, key=lambda w: w.filename):
        recipe = view.recipes.get(wheel.project)
        findings = found(wheel)
        if recipe is None or not findings or wheel.sha256 in seen:
            continue
        seen.add(wheel.sha256)
        more = len(findings) - 3
        problems.append(recipe_problem(
            recipe, code, "(wheel)",
            f"{wheel.filename} {what}: " + "; ".join(findings[:3])
            + (f" (and {more} more)" if more > 0 else ""),
            fix,
        ))  # fmt: skip
    return problems


def check_machine_traces(view: SetView) -> list[Problem]:
    """C070: no ELF file of any wheel names a search path or a path of the machine that
    built it (such a wheel differs on every other machine, or works only on this one)."""
    return _elf_findings(
        view, "C070", lambda w: w.machine_traces, "names its build machine",
        "build it with the pinned toolchain (toolchain = \"zig\" in its platform file); "
        "a path that stays comes from the sdist's build: strip it with build.env flags",
    )  # fmt: skip


def check_glibc(view: SetView) -> list[Problem]:
    """C071: no wheel needs a newer glibc than its platform's manylinux policy promises
    (what a user of an older distribution would find only when the import fails)."""
    problems = []
    for wheel in sorted(view.wheels, key=lambda w: (w.filename, w.platform)):
        platform = view.platforms.get(wheel.platform)
        recipe = view.recipes.get(wheel.project)
        policy = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", platform.policy) if platform else None
        if recipe is None or policy is None or platform is None:
            continue
        promised = (int(policy[1]), int(policy[2]))
        if wheel.glibc > promised:
            problems.append(recipe_problem(
                recipe, "C071", "(wheel)",
                f"{wheel.filename} needs glibc {wheel.glibc[0]}.{wheel.glibc[1]} on "
                f"{platform.id}, which promises {platform.policy}",
                f"rebuild it with the pinned toolchain (toolchain = \"zig\" in {platform.path})",
            ))  # fmt: skip
    return problems


def check_cxx_runtime(view: SetView) -> list[Problem]:
    """C072: a wheel that carries its own C++ runtime keeps that runtime's ABI to itself
    (next to a PyPI wheel that uses the system's libstdc++, a shared `__cxa_throw` or
    `typeinfo for std::exception` mixes two runtimes in one exception)."""
    return _elf_findings(
        view, "C072", lambda w: w.cxx_runtime, "shares its static C++ runtime's symbols",
        "build it with the pinned toolchain (toolchain = \"zig\" in its platform file), "
        "whose libc++ is linked with hidden visibility; if it already is, the symbols are "
        "libc++'s inline functions compiled into the project (zig's headers carry no "
        "visibility annotations): add -fvisibility=hidden -fvisibility-inlines-hidden "
        "to CXXFLAGS in the recipe's build.env",
    )  # fmt: skip


def check(
    view: SetView,
    platforms: Iterable[Platform] | None = None,
    *,
    today: datetime.date | None = None,
) -> Report:
    """Every gate over the set; `platforms` limits the per-platform gates; `today`, when
    given, checks the interpreter lines against their lifecycles."""
    chosen = sorted(view.platforms.values() if platforms is None else platforms, key=lambda p: p.id)
    unchecked: list[str] = []
    problems = check_versions(view)
    if today is not None:
        problems += check_interpreters(view, today)
    problems += check_wheels(view, chosen)
    problems += check_closure(view, chosen, unchecked)
    problems += check_build_requirements(view, unchecked)
    problems += check_licenses(view, unchecked)
    problems += check_names(view)
    problems += check_machine_traces(view)
    problems += check_cxx_runtime(view)
    problems += check_glibc(view)
    built = built_platforms(view)
    unbuilt = [p.id for p in chosen if p.id not in built]
    if unbuilt:
        unchecked.insert(
            0,
            f"no wheels for {len(unbuilt)} platforms ({globbed(unbuilt)}): missing wheels "
            "and license files not checked there",
        )
    unique = {(p.code, str(p.file), p.field, p.message): p for p in problems}
    ordered = sorted(unique.values(), key=lambda p: (str(p.file), p.code, p.field, p.message))
    return Report(problems=tuple(ordered), unchecked=tuple(unchecked))
