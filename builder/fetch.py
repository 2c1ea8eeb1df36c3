"""Sdists: download, verify sha256 before anything else touches them, cache, extract safely."""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from builder.errors import ChecksumMismatch, FetchError, UnsafeArchive
from builder.recipe import Recipe

_CHUNK = 1 << 20


def fetch_sdist(recipe: Recipe, cache: Path) -> Path:
    """Return the cached sdist for `recipe`, downloading it if needed.

    The cache is keyed by the pinned sha256: a file is moved into place only after its
    bytes hash to the pin, so a cached file is always a verified one.
    """
    target = cache / "sdists" / recipe.sha256 / recipe.sdist_filename
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".part-", delete=False) as tmp:
        try:
            digest = _download(recipe.url, tmp)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    if digest != recipe.sha256:
        Path(tmp.name).unlink()
        raise ChecksumMismatch(
            f"{recipe.path}: source.sha256: {recipe.url} has sha256 {digest}, "
            f"the recipe pins {recipe.sha256}",
            fix="if the upstream file really changed, review it and update source.sha256; "
            "otherwise the download was tampered with",
        )
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(target)
    return target


def _download(url: str, out: object) -> str:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(_CHUNK):
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


def _check_member(sdist: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith("\\") or ":" in path.parts[0]:
        raise UnsafeArchive(
            f"{sdist.name}: member {name!r} would be written outside the extraction directory",
            fix="this sdist is malformed or malicious; do not use it",
        )
    return path


def _inside(link_parent: PurePosixPath, target: str) -> bool:
    if target.startswith("/"):
        return False
    depth = 0
    for part in (*link_parent.parts, *PurePosixPath(target).parts):
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def _extract_tar(sdist: Path, dest: Path) -> None:
    try:
        with tarfile.open(sdist) as archive:
            _extract_checked_tar(sdist, archive, dest)
    except tarfile.TarError as e:
        raise UnsafeArchive(
            f"{sdist.name} is not a readable tar archive: {e}",
            fix="check the recipe's source.url points at an sdist",
        ) from e


def _extract_checked_tar(sdist: Path, archive: tarfile.TarFile, dest: Path) -> None:
    members = archive.getmembers()
    for member in members:
        path = _check_member(sdist, member.name)
        if member.issym() or member.islnk():
            base = path.parent if member.issym() else PurePosixPath()
            if not _inside(base, member.linkname):
                raise UnsafeArchive(
                    f"{sdist.name}: link {member.name!r} points outside the tree "
                    f"({member.linkname!r})",
                    fix="this sdist is malformed or malicious; do not use it",
                )
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchive(
                f"{sdist.name}: member {member.name!r} is a device or fifo",
                fix="this sdist is malformed or malicious; do not use it",
            )
    dest.mkdir(parents=True)
    # Every member was checked above; the data filter is a second line of defence.
    archive.extractall(dest, members=members, filter="data")


def _extract_zip(sdist: Path, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(sdist)
    except zipfile.BadZipFile as e:
        raise UnsafeArchive(
            f"{sdist.name} is not a readable zip archive: {e}",
            fix="check the recipe's source.url points at an sdist",
        ) from e
    with archive:
        for info in archive.infolist():
            _check_member(sdist, info.filename)
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
