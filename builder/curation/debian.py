"""Debian's archive as a pinned source: a suite's signed index, and the closure of the
packages a root needs, each named by pool path and sha256.

The chain of trust is apt's: `InRelease` is checked with gpgv against Debian's archive
keyring, the `Packages.xz` it lists is checked against its sha256, and every package of
the closure is then pinned by the sha256 that index gives. A root lock made from it needs
no trust in the mirror afterwards: the farm fetches each package by its pin.
"""

from __future__ import annotations

import hashlib
import itertools
import lzma
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.errors import CurationError, FetchError, TamperedError

KEYRING: Final = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass(frozen=True, kw_only=True)
class Deb:
    name: str
    version: str
    filename: str  # the pool path under the mirror
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class Index:
    date: str  # the suite's Release date
    packages: Mapping[str, Mapping[str, str]]  # name -> its stanza
    provides: Mapping[str, tuple[str, ...]]  # virtual name -> real packages


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"cannot download {url}: {e}",
                         fix="check the mirror and the network") from e  # fmt: skip


def signed_index(mirror: str, suite: str, arch: str, *, keyring: Path = KEYRING) -> Index:
    """The `main` packages of `suite` for `arch`, through a signature-checked InRelease."""
    inrelease = _get(f"{mirror}/dists/{suite}/InRelease")
    checked = subprocess.run(
        ["gpgv", "--keyring", str(keyring), "--output", "-", "-"],
        input=inrelease, capture_output=True, check=False,
    )  # fmt: skip
    if checked.returncode != 0:
        raise TamperedError(
            f"{mirror}/dists/{suite}/InRelease has no good signature by {keyring}: "
            f"{checked.stderr.decode(errors='replace').strip()}",
            fix="use a Debian mirror; install debian-archive-keyring for newer keys",
        )
    release = checked.stdout.decode()
    wanted = f"main/binary-{arch}/Packages.xz"
    listed = re.search(rf"^ ([0-9a-f]{{64}}) +(\d+) {re.escape(wanted)}$", _sha256_section(release),
                       re.MULTILINE)  # fmt: skip
    if listed is None:
        raise CurationError(f"{suite}'s InRelease lists no {wanted}", fix="check the suite name")
    packages_xz = _get(f"{mirror}/dists/{suite}/{wanted}")
    if hashlib.sha256(packages_xz).hexdigest() != listed[1] or len(packages_xz) != int(listed[2]):
        raise TamperedError(f"{mirror}/dists/{suite}/{wanted} is not what InRelease lists",
                            fix="retry; if it persists, the mirror is inconsistent")  # fmt: skip
    date = re.search(r"^Date: (.+)$", release, re.MULTILINE)
    return parse_packages(lzma.decompress(packages_xz).decode(), date[1] if date else "")


def _sha256_section(release: str) -> str:
    """The indented lines under `SHA256:` (the other checksum fields are not trusted)."""
    start = release.find("\nSHA256:\n")
    if start < 0:
        return ""
    lines = release[start + len("\nSHA256:\n") :].splitlines()
    return "\n".join(itertools.takewhile(lambda line: line.startswith(" "), lines))


def parse_packages(text: str, date: str = "") -> Index:
    packages: dict[str, dict[str, str]] = {}
    provides: dict[str, list[str]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t"):
                if key:
                    fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        name = fields.get("Package")
        if not name:
            continue
        packages[name] = fields
        for virtual in _names(fields.get("Provides", "")):
            provides.setdefault(virtual, []).append(name)
    return Index(date=date, packages=packages,
                 provides={k: tuple(sorted(v)) for k, v in provides.items()})  # fmt: skip


def _names(field: str) -> list[str]:
    return [part.strip().split(" ")[0].split(":")[0] for part in field.split(",") if part.strip()]


def closure(index: Index, wanted: Iterable[str]) -> list[Deb]:
    """Every package `wanted` needs to run (Pre-Depends and Depends, recursively), sorted.

    Of alternatives (`a | b`) the first one present is taken, unless another is already
    in; a virtual package resolves to the first real package providing it."""
    chosen: dict[str, Mapping[str, str]] = {}
    pending = list(wanted)
    while pending:
        name = _real(index, pending.pop(0), chosen)
        if name in chosen:
            continue
        stanza = index.packages[name]
        chosen[name] = stanza
        for field in ("Pre-Depends", "Depends"):
            for group in stanza.get(field, "").split(","):
                options = _names(group.replace("|", ","))
                if options:
                    taken = next((o for o in options if o in chosen), None)
                    pending.append(taken or next(
                        (o for o in options if o in index.packages or o in index.provides),
                        options[0],
                    ))  # fmt: skip
    return sorted((Deb(name=n, version=s["Version"], filename=s["Filename"], sha256=s["SHA256"],
                       size=int(s["Size"])) for n, s in chosen.items()),
                  key=lambda d: d.name)  # fmt: skip


def _real(index: Index, name: str, chosen: Mapping[str, object]) -> str:
    if name in index.packages:
        return name
    providers = index.provides.get(name, ())
    for provider in providers:
        if provider in chosen:
            return provider
    if not providers:
        raise CurationError(f"no package or provider of {name!r} in the index",
                            fix="check the package name against the suite")  # fmt: skip
    return providers[0]
