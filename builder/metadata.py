"""A wheel's core metadata (METADATA, PEP 658's `.metadata`): the one reader of it.

Every stage that needs a wheel's name, version, dependencies or Python range reads
them here, from the wheel itself or from the `.metadata` bytes a tree serves.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from builder.errors import MetadataError


@dataclass(frozen=True, kw_only=True)
class Metadata:
    name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...]

    @classmethod
    def parse(cls, raw: bytes) -> Metadata:
        headers = parse_headers(raw)
        requires_python = headers.get("Requires-Python")
        return cls(
            name=str(headers["Name"] or ""),
            version=str(headers["Version"] or ""),
            requires_dist=tuple(str(r) for r in headers.get_all("Requires-Dist") or ()),
            requires_python=str(requires_python).strip() if requires_python else None,
            provides_extra=tuple(str(e) for e in headers.get_all("Provides-Extra") or ()),
        )


def parse_headers(raw: bytes) -> Message:
    """RFC 822 headers of METADATA or PKG-INFO; undecodable bytes are replaced, not fatal."""
    return HeaderParser().parsestr(raw.decode("utf-8", errors="replace"))


def metadata_name(members: list[str]) -> str | None:
    """The one top-level `<name>.dist-info/METADATA` among a wheel's members, if exactly one."""
    names = [n for n in members if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    return names[0] if len(names) == 1 else None


def read_metadata(wheel: Path, *, label: str = "") -> bytes:
    """The METADATA bytes of `wheel` (what a tree serves as `<wheel>.metadata`)."""
    label = label or wheel.name
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = metadata_name(archive.namelist())
            if name is None:
                raise MetadataError(
                    f"{label} does not have exactly one top-level .dist-info/METADATA",
                    fix="a wheel has exactly one; rebuild it (`ipwhl build`)",
                )
            return archive.read(name)
    except (OSError, zipfile.BadZipFile) as e:
        raise MetadataError(
            f"cannot read {label} ({wheel}): {e}",
            fix="the file is damaged; delete it and rebuild the job that made it",
        ) from e
