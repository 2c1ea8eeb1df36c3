"""What of the build machine a wheel's ELF files still name: search paths and strings.

A wheel is built at a fixed path by a fixed toolchain, but an interpreter's LDSHARED or
an unstripped object can still carry a RUNPATH or a path of the machine that built it;
such a wheel works only where that path exists and differs on every other machine.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from elftools.elf.sections import SymbolTableSection

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


def _members(wheel: Path | Mapping[str, bytes]) -> Mapping[str, bytes]:
    """A wheel's ELF files: read from the wheel, or as already read by the caller, which
    then unpacks each wheel once for every check."""
    return elf_members(wheel) if isinstance(wheel, Path) else wheel


def machine_traces(wheel: Path | Mapping[str, bytes], paths: Iterable[str]) -> list[str]:
    """RPATH and RUNPATH entries of every ELF file, and every occurrence of one of
    `paths` (the build root, home directories, toolchain locations) in its bytes."""
    needles = [p.encode() for p in paths if p]
    traces = []
    for name, data in sorted(_members(wheel).items()):
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


def glibc_needed(wheel: Path | Mapping[str, bytes]) -> tuple[int, int]:
    """The newest glibc symbol version any ELF file of the wheel asks for ((0, 0): none):
    the oldest glibc the wheel can load on."""
    newest = (0, 0)
    for data in _members(wheel).values():
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


# The C++ runtime's own ABI: what libstdc++ and libc++abi both define. std:: outside
# libc++'s versioned namespace (std::__1), the exception machinery and the unwinder.
_CXX_RUNTIME = re.compile(r"_Z(?:T[ISV])?N?K?St(?!3__1)|_ZSt|__cxa_|__gxx_personality|_Unwind_")
# glibc's, not the C++ runtime's, despite the prefix.
_LIBC_CXA = frozenset(("__cxa_atexit", "__cxa_finalize", "__cxa_thread_atexit_impl"))
_SHARED_RUNTIMES = ("libstdc++.so", "libc++.so", "libc++abi.so")


def cxx_runtime_symbols(wheel: Path | Mapping[str, bytes]) -> list[str]:
    """Symbols of the C++ runtime an ELF file that links no shared C++ runtime exports
    or imports. A statically linked runtime must keep its ABI to itself: an
    exported `__cxa_throw` or `typeinfo for std::exception` interposes with the
    libstdc++ of every other extension in the process, and an imported one binds to
    whichever runtime the process loaded first. libc++'s own std::__1 (a versioned
    namespace libstdc++ never defines) and operator new/delete (malloc and free on
    either side) may be shared."""
    found = []
    for name, data in sorted(_members(wheel).items()):
        try:
            elf = ELFFile(io.BytesIO(data))
            dynamic = elf.get_section_by_name(".dynamic")
            needed = [
                str(getattr(tag, "needed", ""))
                for tag in (dynamic.iter_tags() if isinstance(dynamic, DynamicSection) else ())
                if tag.entry.d_tag == "DT_NEEDED"
            ]
            symbols = elf.get_section_by_name(".dynsym")
            unwinder = any(n.startswith("libgcc_s.so") for n in needed)
            if any(n.startswith(_SHARED_RUNTIMES) for n in needed):
                continue  # one shared runtime for the whole process: what manylinux does
            if not isinstance(symbols, SymbolTableSection):
                continue
            for symbol in symbols.iter_symbols():
                if symbol["st_info"]["bind"] == "STB_LOCAL" or symbol.name in _LIBC_CXA:
                    continue
                if not _CXX_RUNTIME.match(symbol.name):
                    continue
                imported = symbol["st_shndx"] == "SHN_UNDEF"
                if imported and symbol.name.startswith("_Unwind_") and unwinder:
                    continue  # libgcc_s's unwinder, shared by C code too (pthread_cancel)
                verb = "imports" if imported else "exports"
                found.append(f"{name}: {verb} {symbol.name}")
        except ELFError:
            continue  # machine_traces reports an unreadable file
    return found


def interpreter_bound(wheel: Path | Mapping[str, bytes]) -> list[str]:
    """ELF files an interpreter loads or that load one: extension modules (they define
    `PyInit_<name>`, the entry point every CPython and PyPy imports them by) and
    programs or libraries linked against libpython or libpypy. A wheel holding one
    serves one interpreter only, never every interpreter as a program's wheel does."""
    found = []
    for name, data in sorted(_members(wheel).items()):
        try:
            elf = ELFFile(io.BytesIO(data))
            dynamic = elf.get_section_by_name(".dynamic")
            for tag in dynamic.iter_tags() if isinstance(dynamic, DynamicSection) else ():
                needed = str(getattr(tag, "needed", ""))
                if tag.entry.d_tag == "DT_NEEDED" and needed.startswith(("libpython", "libpypy")):
                    found.append(f"{name}: links {needed}")
            symbols = elf.get_section_by_name(".dynsym")
            for symbol in symbols.iter_symbols() if isinstance(symbols, SymbolTableSection) else ():
                if symbol.name.startswith("PyInit_") and symbol["st_shndx"] != "SHN_UNDEF":
                    found.append(f"{name}: defines {symbol.name}, an extension module")
        except ELFError:
            continue  # machine_traces reports an unreadable file
    return found
