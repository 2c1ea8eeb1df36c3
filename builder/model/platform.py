"""Target platforms: one TOML file each, `platforms/<id>.toml`.

A platform is an OS, an architecture and one interpreter, plus how wheels for it are
built (`backend`) and repaired (`policy`). Its id is its file name, e.g.
`linux-x86_64-cp312`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from builder.model.tomlfields import Collector, Fields, read_toml


class OS(StrEnum):
    LINUX = "linux"
    MACOS = "macos"
    WINDOWS = "windows"


class BackendName(StrEnum):
    NATIVE = "native"
    CIBUILDWHEEL = "cibuildwheel"


class ToolchainName(StrEnum):
    HOST = "host"  # this machine's cc, glibc and -dev packages (being retired)
    ZIG = "zig"  # the pinned zig of builder/data/toolchains.toml


KEYS = {
    "os",
    "arch",
    "interpreter",
    "policy",
    "backend",
    "libc",
    "builds-pure",
    "toolchain",
    "root",
    "abi",
}
_INTERPRETER = re.compile(r"(cp|pp)(3)(\d{1,2})")
_ARCHES = {
    OS.LINUX: {"x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l"},
    OS.MACOS: {"x86_64", "arm64", "universal2"},
    OS.WINDOWS: {"AMD64", "x86", "ARM64"},
}
# Windows wheel platform tags do not follow the arch names: 32-bit x86 is `win32`.
_WINDOWS_TAGS = {"AMD64": "win_amd64", "x86": "win32", "ARM64": "win_arm64"}
_MARKER_SYSTEM = {OS.LINUX: "Linux", OS.MACOS: "Darwin", OS.WINDOWS: "Windows"}
_SYS_PLATFORM = {OS.LINUX: "linux", OS.MACOS: "darwin", OS.WINDOWS: "win32"}


@dataclass(frozen=True, kw_only=True)
class Platform:
    id: str
    os: OS
    arch: str
    interpreter: str  # a wheel python tag: cp312
    policy: str  # manylinux_2_34_x86_64, musllinux_1_2_x86_64, macosx_11_0_arm64, win_amd64
    backend: BackendName
    libc: str = "glibc"
    builds_pure: bool = False
    toolchain: ToolchainName = ToolchainName.HOST  # what compiles on the native backend
    root: str = ""  # roots/<root>.toml: the pinned system its interpreter runs on; "" the host
    pypy_abi: str = ""  # PyPy's wheel abi tag (pypy311_pp80); CPython's is its interpreter tag
    path: Path = field(compare=False)
    file_sha256: str

    @property
    def implementation(self) -> str:
        """cpython or pypy: what `sys.implementation.name` says there."""
        return "cpython" if self.interpreter.startswith("cp") else "pypy"

    @property
    def abi(self) -> str:
        """The wheel abi tag of the interpreter's own extensions (cp312, pypy311_pp80)."""
        return self.pypy_abi or self.interpreter

    @property
    def python_version(self) -> str:
        match = _INTERPRETER.fullmatch(self.interpreter)
        assert match is not None  # checked at load
        return f"{match[2]}.{match[3]}"

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values for this platform, to evaluate Requires-Dist with."""
        impl = self.implementation
        return {
            "implementation_name": impl,
            "platform_python_implementation": "CPython" if impl == "cpython" else "PyPy",
            "python_version": self.python_version,
            "python_full_version": f"{self.python_version}.0",
            "implementation_version": f"{self.python_version}.0",
            "os_name": "nt" if self.os is OS.WINDOWS else "posix",
            "sys_platform": _SYS_PLATFORM[self.os],
            "platform_system": _MARKER_SYSTEM[self.os],
            "platform_machine": self.arch,
            "platform_release": "",
            "platform_version": "",
            "extra": "",
        }


def _policy_fits(os_: OS, arch: str, policy: str) -> bool:
    if os_ is OS.MACOS:
        return policy.startswith("macosx_") and policy.endswith(f"_{arch}")
    if os_ is OS.WINDOWS:
        return policy == _WINDOWS_TAGS.get(arch)
    return policy.endswith(f"_{arch}")


def _policy_fix(os_: OS, arch: str) -> str:
    if os_ is OS.WINDOWS:
        return f"use {_WINDOWS_TAGS.get(arch, 'the wheel tag of the arch')!r}"
    if os_ is OS.MACOS:
        return f"use a tag like 'macosx_11_0_{arch}'"
    return f"use a policy ending in _{arch}, e.g. manylinux_2_28_{arch}"


def _load_one(path: Path, collector: Collector) -> Platform | None:
    data = read_toml(path, collector, code="P001")
    if data is None:
        return None
    start = len(collector.problems)
    fields = Fields(
        file=path,
        table=data,
        prefix="",
        collector=collector,
        unknown_code="P002",
        missing_code="P003",
        type_code="P004",
    )
    fields.check_keys(KEYS)
    raw_os = fields.get("os", str) or ""
    arch = fields.get("arch", str) or ""
    interpreter = fields.get("interpreter", str) or ""
    policy = fields.get("policy", str) or ""
    raw_backend = fields.get("backend", str, default="native") or "native"
    libc = fields.get("libc", str, default="glibc") or "glibc"
    builds_pure = bool(fields.get("builds-pure", bool, default=False))
    raw_toolchain = fields.get("toolchain", str, default="host") or "host"
    root = fields.get("root", str, default="") or ""
    abi = fields.get("abi", str, default="") or ""

    os_ = OS(raw_os) if raw_os in OS.__members__.values() else None
    if raw_os and os_ is None:
        collector.add(
            code="P004",
            file=path,
            field="os",
            message=f"{raw_os!r} is not a known OS",
            fix=f"use one of: {', '.join(OS)}",
        )
    if raw_backend not in BackendName.__members__.values():
        collector.add(
            code="P004",
            file=path,
            field="backend",
            message=f"{raw_backend!r} is not a known backend",
            fix=f"use one of: {', '.join(BackendName)}",
        )
    if raw_toolchain not in ToolchainName.__members__.values():
        collector.add(
            code="P004",
            file=path,
            field="toolchain",
            message=f"{raw_toolchain!r} is not a known toolchain",
            fix=f"use one of: {', '.join(ToolchainName)}",
        )
    if os_ is not None and arch and arch not in _ARCHES[os_]:
        collector.add(
            code="P004",
            file=path,
            field="arch",
            message=f"{arch!r} is not an arch of {os_}",
            fix=f"use one of: {', '.join(sorted(_ARCHES[os_]))}",
        )
    if interpreter and not _INTERPRETER.fullmatch(interpreter):
        collector.add(
            code="P005",
            file=path,
            field="interpreter",
            message=f"{interpreter!r} is not an interpreter tag",
            fix="write it as a wheel python tag, e.g. 'cp312'",
        )
    if policy and arch and os_ is not None and not _policy_fits(os_, arch, policy):
        collector.add(
            code="P006",
            file=path,
            field="policy",
            message=f"{policy!r} is not a policy for arch {arch!r}",
            fix=_policy_fix(os_, arch),
        )
    # PyPy's abi tag names its own release line (pp73, pp80), which the interpreter tag
    # does not: the platform says it, and a build whose wheel disagrees fails.
    pypy = interpreter.startswith("pp")
    wanted_abi = f"pypy{interpreter[2:]}_pp" if pypy else ""
    if pypy and not (abi.startswith(wanted_abi) and abi[len(wanted_abi) :].isdigit()):
        collector.add(
            code="P010",
            file=path,
            field="abi",
            message=f"{abi!r} is not the abi tag of a PyPy for {interpreter}"
            if abi
            else f"a PyPy platform must name its abi tag ({interpreter} alone does not say "
            "which PyPy release line)",
            fix=f'set abi = "{wanted_abi}XY" for PyPy X.Y (what `pypy3 -c \'import '
            'sysconfig; print(sysconfig.get_config_var("SOABI"))\'` prints, with _ for -)',
        )
    elif abi and not pypy:
        collector.add(
            code="P010",
            file=path,
            field="abi",
            message="only a PyPy platform names its abi tag",
            fix=f"remove abi: CPython's abi tag is its interpreter tag ({interpreter})",
        )
    expected_id = f"{raw_os}-{arch}-{interpreter}"
    if raw_os and arch and interpreter and path.stem != expected_id:
        collector.add(
            code="P007",
            file=path,
            field="(file name)",
            message=f"the file name does not match its contents ({expected_id})",
            fix=f"rename it to platforms/{expected_id}.toml",
        )
    if len(collector.problems) != start or os_ is None:
        return None
    return Platform(
        id=path.stem,
        os=os_,
        arch=arch,
        interpreter=interpreter,
        policy=policy,
        backend=BackendName(raw_backend),
        libc=libc,
        builds_pure=builds_pure,
        toolchain=ToolchainName(raw_toolchain),
        root=root,
        pypy_abi=abi,
        path=path,
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def load_platforms(directory: Path, collector: Collector) -> dict[str, Platform]:
    platforms: dict[str, Platform] = {}
    for path in sorted(directory.glob("*.toml")):
        platform = _load_one(path, collector)
        if platform is not None:
            platforms[platform.id] = platform
    pure = [p for p in platforms.values() if p.builds_pure]
    if platforms and len(pure) != 1:
        collector.add(
            code="P008",
            file=directory,
            field="builds-pure",
            message=f"{len(pure)} platforms say `builds-pure = true`"
            + (f" ({', '.join(p.id for p in pure)})" if pure else ""),
            fix="mark exactly one platform: pure wheels are built once, there, for all",
        )
    return platforms
