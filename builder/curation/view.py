"""The set as the gates see it: current wheels' facts, build requirements, locks.

Read from the farm, its store and the sdist cache, once, for `ipwhl check`, `bump`
and `plan`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from builder.curation.facts import SetView, WheelFacts
from builder.curation.licenses import load_allowlist
from builder.errors import IpwhlError, MetadataError
from builder.metadata import Metadata, metadata_name
from builder.model.farm import Farm
from builder.model.lock import Lock, read_lock
from builder.model.policy import load_policy
from builder.pipeline import rooted
from builder.pipeline.collection import current
from builder.pipeline.elfcheck import (
    BUILD_MACHINE_PATHS,
    cxx_runtime_symbols,
    elf_members,
    glibc_needed,
    machine_traces,
)
from builder.pipeline.sdistfacts import memo_path, sdist_facts
from builder.pipeline.store import Record, Store

_LICENSE_NAMES = ("LICEN", "COPYING", "NOTICE", "COPYRIGHT", "AUTHORS")


def wheel_facts(path: Path, *, filename: str, sha256: str, platform: str) -> WheelFacts:
    """Read METADATA and the license file names of one wheel (central directory only)."""
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        meta_name = metadata_name(members)
        if meta_name is None:
            raise MetadataError(
                f"{filename} does not have exactly one top-level .dist-info/METADATA",
                fix="rebuild it (`ipwhl build`)",
            )
        meta = Metadata.parse(archive.read(meta_name))
    dist_info = meta_name.split("/", 1)[0] + "/"
    licenses = tuple(
        n
        for n in members
        if (n.startswith(dist_info + "licenses/") and not n.endswith("/"))
        or (
            n.count("/") == 1
            and n.startswith(dist_info)
            and n.rsplit("/", 1)[1].upper().startswith(_LICENSE_NAMES)
        )
    )
    elf = elf_members(path)  # read once for the three ELF checks
    return WheelFacts(
        filename=filename,
        sha256=sha256,
        platform=platform,
        name=meta.name,
        version=meta.version or "0",
        requires_dist=meta.requires_dist,
        requires_python=meta.requires_python or "",
        provides_extra=meta.provides_extra,
        license_files=licenses,
        machine_traces=tuple(machine_traces(elf, BUILD_MACHINE_PATHS)),
        glibc=glibc_needed(elf),
        cxx_runtime=tuple(cxx_runtime_symbols(elf)),
    )


def build_requires(farm: Farm, cache: Path) -> dict[str, tuple[str, ...] | None]:
    """[build-system] requires per recipe, from the sdist in the download cache.

    None for a recipe whose sdist is not in the cache (and was never read here).
    """
    found: dict[str, tuple[str, ...] | None] = {}
    for recipe in farm.recipes.values():
        sdist = cache / "sdists" / recipe.sha256 / recipe.sdist_filename
        known = memo_path(cache, recipe.sha256).is_file()
        found[recipe.name] = (
            sdist_facts(sdist, recipe.sha256, cache).build_requires
            if known or sdist.is_file()
            else None
        )
    return found


def gather(farm: Farm, store: Store, cache: Path) -> SetView:
    """Everything `check` looks at, read from the farm, its store and the sdist cache."""
    collection = current(farm, store)
    records: dict[str, Record] = {}
    wheels = []
    facts_by_sha: dict[str, WheelFacts] = {}
    for (_, platform_id), record in sorted(collection.wheels.items()):
        records[record.wheel_sha256] = record
        base = facts_by_sha.get(record.wheel_sha256)
        if base is None:
            base = wheel_facts(
                store.blob(record.wheel_sha256),
                filename=record.wheel,
                sha256=record.wheel_sha256,
                platform=platform_id,
            )
            facts_by_sha[record.wheel_sha256] = base
        wheels.append(
            WheelFacts(**{**base.__dict__, "platform": platform_id, "filename": record.wheel})
        )
    locks: dict[tuple[str, str], Lock | None] = {}
    for recipe in farm.recipes.values():
        for interpreter in farm.lock_interpreters(recipe):
            try:
                locks[(recipe.name, interpreter)] = read_lock(
                    farm.lock_path(recipe.name, interpreter)
                )
            except IpwhlError:
                locks[(recipe.name, interpreter)] = None
    return SetView(
        recipes=farm.recipes,
        platforms=farm.platforms,
        wheels=tuple(wheels),
        build_requires=build_requires(farm, cache),
        locks=locks,
        locks_dir=farm.locks,
        allowlist=load_allowlist(policy := load_policy(farm.root)),
        keep=policy.keep,
        python_full_versions={
            p.id: full
            for p in farm.platforms.values()
            if p.root and (full := rooted.python_full_version(p))
        },
    )
