"""The collection: for each recipe and platform, the one stored wheel that is current.

A record is current when it was made from the recipe, platform file, sdist and patches
as they are now, with build requirements the recipe's current lock still pins, the
set's own wheels of the current versions where the set holds the pinned version. This needs no
interpreter, so records built elsewhere (CI runners of other OSes) are selected the
same way as ours. Two current records with different wheels for one (project,
platform) is an error, never a silent choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.errors import IpwhlError
from builder.model.farm import Farm
from builder.model.lock import Lock, read_lock_once
from builder.model.platform import Platform, ToolchainName
from builder.model.recipe import Recipe
from builder.pipeline import bootstrap
from builder.pipeline.backends import backend_for
from builder.pipeline.bootstrap import BackendsFrom
from builder.pipeline.plan import build_platform
from builder.pipeline.store import Record, Store


@dataclass(frozen=True, kw_only=True)
class Collection:
    wheels: dict[tuple[str, str], Record]  # (project, platform id) -> record
    missing: dict[tuple[str, str], str]  # (project, platform id) -> why

    def projects(self) -> list[str]:
        return sorted({project for project, _ in self.wheels})


def _is_current_build(record: Record, recipe: Recipe, lock: Lock | None) -> bool:
    inputs = record.inputs
    patches = {p.path.name: p.sha256 for p in recipe.patches}
    used = set(inputs.get("build-requirements", []))
    return (
        inputs.get("kind") == "build"
        and inputs.get("sdist") == recipe.sha256
        and inputs.get("patches") == patches
        and (lock is None or used <= {p.line() for p in lock.pins.values()})
    )


def _built_with_current_backends(
    record: Record,
    recipe: Recipe,
    platform: Platform,
    farm: Farm,
    lock: Lock | None,
    made: dict[str, set[tuple[str, str]]],
) -> bool:
    """A wheel is current only if built the way the farm builds now: with the set's own
    wheel for every pin the set holds (not PyPI's, as `--backends-from pypi` does), each
    of them a wheel of the recipe's current version, built from its recipe as it is now
    (`made`: sha256 -> (project, version) of the store's records)."""
    own = set(
        bootstrap.own_backends(recipe, lock, farm.recipes)
        if lock is not None and bootstrap.installs_own(platform, BackendsFrom.SET)
        else ()
    )
    from_pypi = {line.split("==", 1)[0] for line in record.inputs.get("build-requirements", [])}
    if from_pypi & own:
        return False
    depends = record.inputs.get("build-depends", {})
    return all(
        (name in own or name in recipe.depends)
        and name in farm.recipes
        and (name, str(farm.recipes[name].version)) in made.get(sha, set())
        for name, sha in depends.items()
    )


def _built_with_current_toolchain(
    record: Record, recipe: Recipe, platform: Platform, farm: Farm
) -> bool:
    """A wheel the pinned zig made is current only with the toolchain the farm would
    use now: the same zig, target, headers and native libraries (a library file changed
    is a recipe changed). Seen: pillow's aarch64 wheels from before and after the
    root's glibc headers were hidden differ, and both were "current". A route that
    names no zig (the host's gcc, cibuildwheel) is judged by its bytes, like any other
    toolchain."""
    described = record.inputs.get("toolchain")
    if not isinstance(described, dict) or "zig" not in described:
        return True
    if platform.toolchain is not ToolchainName.ZIG:
        return False
    return described == backend_for(platform).toolchain(recipe, platform, farm.libraries)


def current(farm: Farm, store: Store) -> Collection:
    by_job: dict[tuple[str, str], list[Record]] = {}
    for record in store.records():
        by_job.setdefault((record.project, record.platform), []).append(record)
    wheels: dict[tuple[str, str], Record] = {}
    missing: dict[tuple[str, str], str] = {}
    locks: dict[Path, Lock | None] = {}
    made: dict[str, set[tuple[str, str]]] = {}
    for found in by_job.values():
        for record in found:
            # A backend's wheel counts only when built from its recipe as it is now: a
            # wheel of the same version from an older recipe (maturin before its `sbom`
            # feature) would leave the builds it made current beside their rebuilds.
            own = farm.recipes.get(record.project)
            if own is None or record.inputs.get("recipe") == own.file_sha256:
                made.setdefault(record.wheel_sha256, set()).add((record.project, record.version))
    pure = farm.pure_platform
    every = list(farm.platforms.values())
    for recipe in sorted(farm.recipes.values(), key=lambda r: r.name):
        selected = [p for p in every if recipe.selects(p.id) or (recipe.pure and p == pure)]
        bases = {p.id: build_platform(recipe, p, every, pure) for p in selected}
        # The platforms a wheel is built on first: the others are current only if they
        # reuse exactly that wheel.
        for platform in sorted(selected, key=lambda p: (bases[p.id] != p, p.id)):
            key = (recipe.name, platform.id)
            candidates = [
                r
                for r in by_job.get(key, [])
                if r.version == str(recipe.version)
                and r.inputs.get("recipe") == recipe.file_sha256
                and r.inputs.get("platform") == platform.file_sha256
                and store.has_blob(r.wheel_sha256)
            ]
            base = bases[platform.id]
            if base != platform:
                source = wheels.get((recipe.name, base.id))
                candidates = [
                    r
                    for r in candidates
                    if source is not None and r.inputs.get("wheel") == source.wheel_sha256
                ]
            else:
                path = farm.lock_path(recipe.name, platform.interpreter)
                lock = read_lock_once(path, locks)
                candidates = [
                    r
                    for r in candidates
                    if _is_current_build(r, recipe, lock)
                    and _built_with_current_toolchain(r, recipe, platform, farm)
                    and _built_with_current_backends(r, recipe, platform, farm, lock, made)
                ]
            shas = sorted({r.wheel_sha256 for r in candidates})
            if not candidates:
                missing[key] = "not built from the current recipe, platform and lock"
            elif len(shas) > 1:
                names = ", ".join(f"{r.wheel} ({r.wheel_sha256[:12]})" for r in candidates)
                raise IpwhlError(
                    f"{recipe.name} on {platform.id} has {len(shas)} different current "
                    f"wheels: {names}",
                    fix="the build is not reproducible across these toolchains; run "
                    "`ipwhl verify` to see why, and remove the stale records",
                )
            else:
                wheels[key] = min(candidates, key=lambda r: r.input_hash)
    return Collection(wheels=wheels, missing=missing)
