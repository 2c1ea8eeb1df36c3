"""Write a planned tree to disk as copies, keep a stat index of it, and hash it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from builder.atomic import write_atomic
from builder.errors import AssembleError, IpwhlError, StoreError
from builder.ipfs.multiformats import Cid
from builder.ipfs.unixfs import CidProfile, DagRef, Importer
from builder.pipeline.store import Store
from builder.tree.model import Source, TreePlan


def _place(source: Source, dest: Path) -> None:
    """Write a copy of `source` at `dest`, checking on the way that it has its sha256."""
    if isinstance(source, bytes):
        dest.write_bytes(source)
    else:
        digest = hashlib.sha256()
        with source.path.open("rb") as src, dest.open("xb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != source.sha256:
            dest.unlink()
            raise StoreError(
                f"{source.path} no longer has sha256 {source.sha256} (it has {digest.hexdigest()})",
                fix="the store was changed after the build; run `ipwhl store check` and "
                "rebuild what it names",
            )
    dest.chmod(0o444)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stat_key(found: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file's bytes or links change: like git's index, a file whose
    key is unchanged since the farm wrote and hashed it still holds those bytes."""
    return (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


StatEntry = tuple[str, int, int, int, int]  # sha256 and `_stat_key`


def _holds(dest: str, found: os.stat_result, sha: str, known: Mapping[str, StatEntry]) -> bool:
    """Whether a spare tree's file still has the bytes the plan wants at `dest`."""
    if not stat.S_ISREG(found.st_mode):
        return False  # a symlink would be imported as one, whatever it points to
    entry = known.get(dest)
    return entry is not None and entry == (sha, *_stat_key(found))


def _prune(plan: TreePlan, directory: Path) -> None:
    """Remove whatever under `directory` the plan does not have."""
    wanted = {"/".join(p[:i]) for p in (f.split("/") for f in plan.files) for i in range(1, len(p))}
    base = os.fspath(directory)
    for dirpath, dirnames, filenames in os.walk(base):
        prefix = dirpath[len(base) + 1 :]
        prefix += "/" if prefix else ""
        for name in list(dirnames):
            path = Path(dirpath, name)
            if path.is_symlink():  # os.walk lists a link to a directory as one
                path.unlink()
            elif f"{prefix}{name}" not in wanted:
                shutil.rmtree(path)
            else:
                continue
            dirnames.remove(name)
        for name in filenames:
            if f"{prefix}{name}" not in plan.files:
                Path(dirpath, name).unlink()


def write_tree(
    plan: TreePlan, directory: Path, known: Mapping[str, StatEntry] | None = None
) -> None:
    """Make `directory` hold exactly the plan; equal contents become hard links.

    `directory` may be empty or a spare tree of an earlier run, with `known` its
    `stat_index`: files that still hold the right bytes are kept, so re-assembly
    writes only what changed. Paths are plain strings here: pathlib costs more than
    the system calls on 30,000 files.
    """
    known = {f"{directory}/{k}": v for k, v in (known or {}).items()}
    _prune(plan, directory)
    first: dict[str, tuple[str, os.stat_result]] = {}
    made: set[str] = set()
    base = os.fspath(directory)
    for relative, source in plan.files.items():
        dest = f"{base}/{relative}"
        parent = dest.rpartition("/")[0]
        if parent not in made:
            os.makedirs(parent, exist_ok=True)  # noqa: PTH103 (strings, see above)
            made.add(parent)
        sha = plan.digests[relative]
        try:
            found: os.stat_result | None = os.lstat(dest)
        except FileNotFoundError:
            found = None
        if found is not None:
            if sha in first:
                keep = stat.S_ISREG(found.st_mode) and _same_file(found, first[sha][1])
            else:
                keep = _holds(dest, found, sha, known)
            if keep:
                first.setdefault(sha, (dest, found))
                continue
            os.unlink(dest)  # noqa: PTH108  never write through: it may be linked elsewhere
        if sha in first:
            os.link(first[sha][0], dest)
        else:
            _place(source, Path(dest))
            first[sha] = (dest, os.lstat(dest))


def disk_files(directory: Path, plan: TreePlan) -> dict[str, str]:
    """Every file under `directory` as found on disk (relative path -> path), checked
    against the plan."""
    found: dict[str, str] = {}
    base = os.fspath(directory)
    for dirpath, _dirnames, filenames in os.walk(base):
        prefix = dirpath[len(base) + 1 :]
        for name in filenames:
            relative = f"{prefix}/{name}" if prefix else name
            if relative not in plan.files:
                raise AssembleError(
                    f"{relative} is in the tree but not in the plan",
                    fix="something else writes into the tree directory; stop it and retry",
                )
            found[relative] = f"{dirpath}/{name}"
    if len(found) != len(plan.files):
        lost = sorted(set(plan.files) - set(found))[:5]
        raise AssembleError(f"files vanished from the tree: {lost}", fix="retry the assembly")
    return found


def stat_index(directory: Path, plan: TreePlan, files: Mapping[str, str]) -> dict[str, StatEntry]:
    """relative path -> (sha256, stat key) of a tree the farm has just written."""
    return {rel: (plan.digests[rel], *_stat_key(os.lstat(path))) for rel, path in files.items()}


def load_stat_index(path: Path) -> dict[str, StatEntry]:
    """A bad or missing index is an empty one: every spare file is then rewritten."""
    try:
        data = json.loads(path.read_bytes())
        return {
            rel: (str(e[0]), int(e[1]), int(e[2]), int(e[3]), int(e[4])) for rel, e in data.items()
        }
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        return {}


def save_stat_index(path: Path, index: Mapping[str, StatEntry]) -> None:
    write_atomic(path, json.dumps(index, separators=(",", ":")))


def tree_root(
    directory: Path, plan: TreePlan, importer: Importer, files: Mapping[str, str] | None = None
) -> DagRef:
    """The tree's DAG, from the directory as laid out on disk (`files`, if already listed).

    Each distinct content is imported once (a wheel shared by twenty platforms is read
    once), and its CID is taken from the importer's cache when it knows the sha256.
    """
    refs: dict[str, DagRef] = {}
    tree: dict[str, DagRef] = {}
    listed = disk_files(directory, plan) if files is None else files
    for relative, path in sorted(listed.items()):
        sha = plan.digests[relative]
        if sha not in refs:
            refs[sha] = importer.file_from_path(path, sha256=sha)
        tree[relative] = refs[sha]
    return importer.add_tree(tree)


CID_CACHE_VERSION: Final = 1


def cache_path(store: Store, profile: CidProfile) -> Path:
    return store.root / "cid-cache" / f"{profile.name}.json"


def load_cid_cache(path: Path, profile: CidProfile) -> dict[str, DagRef]:
    """Keyed as the importer keys it ("<profile>/<sha256>"); a bad file is an empty cache."""
    try:
        data = json.loads(path.read_bytes())
        if data.get("version") != CID_CACHE_VERSION or data.get("profile") != profile.name:
            return {}
        return {
            f"{profile.name}/{sha}": DagRef(cid=Cid.parse(cid), tsize=int(tsize))
            for sha, (cid, tsize) in data["files"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IpwhlError):
        return {}


def save_cid_cache(path: Path, profile: CidProfile, cache: Mapping[str, DagRef]) -> None:
    prefix = f"{profile.name}/"
    files = {
        key.removeprefix(prefix): [str(ref.cid), ref.tsize]
        for key, ref in cache.items()
        if key.startswith(prefix)
    }
    document = {"version": CID_CACHE_VERSION, "profile": profile.name, "files": files}
    write_atomic(path, json.dumps(document, sort_keys=True, separators=(",", ":")))
