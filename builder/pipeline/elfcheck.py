"""What of the build machine a wheel's ELF files still name: search paths and strings.

A wheel is built at a fixed path by a fixed toolchain, but an interpreter's LDSHARED or
an unstripped object can still carry a RUNPATH or a path of the machine that built it;
such a wheel works only where that path exists and differs on every other machine.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from builder.paths import DEFAULT_BUILD_ROOT

_ELF_MAGIC = b"\x7fELF"
# Where a build machine keeps what a wheel must not name: the build root, home
# directories, the farm's cache, an interpreter manager's tree, the system's headers.
BUILD_MACHINE_PATHS = (str(DEFAULT_BUILD_ROOT), "/root/", "/home/", "/.cache/ipwhl", "/.pyenv/",
                       "/usr/include")  # fmt: skip


def elf_members(wheel: Path) -> dict[str, bytes]:
    """Every ELF file in the wheel, by member name."""
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            data = archive.read(info)
            if data.startswith(_ELF_MAGIC):
                found[info.filename] = data
    return found


def machine_traces(wheel: Path, paths: Iterable[str]) -> list[str]:
    """RPATH and RUNPATH entries of every ELF file, and every occurrence of one of
    `paths` (the build root, home directories, toolchain locations) in its bytes."""
    needles = [p.encode() for p in paths if p]
    traces = []
    for name, data in sorted(elf_members(wheel).items()):
        try:
            elf = ELFFile(io.BytesIO(data))
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        if tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
                            value = str(getattr(tag, "rpath", None) or getattr(tag, "runpath", ""))
                            # $ORIGIN-relative entries (auditwheel's grafted libraries)
                            # name the wheel's own files, not the machine's.
                            if any(not e.startswith("$ORIGIN") for e in value.split(":")):
                                traces.append(f"{name}: {tag.entry.d_tag[3:]} {value}")
        except ELFError as e:
            traces.append(f"{name}: not a readable ELF file ({e})")
        traces += [f"{name}: holds {n.decode()!r}" for n in needles if n in data]
    return traces


def glibc_needed(wheel: Path) -> tuple[int, int]:
    """The newest glibc symbol version any ELF file of the wheel asks for ((0, 0): none):
    the oldest glibc the wheel can load on."""
    newest = (0, 0)
    for data in elf_members(wheel).values():
        try:
            sections = ELFFile(io.BytesIO(data)).iter_sections()
            for section in sections:
                if not isinstance(section, GNUVerNeedSection):
                    continue
                for _needed, versions in section.iter_versions():
                    for version in versions:
                        found = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", version.name)
                        if found:
                            newest = max(newest, (int(found[1]), int(found[2])))
        except ELFError:
            continue  # machine_traces reports an unreadable file
    return newest
