"""`assemble`: gather, plan, write, hash, and swap the new tree in (see `builder.tree`).

File CIDs are cached by sha256 per profile in `<store>/cid-cache/<profile>.json`, so
re-assembling after one new wheel reads only the files that changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.atomic import sweep_directory, temporary_prefix
from builder.errors import PublishError
from builder.ipfs.car import BlockStore, write_dag_car
from builder.ipfs.multiformats import Cid
from builder.ipfs.unixfs import CidProfile, DagRef, Importer, get_profile
from builder.model.farm import Farm
from builder.pipeline.collection import Collection
from builder.pipeline.store import Store
from builder.tree.gather import gather, select_platforms
from builder.tree.layout import plan_tree
from builder.tree.model import TreePlan
from builder.tree.write import (
    cache_path,
    disk_files,
    load_cid_cache,
    load_stat_index,
    save_cid_cache,
    save_stat_index,
    stat_index,
    tree_root,
    write_tree,
)

TREE_DIR: Final = "tree"


@dataclass(frozen=True, kw_only=True)
class Assembly:
    tree: Path
    car: Path | None
    root: Cid
    profile: str
    projects: int
    files: int
    missing: Mapping[tuple[str, str], str]


def _replace_dir(new: Path, final: Path, spare: Path) -> None:
    """Put `new` at `final`; the old tree moves to `spare` only once `new` is complete."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    try:
        new.rename(final)
    except BaseException:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        # Kept, not deleted: the next run updates it in place instead of writing (and
        # this run deleting) tens of thousands of files.
        _discard(old, spare)


def _discard(tree: Path, spare: Path) -> None:
    try:
        tree.rename(spare)
    except OSError:
        shutil.rmtree(tree, ignore_errors=True)


def _staging(out: Path, spare: Path) -> Path:
    sweep_directory(out)  # staging trees, CARs and indexes of killed runs
    staging = Path(tempfile.mkdtemp(dir=out, prefix=temporary_prefix(out / TREE_DIR)))
    # Atomic, so two concurrent runs never share it; the empty target is replaced.
    with contextlib.suppress(OSError):
        spare.rename(staging)
    return staging


def _hash_and_car(
    directory: Path, plan: TreePlan, out: Path, profile: CidProfile, cache: dict[str, DagRef]
) -> tuple[Cid, Path | None]:
    def cached(sha: str) -> bool:
        return f"{profile.name}/{sha}" in cache

    files = disk_files(directory, plan)
    if all(cached(sha) for sha in plan.digests.values()):
        # Every file known: the CID costs no reads, and an unchanged tree keeps its CAR.
        root = tree_root(directory, plan, Importer(profile=profile, cache=cache), files).cid
        car = out / f"{root}.car"
        if car.is_file():
            return root, car
    # Spool next to the output: the CAR needs that much free space there anyway.
    with BlockStore(out) as blocks:
        importer = Importer(profile=profile, sink=blocks, cache=cache)
        root = tree_root(directory, plan, importer, files).cid
        car = out / f"{root}.car"
        write_dag_car(car, root, blocks)
    return root, car


def assemble(
    farm: Farm,
    store: Store,
    collection: Collection,
    *,
    out: Path,
    platforms: Iterable[str] = (),
    profile: str | None = None,
    sdist_cache: Path | None = None,
    car: bool = True,
    status: Path | None = None,
) -> Assembly:
    """Write `<out>/tree` and `<out>/<root-cid>.car`; return the root CID.

    `out` holds one assembly: CARs of earlier trees there are removed once the new
    tree is in place.
    """
    cid_profile = get_profile(profile)
    chosen = select_platforms(farm, platforms)
    inputs = gather(farm, store, collection, chosen, sdist_cache=sdist_cache, status=status)
    plan = plan_tree(inputs, profile=cid_profile.name)
    out.mkdir(parents=True, exist_ok=True)
    cache_file = cache_path(store, cid_profile)
    cache = load_cid_cache(cache_file, cid_profile)
    spare = out / f".{TREE_DIR}-spare"
    index_file = out / f".{TREE_DIR}-index.json"  # of the last tree, now the spare one
    staging = _staging(out, spare)
    try:
        write_tree(plan, staging, load_stat_index(index_file))
        if car:
            root, car_path = _hash_and_car(staging, plan, out, cid_profile, cache)
        else:
            importer = Importer(profile=cid_profile, cache=cache)
            root, car_path = tree_root(staging, plan, importer).cid, None
        save_cid_cache(cache_file, cid_profile, cache)
        index = stat_index(staging, plan, disk_files(staging, plan))
        _replace_dir(staging, out / TREE_DIR, spare)
        save_stat_index(index_file, index)
    except BaseException:
        _discard(staging, spare)
        raise
    for stale in out.glob("*.car"):
        if stale != car_path:
            stale.unlink()
    return Assembly(
        tree=out / TREE_DIR,
        car=car_path,
        root=root,
        profile=cid_profile.name,
        projects=len(plan.projects),
        files=len(plan.files),
        missing=plan.missing,
    )


def find_car(root: Path) -> Path:
    public = root / "public"
    cars = sorted(public.glob("*.car")) if public.is_dir() else []
    if len(cars) != 1:
        raise PublishError(
            f"{public} holds {len(cars)} CAR files; expected the one `ipwhl assemble` wrote",
            fix="run `ipwhl assemble`, or name the CAR: `ipwhl publish PATH.car`",
        )
    return cars[0]
