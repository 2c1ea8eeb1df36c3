"""Sdists: download, verify sha256 before anything else touches them, cache, extract safely."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from builder.atomic import atomic_path, sweep
from builder.errors import ChecksumMismatch, DataError, FetchError, UnsafeArchive
from builder.model.data import load_data
from builder.model.recipe import Recipe

_CHUNK = 1 << 20


def fetch_sdist(recipe: Recipe, cache: Path) -> Path:
    """Return the cached sdist for `recipe`, downloading it if needed."""
    try:
        return fetch_by_hash(
            recipe.url,
            recipe.sha256,
            cache / "sdists" / recipe.sha256 / recipe.sdist_filename,
            what=f"{recipe.path}: source.sha256",
            fix="if the upstream file really changed, review it and update source.sha256; "
            "otherwise the download was tampered with",
        )
    except ChecksumMismatch:
        raise
    except FetchError as e:  # the download itself failed: name where its URL comes from
        raise type(e)(f"{recipe.path}: source.url: {e.message}", fix=e.fix) from e


def fetch_by_hash(url: str, sha256: str, target: Path, *, what: str, fix: str) -> Path:
    """`target`, downloaded from `url` if absent. The cache is keyed by the pinned sha256:
    a file is moved into place only after its bytes hash to the pin, so a cached file is
    always a verified one, and a file that does not match is never kept."""
    if target.is_file():
        return target
    sweep(target)  # a killed download's .part
    with atomic_path(target) as tmp:
        with tmp.open("wb") as out:
            digest = _download(url, out)
        if digest != sha256:
            raise ChecksumMismatch(
                f"{what}: {url} has sha256 {digest}, the pin is {sha256}", fix=fix
            )
    return target


def limit(name: str) -> int:
    """One of builder/data/limits.toml's bounds, checked to be a positive integer."""
    value = load_data("limits.toml").get(name)
    if not isinstance(value, int) or value <= 0:
        raise DataError(
            f"builder/data/limits.toml: {name} must be a positive integer",
            fix="restore limits.toml from the repository",
        )
    return value


def _download(url: str, out: object) -> str:
    digest = hashlib.sha256()
    most, seen = limit("max-download-bytes"), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(_CHUNK):
                seen += len(chunk)
                if seen > most:
                    raise UnsafeArchive(
                        f"{url} is larger than max-download-bytes ({most} bytes)",
                        fix="check the URL; raise the limit in builder/data/limits.toml "
                        "only for a reviewed source",
                    )
                digest.update(chunk)
                out.write(chunk)  # type: ignore[attr-defined]
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(
            f"cannot download {url}: {e}", fix="check the URL and the network, then retry"
        ) from e
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(recipe: Recipe, sdist: Path, dest: Path) -> Path:
    """`extract_sdist` of the sdist a recipe pins, its refusals naming that recipe."""
    try:
        return extract_sdist(sdist, dest)
    except UnsafeArchive as e:
        raise UnsafeArchive(f"{recipe.path}: source.url: {e.message}", fix=e.fix) from e


def extract_sdist(sdist: Path, dest: Path) -> Path:
    """Extract into `dest` (which must not exist) and return the single top directory.

    Every member is checked before anything is written: absolute names, `..`, device
    files and links that resolve outside the tree are refused, and the error names the
    member.
    """
    if sdist.name.endswith(".zip"):
        _extract_zip(sdist, dest)
    else:
        _extract_tar(sdist, dest)
    tops = [p for p in dest.iterdir()]
    if len(tops) != 1 or not tops[0].is_dir():
        raise UnsafeArchive(
            f"{sdist.name} does not hold exactly one top-level directory",
            fix="an sdist must unpack to <name>-<version>/; check the recipe's source.url",
        )
    return tops[0]


def _refuse(sdist: Path, name: str, why: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"{sdist.name}: member {name!r} {why}",
        fix="this sdist is malformed or malicious; do not use it",
    )


def _check_member(sdist: Path, name: str, *, is_dir: bool) -> PurePosixPath | None:
    """The member's relative path, None for the archive's own root, or refuse it.

    The raw name is checked, not a normalized one: pathlib folds `a/.` into `a`, which
    would let a file pose as a directory.
    """
    raw = name
    while raw.startswith("./"):
        raw = raw[2:]
    parts = raw.rstrip("/").split("/") if raw.rstrip("/") else []
    if not parts or parts == ["."]:
        if is_dir:
            return None
        raise _refuse(sdist, name, "is a file with no name")
    if name.startswith(("/", "\\")) or ":" in parts[0]:
        raise _refuse(sdist, name, "has an absolute path")
    if any(part in ("", ".", "..") for part in parts):
        raise _refuse(sdist, name, "would be written outside the extraction directory")
    if raw.endswith("/") and not is_dir:
        raise _refuse(sdist, name, "is a file named like a directory")
    return PurePosixPath(*parts)


def _inside(link_parent: PurePosixPath, target: str) -> bool:
    if target.startswith("/"):
        return False
    depth = 0
    for part in (*link_parent.parts, *PurePosixPath(target).parts):
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def _resolves_inside(start: PurePosixPath, target: str, links: dict[PurePosixPath, str]) -> bool:
    """Whether a link at `start` stays inside the tree once every link of the archive
    it passes through is followed, in whatever order the members come: each link can
    look inside on its own (a -> ., b -> a/.., c -> b/..) while the chain leaves."""
    current: list[str] = list(start.parent.parts)
    pending = list(PurePosixPath(target).parts)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part.startswith("/"):
            return False
        if part == "..":
            if not current:
                return False
            current.pop()
        elif part != ".":
            through = links.get(PurePosixPath(*current, part))
            if through is None:
                current.append(part)
                continue
            hops += 1
            if hops > 40:  # the kernel's own limit on links followed: a loop
                return False
            pending = [*PurePosixPath(through).parts, *pending]
    return True


def _extract_tar(sdist: Path, dest: Path) -> None:
    try:
        with tarfile.open(sdist) as archive:
            members = _checked_tar_members(sdist, archive)
            dest.mkdir(parents=True)
            try:
                # Every member was checked above; the data filter is a second defence.
                archive.extractall(dest, members=members, filter="data")
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)  # leave nothing half-written
                raise
    except tarfile.FilterError as e:
        raise UnsafeArchive(
            f"{sdist.name}: tarfile's data filter refused a member: {e}",
            fix="this sdist is malformed or malicious; do not use it",
        ) from e
    except tarfile.TarError as e:
        raise UnsafeArchive(
            f"{sdist.name} is not a readable tar archive: {e}",
            fix="check the recipe's source.url points at an sdist",
        ) from e


def _bounded(sdist: Path, sizes: list[int]) -> None:
    """Refuse an archive with more members, or more bytes unpacked, than the limits."""
    files, total = limit("max-files"), limit("max-unpacked-bytes")
    if len(sizes) > files:
        raise _refuse_bound(sdist, f"has {len(sizes)} members, over max-files ({files})")
    if sum(sizes) > total:
        raise _refuse_bound(
            sdist, f"unpacks to {sum(sizes)} bytes, over max-unpacked-bytes ({total})"
        )


def _refuse_bound(sdist: Path, why: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"{sdist.name} {why}",
        fix="an sdist this large is unusual; review it, then raise the limit in "
        "builder/data/limits.toml",
    )


def _checked_tar_members(sdist: Path, archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    links: set[PurePosixPath] = set()
    symbolic: dict[PurePosixPath, str] = {}
    _bounded(sdist, [m.size for m in archive.getmembers()])
    for member in archive.getmembers():
        path = _check_member(sdist, member.name, is_dir=member.isdir())
        if path is None:
            continue
        # Nothing may be written through a link: that is how link chains escape.
        if any(parent in links for parent in path.parents):
            raise _refuse(sdist, member.name, "is inside a link")
        if member.issym() or member.islnk():
            base = path.parent if member.issym() else PurePosixPath()
            if not _inside(base, member.linkname):
                raise _refuse(sdist, member.name, f"links outside the tree ({member.linkname!r})")
            links.add(path)
            if member.issym():
                symbolic[path] = member.linkname
        elif not (member.isfile() or member.isdir()):
            raise _refuse(sdist, member.name, "is a device or fifo")
        members.append(member)
    for path, target in symbolic.items():
        if not _resolves_inside(path, target, symbolic):
            why = f"leads outside the tree, or round a loop, through other links ({target!r})"
            raise _refuse(sdist, str(path), why)
    return members


def _extract_zip(sdist: Path, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(sdist)
    except zipfile.BadZipFile as e:
        raise UnsafeArchive(
            f"{sdist.name} is not a readable zip archive: {e}",
            fix="check the recipe's source.url points at an sdist",
        ) from e
    with archive:
        _bounded(sdist, [info.file_size for info in archive.infolist()])
        for info in archive.infolist():
            _check_member(sdist, info.filename, is_dir=info.is_dir())
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchive(
                    f"{sdist.name}: member {info.filename!r} is a symbolic link",
                    fix="this sdist is malformed or malicious; do not use it",
                )
        dest.mkdir(parents=True)
        archive.extractall(dest)  # noqa: S202 - every member was checked above
    # zipfile drops modes; give files the plain modes a tar would under umask 022.
    for dirpath, _dirs, files in os.walk(dest):
        for name in files:
            (Path(dirpath) / name).chmod(0o644)


def newest_mtime(sdist: Path) -> int:
    """The newest member mtime: the sdist's own SOURCE_DATE_EPOCH."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            import calendar

            return max(
                (calendar.timegm((*i.date_time, 0, 0, 0)) for i in archive.infolist()),
                default=0,
            )
    with tarfile.open(sdist) as archive:
        return max((int(m.mtime) for m in archive.getmembers()), default=0)
