"""Seed a store from a published tree: its wheels and build records become cache hits.

Every build record of a tree is in its `manifest.json`, and every wheel and sdist is in
the tree itself; `published.open_published` has checked each block against its CID and
each file against the manifest. A seeded record is only trusted for what it claims: its
input hash must be the hash of its inputs, so a job runs from the seed only when this
farm computes exactly those inputs for it. Anything else is built.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.atomic import atomic_path
from builder.errors import TamperedError
from builder.pipeline.store import Record, Store, input_hash
from builder.tree.layout import FARM_DIR, SOURCES_DIR
from builder.tree.published import Published


@dataclass(frozen=True, kw_only=True)
class Seeded:
    added: int  # records new to the store
    present: int  # records the store already had, with the same wheel
    conflicts: tuple[str, ...]  # same inputs, another wheel: the store's is kept
    sdists: int  # sdists copied into the download cache


def published_records(manifest: dict[str, Any], where: str) -> list[Record]:
    """The build records a manifest holds, each checked for its own consistency."""
    records = []
    for project, entry in sorted(manifest["projects"].items()):
        for platform, w in sorted(entry["platforms"].items()):
            try:
                record = Record(
                    project=project, version=entry["version"], platform=platform,
                    input_hash=w["input_hash"], inputs=w["inputs"], wheel=w["wheel"],
                    wheel_sha256=w["sha256"], wheel_size=w["size"], built_on=w["built_on"],
                    network_isolated=w["network_isolated"], tests=tuple(w["tests"]),
                    built_by=w["built_by"],
                )  # fmt: skip
            except (KeyError, TypeError) as e:
                raise TamperedError(
                    f"{where}: the record of {project} on {platform} lacks {e}",
                    fix="the tree was assembled by an older farm; seed from a tree "
                    "assembled by this one",
                ) from e
            if input_hash(record.inputs) != record.input_hash:
                raise TamperedError(
                    f"{where}: the record of {project} on {platform} names input hash "
                    f"{record.input_hash}, but its inputs hash to {input_hash(record.inputs)}",
                    fix="do not seed from this tree; it was changed after it was assembled",
                )
            records.append(record)
    return records


def _into_cache(source: Path, target: Path) -> bool:
    if target.is_file():
        return False
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return True


def seed(published: Published, store: Store, cache: Path, wanted: Callable[[str], bool]) -> Seeded:
    """Copy the wheels and records of the platforms `wanted` accepts, and every sdist and
    library source, into `store` and `cache`. Records come after their wheels, each one
    whole or absent: a seed killed midway leaves fewer records, never a half one, and
    the next seed (or build) sweeps what the killed process had in its tmp/."""
    store.clean_tmp()
    tree, manifest = published.tree, published.manifest
    records = published_records(manifest, str(tree / "manifest.json"))
    sdists = 0
    for project, entry in sorted(manifest["projects"].items()):
        sdist = entry["sdist"]
        source = tree / SOURCES_DIR / project / sdist["filename"]
        sdists += _into_cache(source, cache / "sdists" / sdist["sha256"] / sdist["filename"])
    # Library sources and crates, where a build's fetch finds them.
    for kept, into in (("library-sources", "libraries"), ("crates", "crates")):
        published_dir = tree / SOURCES_DIR / FARM_DIR / kept
        for path in sorted(published_dir.rglob("*") if published_dir.is_dir() else ()):
            if path.is_file():
                _into_cache(path, cache / into / path.relative_to(published_dir))
    # A pure wheel's record on one platform is reused from the platform that built it:
    # seed the builder's record too, or the reuse would wait on a build.
    chosen = {(r.project, r.platform) for r in records if wanted(r.platform)}
    chosen |= {(r.project, r.built_on) for r in records if (r.project, r.platform) in chosen}
    added, present, conflicts = 0, 0, []
    for record in records:
        if (record.project, record.platform) not in chosen:
            continue
        existing = store.get_record(record.input_hash)
        if existing is not None:
            if existing.wheel_sha256 == record.wheel_sha256:
                present += 1
            else:
                conflicts.append(
                    f"{record.project} on {record.platform}: the store has "
                    f"{existing.wheel_sha256[:12]}, the tree {record.wheel_sha256[:12]}"
                )
            continue
        if store.put_file(tree / record.project / record.wheel) != record.wheel_sha256:
            raise TamperedError(
                f"{record.wheel} changed while it was seeded",
                fix="seed again; nothing else may write the tree meanwhile",
            )
        store.put_record(record)
        added += 1
    return Seeded(added=added, present=present, conflicts=tuple(conflicts), sdists=sdists)
