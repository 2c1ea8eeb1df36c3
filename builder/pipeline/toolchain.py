"""The pinned C/C++ toolchain: zig's clang, fetched by sha256, the same on every host.

`zig cc -target <arch>-linux-gnu.<glibc>` compiles and links against the glibc version
the platform's manylinux policy names, from headers and stubs zig ships itself: no
host compiler, header or library is on the path of a wheel. The wrappers pin the
target with an explicit architecture and a baseline CPU (zig otherwise tunes for the
build machine) and give every job its own zig cache.
"""

from __future__ import annotations

import platform as host
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from builder.errors import DataError, InterpreterNotFound
from builder.model.data import data_path, load_data
from builder.model.platform import Platform
from builder.pipeline.fetch import fetch_by_hash

_WRAPPED = {"cc": "cc", "c++": "c++", "ar": "ar", "ranlib": "ranlib"}  # wrapper -> zig tool
# Flags some build systems pass that zig's linker refuses (Debian's LDSHARED has one).
_DROPPED = ("-Bsymbolic-functions", "-Wl,-Bsymbolic-functions")


@dataclass(frozen=True, kw_only=True)
class Zig:
    version: str
    url: str
    sha256: str

    def describe(self, target: str) -> dict[str, str]:
        """The toolchain by meaning, for a job's inputs."""
        return {"zig": self.version, "zig-sha256": self.sha256, "target": target}


def pinned_zig(machine: str | None = None) -> Zig:
    """The zig of builder/data/toolchains.toml for the machine that runs it."""
    version, url, sha256 = _pinned("zig", machine)
    return Zig(version=version, url=url, sha256=sha256)


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A pinned build tool the build machine runs (cmake, ninja), shipped as a wheel."""

    name: str
    version: str
    url: str
    sha256: str
    binary: str  # its path inside the wheel

    def describe(self) -> dict[str, str]:
        return {self.name: self.version, f"{self.name}-sha256": self.sha256}


def pinned_tool(name: str, machine: str | None = None) -> Tool:
    """The tool of builder/data/toolchains.toml for the machine that runs it."""
    version, url, sha256 = _pinned(name, machine)
    binary = load_data("toolchains.toml")[name].get("binary")
    if not isinstance(binary, str):
        raise DataError(
            f"{data_path('toolchains.toml')}: {name}.binary: missing",
            fix="name the tool's executable by its path inside the wheel",
        )
    return Tool(name=name, version=version, url=url, sha256=sha256, binary=binary)


def pinned_cmake(machine: str | None = None) -> Tool:
    """The cmake that configures the libraries built with cmake."""
    return pinned_tool("cmake", machine)


def _pinned(tool: str, machine: str | None) -> tuple[str, str, str]:
    machine = machine or host.machine()
    table = load_data("toolchains.toml").get(tool)
    version = table.get("version") if isinstance(table, dict) else None
    wheel = table.get(machine) if isinstance(table, dict) else None
    if not isinstance(version, str):
        raise DataError(
            f"{data_path('toolchains.toml')}: {tool}.version: missing",
            fix=f"name the pinned {tool} version",
        )
    if not isinstance(wheel, dict) or not {"url", "sha256"} <= wheel.keys():
        raise InterpreterNotFound(
            f"no pinned {tool} for a {machine} build machine",
            fix=f"add [{tool}.{machine}] (url, sha256 of its wheel) to "
            f"{data_path('toolchains.toml')}",
        )
    return version, str(wheel["url"]), str(wheel["sha256"])


def target(platform: Platform) -> str:
    """zig's target for a manylinux platform, e.g. x86_64-linux-gnu.2.17."""
    found = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform.policy)
    if found is None or platform.libc != "glibc":
        raise DataError(
            f"{platform.path}: policy: {platform.policy!r} is not a manylinux_X_Y policy",
            fix="the zig toolchain builds manylinux wheels: name a policy like "
            f"manylinux_2_17_{platform.arch}",
        )
    return f"{platform.arch}-linux-gnu.{found[1]}.{found[2]}"


def install(zig: Zig, cache: Path) -> Path:
    """The zig binary, unpacked once per wheel sha256 under `<cache>/toolchains/`."""
    what = "builder/data/toolchains.toml: zig"
    return _install_wheel(zig.url, zig.sha256, cache / "toolchains" / f"zig-{zig.sha256}",
                          "ziglang/zig", what=what)  # fmt: skip


def install_tool(tool: Tool, cache: Path) -> Path:
    """The tool's binary, unpacked once per wheel sha256 under `<cache>/toolchains/`."""
    what = f"builder/data/toolchains.toml: {tool.name}"
    return _install_wheel(tool.url, tool.sha256,
                          cache / "toolchains" / f"{tool.name}-{tool.sha256}",
                          tool.binary, what=what)  # fmt: skip


def _install_wheel(url: str, sha256: str, home: Path, binary_name: str, *, what: str) -> Path:
    """A tool shipped as a wheel, fetched by sha256 and unpacked once into `home`."""
    binary = home / binary_name
    if binary.is_file():
        if home.stat().st_mode & 0o777 != 0o755:  # unpacked 0700 before jobs ran as 65534
            home.chmod(0o755)
        return binary
    wheel = fetch_by_hash(
        url, sha256, home.with_name(f"{home.name}.whl"), what=what,
        fix="the pinned wheel changed upstream or was tampered with; check the pin",
    )  # fmt: skip
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}."))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise DataError(f"{wheel}: unsafe member {info.filename}", fix="check the pin")
                archive.extract(info, staging)
                if info.external_attr >> 16 & 0o111:
                    (staging / name).chmod(0o755)
        (staging / binary_name).chmod(0o755)
        staging.chmod(0o755)  # mkdtemp's 0700 would shut out the sandbox's user
        staging.rename(home)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not binary.is_file():  # another run may have unpacked it first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def wrapper_scripts(zig_binary: str, zig_target: str) -> dict[str, str]:
    """File name -> text of the wrappers for one target (pure: a job's inputs use it)."""
    # POSIX sh: walk the arguments once, keeping all but the dropped flags.
    drop = " ".join(f'"{flag}") ;;' for flag in _DROPPED)
    scripts = {}
    for name, tool in _WRAPPED.items():
        flags = f"-target {zig_target} -mcpu=baseline" if tool in ("cc", "c++") else ""
        scripts[f"zig-{name}"] = (
            "#!/bin/sh\n"
            "# Written by ipwhl: the pinned zig, for one target.\n"
            f'for a do shift; case "$a" in {drop} *) set -- "$@" "$a" ;; esac; done\n'
            f'exec "{zig_binary}" {tool} {flags} "$@"\n'
        )
    return scripts


def linker_script(zig_binary: str) -> dict[str, str]:
    """The `zig-ld` wrapper: zig's ld.lld, for the libraries' builds (pure). libtool's
    configure looks for a GNU-compatible `ld` of its own; without LD it probes the
    host's binutils, which a minimal system lacks and which are not an input."""
    return {
        "zig-ld": (
            "#!/bin/sh\n"
            "# Written by ipwhl: the pinned zig's linker.\n"
            f'exec "{zig_binary}" ld.lld "$@"\n'
        )
    }


def build_machine_script(zig_binary: str, machine: str) -> dict[str, str]:
    """The `zig-build-cc` wrapper: zig's clang for the machine the build runs on (pure).
    A cross build compiles helper programs it runs itself (freetype's apinames) with
    CC_FOR_BUILD; the host's cc would need the host's headers, which are hidden."""
    return {
        "zig-build-cc": (
            "#!/bin/sh\n"
            "# Written by ipwhl: the pinned zig, for the build machine.\n"
            f'exec "{zig_binary}" cc -target {machine}-linux-gnu.2.17 -mcpu=baseline "$@"\n'
        )
    }


def compiler_env(directory: Path) -> dict[str, str]:
    """CC, CXX, AR, RANLIB and LDSHARED naming the wrappers in `directory/bin`, and the
    job's own zig caches under `directory` (pure)."""
    bin_dir = directory / "bin"
    cc, cxx = str(bin_dir / "zig-cc"), str(bin_dir / "zig-c++")
    return {
        "CC": cc,
        "CXX": cxx,
        "AR": str(bin_dir / "zig-ar"),
        "RANLIB": str(bin_dir / "zig-ranlib"),
        # Not the interpreter's LDSHARED: pyenv's names its own lib directory as an
        # rpath, which would end up in every wheel.
        "LDSHARED": f"{cc} -shared",
        "LDCXXSHARED": f"{cxx} -shared",
        "ZIG_GLOBAL_CACHE_DIR": str(directory / "zig-global-cache"),
        "ZIG_LOCAL_CACHE_DIR": str(directory / "zig-local-cache"),
    }


def write_wrappers(directory: Path, scripts: dict[str, str]) -> None:
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
