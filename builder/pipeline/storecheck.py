"""`ipwhl store check`: re-hash everything the store holds and say what is damaged.

The store names blobs by their sha256 and records by their input hash; both names are
claims. A blob whose bytes no longer hash to its name, a record that is not valid, not
the hash of its own inputs, or names a wheel the store lacks or holds damaged, and a
kept METADATA that is not the METADATA of its wheel are each reported; `--repair`
removes them, so the jobs they stood for are built again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.errors import IpwhlError
from builder.metadata import read_metadata
from builder.pipeline.fetch import sha256_file
from builder.pipeline.store import Record, Store, input_hash, left_by_dead_runs


@dataclass(frozen=True, kw_only=True)
class Damage:
    path: Path
    what: str


@dataclass(frozen=True, kw_only=True)
class StoreReport:
    blobs: int
    records: int
    damage: tuple[Damage, ...]
    leftovers: tuple[Path, ...]  # staged wheels no live run owns (a killed run's)


def check_store(store: Store) -> StoreReport:
    damage: list[Damage] = []
    blobs = sorted((store.root / "blobs").glob("*")) if (store.root / "blobs").is_dir() else []
    bad_blobs = set()
    for blob in blobs:
        if sha256_file(blob) != blob.name:
            bad_blobs.add(blob.name)
            damage.append(Damage(path=blob, what="its bytes no longer hash to its name"))
    records = sorted((store.root / "records").glob("*.json"))
    for path in records:
        try:
            record = Record.from_json(path.read_bytes())
        except (ValueError, TypeError, KeyError) as e:
            damage.append(Damage(path=path, what=f"not a valid build record ({e})"))
            continue
        if path.stem != record.input_hash or input_hash(record.inputs) != record.input_hash:
            damage.append(Damage(path=path, what="its name or input hash is not its inputs'"))
        elif not store.has_blob(record.wheel_sha256):
            damage.append(Damage(path=path, what=f"names {record.wheel}, not in the store"))
        elif record.wheel_sha256 in bad_blobs:
            damage.append(Damage(path=path, what=f"names {record.wheel}, which is damaged"))
    kept = store.root / "metadata"
    for path in sorted(kept.glob("*")) if kept.is_dir() else []:
        blob = store.blob(path.name)
        if path.name in bad_blobs or not blob.is_file():
            damage.append(Damage(path=path, what="kept for a wheel the store lacks intact"))
        else:
            try:
                wheels_own = read_metadata(blob)
            except IpwhlError as e:
                damage.append(Damage(path=blob, what=f"not a wheel the farm can read ({e})"))
                continue
            if path.read_bytes() != wheels_own:
                damage.append(Damage(path=path, what="not the METADATA of its wheel"))
    leftovers = tuple(
        path
        for entry in left_by_dead_runs(store.root)
        for path in ([entry] if entry.is_file() else sorted(entry.rglob("*")))
        if path.is_file()
    )
    return StoreReport(blobs=len(blobs), records=len(records), damage=tuple(damage),
                       leftovers=leftovers)  # fmt: skip


def repair(report: StoreReport) -> None:
    """Remove what is damaged, records before blobs: a reader never sees a record whose
    wheel is gone."""
    for item in sorted(report.damage, key=lambda d: d.path.parent.name != "records"):
        item.path.unlink(missing_ok=True)
    for path in report.leftovers:
        path.unlink(missing_ok=True)
        if path.parent.name.startswith("pid-") and not any(path.parent.iterdir()):
            path.parent.rmdir()
