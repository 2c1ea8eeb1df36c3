"""What the whole-set gates look at, and the helpers they share: values only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from builder.curation.licenses import Allowlist
from builder.errors import Problem
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
    machine_traces: tuple[str, ...] = ()  # what of the build machine its ELF files name
    glibc: tuple[int, int] = (0, 0)  # the newest glibc symbol version it needs
    cxx_runtime: tuple[str, ...] = ()  # C++ runtime symbols it shares with the process

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True, kw_only=True)
class SetView:
    """Everything the gates look at. `build_requires` is None for a project whose sdist
    is not at hand; `locks` maps (recipe, interpreter tag) to its lock, None when absent."""

    recipes: Mapping[str, Recipe]
    platforms: Mapping[str, Platform]
    wheels: tuple[WheelFacts, ...]
    build_requires: Mapping[str, tuple[str, ...] | None]
    locks: Mapping[tuple[str, str], Lock | None]
    locks_dir: Path
    allowlist: Allowlist
    keep: frozenset[str] = frozenset()  # policy.toml's [python] keep: lines past their end
    # platform id -> the exact CPython version its root ships (Debian 12's is 3.11.2):
    # Requires-Python is held against it, not against the line's newest patch release.
    python_full_versions: Mapping[str, str] = field(default_factory=dict)


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
    if platform.implementation == "cpython":
        found = set(tags.cpython_tags(version, abis=[interp], platforms=plats))
    else:  # PyPy takes its own abi only: no abi3, no `none` for its interpreter tag
        found = set(tags.generic_tags(interp, abis=[platform.abi], platforms=plats))
    found |= set(tags.compatible_tags(version, interp, plats))
    return frozenset(found)


def wheel_tags(filename: str) -> frozenset[tags.Tag]:
    return parse_wheel_filename(filename)[3]


def recipe_problem(recipe: Recipe, code: str, fld: str, message: str, fix: str) -> Problem:
    return Problem(code=code, file=recipe.path, field=fld, message=message, fix=fix)


def interp_key(interpreter: str) -> tuple[int, str]:
    return (len(interpreter), interpreter)


def globbed(ids: Iterable[str]) -> str:
    """`macos-arm64-{cp39,cp310}` for ids sharing os and arch: short enough for one line."""
    groups: dict[str, list[str]] = {}
    for platform_id in ids:
        prefix, interpreter = platform_id.rsplit("-", 1)
        groups.setdefault(prefix, []).append(interpreter)
    parts = []
    for prefix, interps in sorted(groups.items()):
        interps = sorted(set(interps), key=interp_key)
        parts.append(
            f"{prefix}-{interps[0]}" if len(interps) == 1 else f"{prefix}-{{{','.join(interps)}}}"
        )
    return ", ".join(parts)
