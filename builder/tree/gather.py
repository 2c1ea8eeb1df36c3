"""Read what the tree needs from the store and the farm: the only part that reads files."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from builder.errors import AssembleError
from builder.metadata import Metadata
from builder.model.farm import Farm
from builder.model.platform import Platform
from builder.model.recipe import Recipe
from builder.pipeline import rust
from builder.pipeline.collection import Collection
from builder.pipeline.store import Store
from builder.tree.model import FileSource, Inputs, Sources, Wheel
from builder.tree.upstream import farm_file_paths, upstream_changes


def select_platforms(farm: Farm, globs: Iterable[str] = ()) -> list[Platform]:
    patterns = list(globs)
    chosen = [
        p
        for p in farm.platforms.values()
        if not patterns or any(fnmatch.fnmatchcase(p.id, g) for g in patterns)
    ]
    if not chosen:
        raise AssembleError(
            f"no platform matches {', '.join(patterns)}",
            fix=f"use globs over the ids in {farm.root / 'platforms'}, e.g. 'linux-*'",
        )
    return sorted(chosen, key=lambda p: p.id)


def _find_sdist(recipe: Recipe, store: Store, cache: Path | None) -> FileSource:
    candidates = [store.blob(recipe.sha256)]
    if cache is not None:
        candidates.append(cache / "sdists" / recipe.sha256 / recipe.sdist_filename)
    for path in candidates:
        if path.is_file():
            return FileSource(path=path, sha256=recipe.sha256)
    raise AssembleError(
        f"the sdist of {recipe.name} ({recipe.sdist_filename}, sha256 {recipe.sha256}) is "
        "in neither the store nor the download cache",
        fix=f"run `ipwhl build {recipe.name}` here (it fetches sdists into the store), or "
        "pass the --cache that holds it",
    )


def _library_sources(farm: Farm, wheels: Iterable[Wheel], cache: Path | None) -> dict[str, bytes]:
    """The source tarballs of the native libraries the wheels link (their records name
    them), so that the tree alone is enough to rebuild them."""
    used = sorted(
        {
            key.removeprefix("library ")
            for wheel in wheels
            for key in wheel.record.inputs.get("toolchain", {})
            if key.startswith("library ")
        }
    )
    found = {}
    for name in used:
        library = farm.libraries.get(name)
        path = (
            cache / "libraries" / library.sha256 / library.source_filename
            if library is not None and cache is not None
            else None
        )
        if library is None or path is None or not path.is_file():
            raise AssembleError(
                f"the source of library {name}, which current wheels link, is not at hand",
                fix="run `ipwhl build` here (it fetches library sources into the cache), "
                "or pass the --cache that holds it",
            )
        found[f"library-sources/{library.sha256}/{library.source_filename}"] = path.read_bytes()
    return found


def _crate_sources(sources: dict[str, Sources], cache: Path | None) -> dict[str, bytes]:
    """The crates of each Rust recipe's Cargo.lock, as its builds fetched them, so that
    the tree alone rebuilds it with no registry at hand."""
    found = {}
    for project, source in sorted(sources.items()):
        if not source.recipe.rust:
            continue
        for crate in rust.sdist_crates(source.sdist.path):
            path = rust.cached(crate, cache or Path("/nonexistent"))
            if cache is None or not path.is_file():
                raise AssembleError(
                    f"crate {crate.name} {crate.version} of {project}'s Cargo.lock is not "
                    "in the download cache",
                    fix=f"run `ipwhl build {project}` here (it fetches the crates into the "
                    "cache), or pass the --cache that holds them",
                )
            found[path.relative_to(cache).as_posix()] = path.read_bytes()
    return found


def gather(
    farm: Farm,
    store: Store,
    collection: Collection,
    platforms: Iterable[Platform],
    *,
    sdist_cache: Path | None = None,
    status: Path | None = None,
) -> Inputs:
    ids = tuple(sorted(p.id for p in platforms))
    chosen = set(ids)
    wheels: dict[tuple[str, str], Wheel] = {}
    metadata: dict[str, tuple[bytes, str | None]] = {}  # a pure wheel is read once
    for key, record in sorted(collection.wheels.items()):
        if key[1] not in chosen:
            continue
        blob = store.blob(record.wheel_sha256)
        if record.wheel_sha256 not in metadata:
            # The store keeps each wheel's METADATA by sha256: a cached run read it.
            raw = store.wheel_metadata(record.wheel_sha256)
            metadata[record.wheel_sha256] = (raw, Metadata.parse(raw).requires_python)
        raw, requires = metadata[record.wheel_sha256]
        wheels[key] = Wheel(
            record=record,
            blob=FileSource(path=blob, sha256=record.wheel_sha256),
            metadata=raw,
            requires_python=requires,
        )
    sources: dict[str, Sources] = {}
    for project in sorted({p for p, _ in wheels}):
        recipe = farm.recipes.get(project)
        if recipe is None:
            raise AssembleError(
                f"{project} has current wheels but no recipe",
                fix="this is a bug in builder.collection; report it",
            )
        sources[project] = Sources(
            recipe=recipe,
            recipe_bytes=recipe.path.read_bytes(),
            patches=tuple(sorted((p.path.name, p.path.read_bytes()) for p in recipe.patches)),
            sdist=_find_sdist(recipe, store, sdist_cache),
        )
    missing = {k: why for k, why in collection.missing.items() if k[1] in chosen}
    farm_files = {r: (farm.root / r).read_bytes() for r in farm_file_paths(farm.root)}
    farm_files |= _library_sources(farm, wheels.values(), sdist_cache)
    farm_files |= _crate_sources(sources, sdist_cache)
    status_files = {}
    if status is not None:
        status_files = {
            path.relative_to(status).as_posix(): path.read_bytes()
            for path in sorted(status.rglob("*"))
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(status).parts)
        }
    return Inputs(
        platforms=ids, wheels=wheels, sources=sources, missing=missing,
        farm_files=farm_files, status_files=status_files,
        upstream=upstream_changes(farm),
    )  # fmt: skip
