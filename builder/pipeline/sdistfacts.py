"""What the farm reads from inside an sdist, read once per sha256 and kept.

Its newest file time (the default SOURCE_DATE_EPOCH), its `[build-system] requires`
and the project and version its PKG-INFO names are properties of its bytes, so they
are memoized beside the cached sdists by sha256 and never go stale. Without this, every
cached job of every run decompressed and scanned its tarball twice.

An sdist that cannot be read (not an archive, a malformed pyproject.toml or PKG-INFO)
is an `SdistError` for its own job, never a traceback that ends the run; one whose
PKG-INFO names another project or version than its recipe is refused the same way.
"""

from __future__ import annotations

import email.parser
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from builder.atomic import write_atomic
from builder.errors import SdistError
from builder.model.lock import sdist_build_requires
from builder.model.recipe import Recipe
from builder.pipeline.fetch import newest_mtime

_VERSION: Final = 3  # of the memo's format and rules; another value is recomputed


@dataclass(frozen=True, kw_only=True)
class SdistFacts:
    newest_mtime: int
    build_requires: tuple[str, ...]
    name: str = ""  # PKG-INFO's Name and Version
    version: str = ""


def memo_path(cache: Path, sha256: str) -> Path:
    return cache / "sdist-facts" / f"{sha256}.json"


def sdist_facts(sdist: Path, sha256: str, cache: Path) -> SdistFacts:
    """The facts of the verified sdist at `sdist`, whose sha256 is `sha256`."""
    memo = memo_path(cache, sha256)
    try:
        data = json.loads(memo.read_bytes())
        if data["version"] == _VERSION:
            return SdistFacts(
                newest_mtime=int(data["newest-mtime"]),
                build_requires=tuple(str(r) for r in data["build-requires"]),
                name=str(data["pkg-info-name"]),
                version=str(data["pkg-info-version"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: computed again below
    try:
        name, version = _pkg_info(sdist)
        facts = SdistFacts(
            newest_mtime=newest_mtime(sdist),
            build_requires=tuple(sdist_build_requires(sdist)),
            name=name,
            version=version,
        )
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError) as e:
        # ValueError covers tomllib's and the decoders' errors.
        raise SdistError(
            f"the sdist {sdist.name} cannot be read: {e}",
            fix="the recipe's source.url and source.sha256 must name a real sdist "
            "(.tar.gz or .zip with pyproject.toml or setup.py, and PKG-INFO)",
        ) from e
    remember(cache, sha256, facts)
    return facts


def _pkg_info(sdist: Path) -> tuple[str, str]:
    """Name and Version of the sdist's top-level PKG-INFO ("" when it has none)."""
    raw = b""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            hit = next((n for n in archive.namelist()
                        if n.count("/") == 1 and n.endswith("/PKG-INFO")), None)  # fmt: skip
            raw = archive.read(hit) if hit else b""
    else:
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                parts = member.name.strip("./").split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    handle = archive.extractfile(member)
                    raw = handle.read() if handle is not None else b""
                    break
    if not raw:
        return "", ""
    headers = email.parser.BytesHeaderParser().parsebytes(raw)
    return str(headers.get("Name", "")), str(headers.get("Version", ""))


def check_identity(recipe: Recipe, facts: SdistFacts) -> None:
    """The sdist must be the release its recipe names, by its own PKG-INFO."""
    where = f"{recipe.path}: source.url"
    if not facts.name:
        raise SdistError(
            f"{where}: {recipe.sdist_filename} has no PKG-INFO naming its project",
            fix="point source.url and source.sha256 at the project's published sdist; "
            "every sdist carries PKG-INFO (PEP 643)",
        )
    try:
        same = (canonicalize_name(facts.name) == recipe.name
                and Version(facts.version) == recipe.version)  # fmt: skip
    except InvalidVersion:
        same = False
    if not same:
        raise SdistError(
            f"{where}: {recipe.sdist_filename} is {facts.name} {facts.version} by its "
            f"PKG-INFO, not {recipe.name} {recipe.version}",
            fix="correct source.url and source.sha256 (or project.name and project.version)",
        )


def remember(cache: Path, sha256: str, facts: SdistFacts) -> None:
    """Keep the facts of the sdist with this sha256."""
    document = {
        "version": _VERSION,
        "newest-mtime": facts.newest_mtime,
        "build-requires": list(facts.build_requires),
        "pkg-info-name": facts.name,
        "pkg-info-version": facts.version,
    }
    write_atomic(memo_path(cache, sha256), json.dumps(document, sort_keys=True))
