"""PyPI, read-only: releases from the simple JSON API (PEP 691), metadata (PEP 658), sdists.

Only the index's own data is trusted for what it says (file names, hashes,
Requires-Python); everything else about a release is read from its sdist or its core
metadata file, because `/pypi/<name>/<version>/json` is not reachable from every farm
machine and the per-project JSON only describes the newest release.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from builder.atomic import write_atomic
from builder.errors import PyPIError
from builder.metadata import parse_headers

SIMPLE = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 60


# A patch number later than any CPython line has had: stands for "its current release".
_LATE_PATCH = 99


@dataclass(frozen=True, kw_only=True)
class File:
    filename: str
    url: str
    sha256: str
    requires_python: str  # "" when the index does not say
    yanked: bool
    has_metadata: bool  # a PEP 658 `.metadata` file sits beside it

    def admits(self, python_versions: Iterable[str]) -> bool:
        """Does Requires-Python admit every one of these `X.Y` interpreter lines?

        An `X.Y` platform runs a current patch release of that line, not X.Y.0: read as
        a version, "3.9" is 3.9.0 and `!=3.9.0` (cryptography's) would refuse it. A line
        is admitted when its current patch releases are, tested with a late one.
        """
        if not self.requires_python:
            return True
        try:
            spec = SpecifierSet(self.requires_python)
        except InvalidSpecifier:
            return False
        return all(admits_line(spec, v) for v in python_versions)


def admits_line(spec: SpecifierSet, line: str) -> bool:
    """Does `spec` admit the interpreter line `X.Y`, as its current patch releases run it?"""
    return spec.contains(f"{line}.{_LATE_PATCH}", prereleases=True)


@dataclass(frozen=True, kw_only=True)
class Release:
    name: str
    version: Version
    sdist: File | None
    wheels: tuple[File, ...]


def _get(url: str, *, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as e:
        raise PyPIError(
            f"{url} answered {e.code} {e.reason}",
            fix="check the project name and that the release exists on PyPI",
        ) from e
    except (urllib.error.URLError, OSError) as e:
        raise PyPIError(f"cannot reach {url}: {e}", fix="check the network, then retry") from e


def releases(name: str) -> list[Release]:
    """Every release with its files, newest version first."""
    project = canonicalize_name(name)
    raw = json.loads(_get(f"{SIMPLE}/{project}/", accept=SIMPLE_JSON))
    by_version: dict[Version, dict[str, list[File]]] = {}
    for entry in raw.get("files", []):
        filename = entry["filename"]
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
        file = File(
            filename=filename,
            url=entry["url"],
            sha256=entry.get("hashes", {}).get("sha256", ""),
            requires_python=entry.get("requires-python") or "",
            yanked=bool(entry.get("yanked", False)),
            has_metadata=bool(metadata),
        )
        try:
            if filename.endswith(".whl"):
                version, kind = parse_wheel_filename(filename)[1], "wheels"
            elif filename.endswith((".tar.gz", ".zip")):
                version, kind = parse_sdist_filename(filename)[1], "sdists"
            else:
                continue  # eggs, .exe installers and other relics
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        by_version.setdefault(version, {"wheels": [], "sdists": []})[kind].append(file)
    found = []
    for version, files in by_version.items():
        # Prefer .tar.gz (PEP 625) when a release has both kinds of sdist.
        sdists = sorted(files["sdists"], key=lambda f: not f.filename.endswith(".tar.gz"))
        found.append(
            Release(
                name=project,
                version=version,
                sdist=sdists[0] if sdists else None,
                wheels=tuple(files["wheels"]),
            )
        )
    return sorted(found, key=lambda r: r.version, reverse=True)


def candidates(name: str, python_versions: Iterable[str]) -> list[Release]:
    """Final, unyanked releases with an sdist that admits every interpreter, newest first."""
    return candidates_from(releases(name), list(python_versions))


def candidates_from(everything: list[Release], versions: list[str]) -> list[Release]:
    """The releases of `everything` fit for the set (see `candidates`)."""
    return [
        r
        for r in everything
        if r.sdist is not None
        and not r.sdist.yanked
        and not r.version.is_prerelease
        and not r.version.is_devrelease
        and r.sdist.admits(versions)
    ]


def choose(name: str, python_versions: Iterable[str], wanted: str | None = None) -> Release:
    """The newest release fit for the set, or exactly `wanted`; explain when there is none."""
    versions = list(python_versions)
    everything = releases(name)
    if not everything:
        raise PyPIError(f"{name} has no releases on PyPI", fix="check the project name")
    fit = candidates_from(everything, versions)
    if wanted is not None:
        exact = [r for r in everything if r.version == Version(wanted)]
        if not exact:
            raise PyPIError(
                f"{name} has no release {wanted}",
                fix=f"pick one of: {', '.join(str(r.version) for r in everything[:8])}",
            )
        if exact[0] not in fit:
            raise PyPIError(
                f"{name} {wanted} has no sdist, is yanked, or its Requires-Python "
                f"({exact[0].sdist.requires_python if exact[0].sdist else '-'}) does not admit "
                f"Python {', '.join(versions)}",
                fix=f"the newest fit release is {fit[0].version}" if fit else "leave it out",
            )
        return exact[0]
    if not fit:
        raise PyPIError(
            f"no release of {name} has an sdist admitting Python {', '.join(versions)}",
            fix="IPWHL builds every project for every interpreter in platforms/; leave it out",
        )
    return fit[0]


def download(file: File, cache: Path) -> Path:
    """The file, verified against the index's sha256, cached where `fetch` looks for sdists."""
    target = cache / "sdists" / file.sha256 / file.filename
    if target.is_file():
        return target
    data = _get(file.url)
    digest = hashlib.sha256(data).hexdigest()
    if digest != file.sha256:
        raise PyPIError(
            f"{file.url} has sha256 {digest}, the index says {file.sha256}",
            fix="retry; if it persists, the download is being tampered with",
        )
    write_atomic(target, data)
    return target


def core_metadata(release: Release, sdist: Path | None, cache: Path | None = None) -> Message:
    """The release's metadata: PEP 658 file of a wheel when there is one, else PKG-INFO.

    A wheel's METADATA is authoritative for Requires-Dist; an sdist's PKG-INFO may omit
    it (metadata 2.1 and older let dependencies be dynamic).
    """
    for wheel in release.wheels:
        if wheel.has_metadata:
            return parse_headers(_get(wheel.url + ".metadata"))
    if sdist is None:
        raise PyPIError(f"{release.name} {release.version}: no metadata", fix="leave it out")
    found = sdist_pkg_info(sdist)
    pure = [w for w in release.wheels if w.filename.endswith("-none-any.whl")]
    if _dynamic_requirements(found) and pure and cache is not None:
        # An old upload (pexpect 4.9.0): no metadata file beside its wheel, and PKG-INFO
        # 2.1 without Requires-Dist. The pure wheel, verified by sha256, says it.
        with zipfile.ZipFile(download(pure[0], cache)) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1
                     and n.endswith(".dist-info/METADATA")]  # fmt: skip
            if names:
                return parse_headers(archive.read(names[0]))
    return found


def _dynamic_requirements(meta: Message) -> bool:
    """Metadata before 2.2 may leave Requires-Dist out without saying so."""
    try:
        return Version(meta.get("Metadata-Version") or "1.0") < Version("2.2")
    except InvalidVersion:
        return True


_READ_NAMES = frozenset(
    {
        "PKG-INFO",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "top_level.txt",
        "__init__.py",
        "meson.build",
        "CMakeLists.txt",
        "Cargo.toml",
        "Cargo.lock",
    }
)
_READ_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".h", ".pyx", ".pxd")


def _wanted(rel: str, size: int) -> bool:
    """Small build files and C sources: what `ipwhl new` reads to draft a recipe."""
    base = rel.rsplit("/", 1)[-1]
    return size < 1 << 20 and (base in _READ_NAMES or base.endswith(_READ_SUFFIXES))


def sdist_members(sdist: Path) -> dict[str, bytes | None]:
    """Member path (without the top directory) -> bytes of the files we read, else None."""
    members: dict[str, bytes | None] = {}
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            for info in archive.infolist():
                if info.is_dir() or "/" not in info.filename:
                    continue
                rel = info.filename.split("/", 1)[1]
                members[rel] = archive.read(info) if _wanted(rel, info.file_size) else None
        return members
    with tarfile.open(sdist) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if not member.isfile() or "/" not in name:
                continue
            rel = name.split("/", 1)[1]
            data = None
            if _wanted(rel, member.size):
                handle = tar.extractfile(member)
                data = handle.read() if handle else None
            members[rel] = data
    return members


def sdist_pkg_info(sdist: Path) -> Message:
    raw = sdist_members(sdist).get("PKG-INFO")
    if raw is None:
        raise PyPIError(f"{sdist.name} has no PKG-INFO", fix="this is not a valid sdist")
    return parse_headers(raw)


def read_member(sdist: Path, rel: str) -> bytes:
    """One member's bytes (e.g. a license file), `rel` without the top directory."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            for info in archive.infolist():
                if "/" in info.filename and info.filename.split("/", 1)[1] == rel:
                    return archive.read(info)
    else:
        with tarfile.open(sdist) as archive:
            for member in archive:
                name = member.name.strip("./")
                if "/" in name and name.split("/", 1)[1] == rel and member.isfile():
                    handle = archive.extractfile(member)
                    return handle.read() if handle else b""
    return b""


def latest_json(name: str) -> dict[str, object]:
    """`/pypi/<name>/json`: the newest release's summary (only the newest is reachable)."""
    data: dict[str, object] = json.loads(_get(f"https://pypi.org/pypi/{name}/json"))
    return data
