"""`roots/<name>.toml`: a system root, a pinned set of Debian packages unpacked together.

An interpreter this machine's own system cannot run (Debian sid's CPython 3.14 and 3.15
and its PyPy need glibc 2.42; this is Debian 12, glibc 2.36) runs on a root of its own:
its packages and all they depend on, each named by pool path and sha256, unpacked into
one directory that the sandbox mounts as the job's /usr. `ipwhl root-lock` writes the
file from a suite's signed index; the farm trusts the sha256s, never the mirror.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.curation.debian import Deb
from builder.errors import InputError, Problem
from builder.tomlwrite import TomlValue, dumps

ROOTS_DIR: Final = "roots"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIX: Final = "regenerate it: ipwhl root-lock NAME PACKAGE... (it is written, not edited)"
_DEBIAN_ARCH: Final = {"x86_64": "amd64", "aarch64": "arm64"}


def debian_arch(arch: str) -> str:
    """Debian's name of a wheel's architecture (a root's `arch`): aarch64 -> arm64."""
    return _DEBIAN_ARCH.get(arch, arch)


@dataclass(frozen=True, kw_only=True)
class Root:
    name: str
    mirror: str
    suite: str
    release_date: str
    wanted: tuple[str, ...]
    debs: tuple[Deb, ...]
    path: Path
    arch: str = "amd64"  # Debian's name for it (arm64 is aarch64)
    sha256: str  # of the file: names the unpacked root and enters each job's inputs


def root_text(*, name: str, mirror: str, suite: str, release_date: str,
              wanted: list[str], debs: list[Deb], arch: str = "amd64") -> str:  # fmt: skip
    chosen = (("suite", suite, "sid"), ("arch", arch, "amd64"))
    options = "".join(f" --{key} {value}" for key, value, default in chosen if value != default)
    header = (
        f"# Written by `ipwhl root-lock {name} {' '.join(wanted)}{options}` from {suite}'s signed "
        f"index\n# of {release_date}: every package these need, pinned by sha256. Do not edit.\n"
    )
    arch_entry: dict[str, TomlValue] = {"arch": arch} if arch != "amd64" else {}
    return header + dumps({
        "mirror": mirror, "suite": suite, **arch_entry, "release-date": release_date,
        "wanted": list[TomlValue](wanted),
        "deb": [{"name": d.name, "version": d.version, "filename": d.filename,
                 "sha256": d.sha256, "size": d.size} for d in debs],
    })  # fmt: skip


def load_root(farm_root: Path, name: str) -> Root:
    path = farm_root / ROOTS_DIR / f"{name}.toml"
    raw = path.read_bytes() if path.is_file() else None
    if raw is None:
        raise _problem(path, "(file)", f"no root {name!r}")
    try:
        data = tomllib.loads(raw.decode())
        debs = tuple(
            Deb(name=d["name"], version=d["version"], filename=d["filename"],
                sha256=d["sha256"], size=int(d["size"]))
            for d in data["deb"]
        )  # fmt: skip
        root = Root(name=name, mirror=data["mirror"], suite=data["suite"],
                    release_date=data["release-date"], wanted=tuple(data["wanted"]), debs=debs,
                    path=path, sha256=hashlib.sha256(raw).hexdigest(),
                    arch=str(data.get("arch", "amd64")))  # fmt: skip
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise _problem(path, "(file)", f"not a root lock: {e!r}") from e
    for deb in debs:
        if (
            not _SHA256.fullmatch(deb.sha256)
            or not deb.filename.startswith("pool/")
            or (".." in deb.filename.split("/"))
        ):
            raise _problem(path, f"deb.{deb.name}", "needs a pool/ filename and a sha256")
    return root


def _problem(path: Path, field: str, message: str) -> InputError:
    return InputError([Problem(code="T001", file=path, field=field, message=message, fix=_FIX)])
