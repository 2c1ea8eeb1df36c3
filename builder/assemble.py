"""The published tree: the collection laid out as one pip index, one CID, one CAR.

Three steps, in this order, so that a reader of `<out>/tree` never sees half a tree:

1. `gather` reads what the pages need from the store (each wheel's METADATA) and
   finds every source file; `plan_tree` turns that into a pure value, path -> source.
2. `write_tree` lays the plan out in a fresh hidden directory beside the old tree.
   Files are copies, each hashed on the way in, never links into the store: nothing
   the farm does to the store later can change a tree it has hashed. Equal contents
   inside the tree become hard links to one copy (a pure wheel under every platform).
3. The root CID is computed from that directory as it is on disk, the CAR is
   written, and only then is the new tree renamed over the old one.

File CIDs are cached by sha256 per profile in `<store>/cid-cache/<profile>.json`, so
re-assembling after one new wheel reads only the files that changed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256 as sha256_hash
from pathlib import Path
from typing import Any, Final

from packaging.utils import InvalidWheelFilename, is_normalized_name, parse_wheel_filename

from builder.atomic import write_atomic
from builder.car import BlockStore, write_dag_car
from builder.collection import Collection
from builder.errors import AssembleError, IpwhlError, StoreError
from builder.farm import Farm
from builder.index import IndexFile, project_page, root_page
from builder.metadata import Metadata, read_metadata
from builder.multiformats import Cid
from builder.platform import Platform
from builder.recipe import Recipe
from builder.store import Record, Store
from builder.unixfs import CidProfile, DagRef, Importer, get_profile

PLATFORMS_DIR: Final = "_platforms"
SOURCES_DIR: Final = "_sources"
MANIFEST: Final = "manifest.json"
FARM_DIR: Final = "_farm"  # under _sources/; `_` keeps it apart from project names
STATUS_DIR: Final = "_status"
TREE_DIR: Final = "tree"
CID_CACHE_VERSION: Final = 1


@dataclass(frozen=True, kw_only=True)
class FileSource:
    """A file whose bytes are already on disk (a store blob, a cached sdist)."""

    path: Path
    sha256: str


Source = FileSource | bytes


def source_sha256(source: Source) -> str:
    return source.sha256 if isinstance(source, FileSource) else sha256_hash(source).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Wheel:
    """One current wheel and what its index entry needs."""

    record: Record
    blob: FileSource
    metadata: bytes
    requires_python: str | None


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What rebuilding a project needs: the recipe file, its patches, the sdist."""

    recipe: Recipe
    recipe_bytes: bytes
    patches: tuple[tuple[str, bytes], ...]
    sdist: FileSource


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Everything `plan_tree` needs, read from disk once."""

    platforms: tuple[str, ...]
    wheels: Mapping[tuple[str, str], Wheel]  # (project, platform id) -> wheel
    sources: Mapping[str, Sources]
    missing: Mapping[tuple[str, str], str]
    # Verbatim files: _sources/_farm/ (platform files and build locks, so the tree
    # alone can be rebuilt) and _status/ (the last verification report).
    farm_files: Mapping[str, bytes] = field(default_factory=dict)
    status_files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TreePlan:
    files: Mapping[str, Source]  # relative POSIX path -> content, sorted by path
    digests: Mapping[str, str]  # relative POSIX path -> sha256 of its content
    projects: tuple[str, ...]
    missing: Mapping[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Assembly:
    tree: Path
    car: Path | None
    root: Cid
    profile: str
    projects: int
    files: int
    missing: Mapping[tuple[str, str], str]


# --- gather: the only part of planning that reads files ---------------------------------


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


def read_wheel_metadata(wheel: Path, filename: str) -> tuple[bytes, str | None]:
    """The wheel's METADATA bytes (served as `.metadata`) and its Requires-Python."""
    raw = read_metadata(wheel, label=filename)
    return raw, Metadata.parse(raw).requires_python


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
            metadata[record.wheel_sha256] = read_wheel_metadata(blob, record.wheel)
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
    farm_files = {
        f"{kind}/{path.name}": path.read_bytes()
        for kind, directory in (("platforms", farm.root / "platforms"), ("locks", farm.locks))
        for path in sorted(directory.iterdir() if directory.is_dir() else ())
        if path.is_file() and not path.name.startswith(".")
    }
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
    )  # fmt: skip


# --- plan: pure ------------------------------------------------------------------------


def _check_wheel_name(project: str, wheel: Wheel) -> None:
    filename = wheel.record.wheel
    try:
        name = parse_wheel_filename(filename)[0]
    except InvalidWheelFilename as e:
        raise AssembleError(
            f"{project}: {filename!r} is not a wheel file name ({e})",
            fix="the build record is damaged; delete it and rebuild the job",
        ) from e
    if name != project or not is_normalized_name(project):
        raise AssembleError(
            f"{filename} is filed under project {project!r}",
            fix="project names must be normalized and match the wheel; fix the recipe name",
        )
    if "/" in filename or filename.startswith("."):
        raise AssembleError(f"unsafe wheel file name {filename!r}", fix="rebuild the job")


def _index_file(wheel: Wheel) -> IndexFile:
    return IndexFile(
        filename=wheel.record.wheel,
        sha256=wheel.record.wheel_sha256,
        metadata_sha256=sha256_hash(wheel.metadata).hexdigest(),
        requires_python=wheel.requires_python,
    )


def _pages(projects: dict[str, dict[str, Wheel]], base: str) -> dict[str, Source]:
    """An index (root page, one page per project, wheels, .metadata) rooted at `base`."""
    files: dict[str, Source] = {}
    try:
        files[f"{base}index.html"] = root_page(projects)
        for project, by_name in projects.items():
            files[f"{base}{project}/index.html"] = project_page(
                project, [_index_file(w) for w in by_name.values()]
            )
            for filename, wheel in by_name.items():
                files[f"{base}{project}/{filename}"] = wheel.blob
                files[f"{base}{project}/{filename}.metadata"] = wheel.metadata
    except ValueError as e:
        raise AssembleError(str(e), fix="fix the recipe's project name") from e
    return files


def _manifest(inputs: Inputs, profile: str) -> bytes:
    projects: dict[str, Any] = {}
    for project, src in sorted(inputs.sources.items()):
        recipe = src.recipe
        projects[project] = {
            "version": str(recipe.version),
            "license": recipe.license,
            "recipe_sha256": recipe.file_sha256,
            "patches": {p.path.name: p.sha256 for p in recipe.patches},
            "sdist": {"filename": recipe.sdist_filename, "sha256": recipe.sha256},
            "platforms": {},
        }
    for (project, platform), wheel in sorted(inputs.wheels.items()):
        r = wheel.record
        # `gather` gives every project its sources; a plan made without them still works.
        entry = projects.setdefault(project, {"version": r.version, "platforms": {}})
        entry["platforms"][platform] = {
            "wheel": r.wheel,
            "sha256": r.wheel_sha256,
            "size": r.wheel_size,
            "input_hash": r.input_hash,
            "inputs": r.inputs,
            "built_on": r.built_on,
        }
    missing: dict[str, dict[str, str]] = {}
    for (project, platform), why in sorted(inputs.missing.items()):
        missing.setdefault(project, {})[platform] = why
    document = {
        "farm": {
            relative: hashlib.sha256(data).hexdigest()
            for relative, data in sorted(inputs.farm_files.items())
        },
        "profile": profile,
        "platforms": list(inputs.platforms),
        "projects": projects,
        "missing": missing,
    }
    # Compact: indenting makes json use its pure-Python encoder, seconds on a big set.
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def plan_tree(inputs: Inputs, *, profile: str) -> TreePlan:
    """The whole tree as a value. Raises on two different files under one wheel name."""
    root: dict[str, dict[str, Wheel]] = {}
    per_platform: dict[str, dict[str, dict[str, Wheel]]] = {}
    for (project, platform), wheel in sorted(inputs.wheels.items()):
        _check_wheel_name(project, wheel)
        filename = wheel.record.wheel
        seen = root.setdefault(project, {}).setdefault(filename, wheel)
        if seen.record.wheel_sha256 != wheel.record.wheel_sha256:
            raise AssembleError(
                f"two different files named {filename}: {seen.record.wheel_sha256} "
                f"(for {seen.record.platform}) and {wheel.record.wheel_sha256} (for {platform})",
                fix="a pure wheel must be built once on the pure platform and reused; give "
                "wheels that differ different tags, or remove the stale record from the store",
            )
        per_platform.setdefault(platform, {})[project] = {filename: wheel}

    files: dict[str, Source] = _pages(root, "")
    for platform, projects in sorted(per_platform.items()):
        files.update(_pages(projects, f"{PLATFORMS_DIR}/{platform}/"))
    for project, src in sorted(inputs.sources.items()):
        base = f"{SOURCES_DIR}/{project}/"
        files[f"{base}{project}.toml"] = src.recipe_bytes
        for name, data in src.patches:
            files[f"{base}patches/{name}"] = data
        files[f"{base}{src.recipe.sdist_filename}"] = src.sdist
    for relative, data in sorted(inputs.farm_files.items()):
        files[f"{SOURCES_DIR}/{FARM_DIR}/{relative}"] = data
    for relative, data in sorted(inputs.status_files.items()):
        files[f"{STATUS_DIR}/{relative}"] = data
    files[MANIFEST] = _manifest(inputs, profile)
    for path in files:
        if any(part.startswith(".") or not part for part in path.split("/")):
            # kubo skips hidden names, so a tree holding one would have another CID.
            raise AssembleError(f"hidden or empty name in {path!r}", fix="rename the file")
    ordered = dict(sorted(files.items()))
    return TreePlan(
        files=ordered,
        digests={path: source_sha256(source) for path, source in ordered.items()},
        projects=tuple(sorted(root)),
        missing=inputs.missing,
    )


# --- write and hash --------------------------------------------------------------------


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


StatEntry = tuple[str, int, int, int, int]  # sha256 and `_stat_key`


def stat_index(directory: Path, plan: TreePlan, files: Mapping[str, str]) -> dict[str, StatEntry]:
    """relative path -> (sha256, stat key) of a tree the farm has just written."""
    return {rel: (plan.digests[rel], *_stat_key(os.lstat(path))) for rel, path in files.items()}


def _load_stat_index(path: Path) -> dict[str, StatEntry]:
    """A bad or missing index is an empty one: every spare file is then rewritten."""
    try:
        data = json.loads(path.read_bytes())
        return {
            rel: (str(e[0]), int(e[1]), int(e[2]), int(e[3]), int(e[4])) for rel, e in data.items()
        }
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        return {}


def _save_stat_index(path: Path, index: Mapping[str, StatEntry]) -> None:
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
    staging = Path(tempfile.mkdtemp(dir=out, prefix=f".{TREE_DIR}-"))
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
        write_tree(plan, staging, _load_stat_index(index_file))
        if car:
            root, car_path = _hash_and_car(staging, plan, out, cid_profile, cache)
        else:
            importer = Importer(profile=cid_profile, cache=cache)
            root, car_path = tree_root(staging, plan, importer).cid, None
        save_cid_cache(cache_file, cid_profile, cache)
        index = stat_index(staging, plan, disk_files(staging, plan))
        _replace_dir(staging, out / TREE_DIR, spare)
        _save_stat_index(index_file, index)
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
