"""The sandbox every build and test runs in: bubblewrap from Debian.

A job sees the system read-only (/usr, /etc and the merged-/usr links), the interpreter
it builds with and the farm's download cache read-only, and nothing else of the host:
its own directory is the only writable place besides a private /tmp; /run and /home
are not there, so no host socket and no other user's files; its own PID, IPC, UTS,
cgroup and network namespaces, so no other process, no /proc/<pid>/environ of an
ancestor, and no network. The environment is the one the farm builds (an allowlist:
`build.backend_env`), never the caller's.

Where bubblewrap cannot run, builds refuse unless `--no-sandbox` is given; a build's
inputs name the sandbox it ran in, so the record says which.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from builder.errors import SandboxError

NONE: Final = "none (--no-sandbox)"
_MERGED: Final = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@cache
def bubblewrap() -> str | None:
    """`bubblewrap X.Y.Z` when it can make a sandbox here, else None."""
    binary = shutil.which("bwrap")
    if binary is None:
        return None
    probe = subprocess.run(
        [binary, *_system(), "--unshare-all", "--die-with-parent", "--", "true"],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return None
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return version.stdout.strip() or "bubblewrap"


def describe(enabled: bool) -> str:
    """What a build's inputs say of its sandbox; raises if one is wanted and cannot be."""
    if not enabled:
        return NONE
    found = bubblewrap()
    if found is None:
        raise SandboxError(
            "cannot make a sandbox here: bubblewrap (bwrap) is missing or cannot create namespaces",
            fix="apt-get install bubblewrap (as root, or where user namespaces are allowed); "
            "or pass --no-sandbox to build without one (the records will say so)",
        )
    return found


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in _MERGED:
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    # A fresh tmpfs at /tmp and /run inside the sandbox: not the host's, which hold sockets.
    private = ["--tmpfs", "/tmp", "--tmpfs", "/run"]  # noqa: S108
    return [*args, "--dev", "/dev", "--proc", "/proc", *private]


@dataclass(frozen=True, kw_only=True)
class Sandbox:
    """One job's confinement: `writable` is its own directory."""

    writable: Path
    readable: tuple[Path, ...] = ()

    def wrap(self, argv: list[str], *, cwd: Path) -> list[str]:
        binary = shutil.which("bwrap") or "bwrap"
        args = [binary, *_system()]
        for path in sorted(set(self.readable)):
            if path.exists() and not str(path).startswith(("/usr/", "/etc/")):
                args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(self.writable), str(self.writable)]
        args += ["--unshare-all", "--die-with-parent", "--new-session",
                 "--hostname", "ipwhl-sandbox", "--chdir", str(cwd), "--"]  # fmt: skip
        return [*args, *argv]


def interpreter_prefix(python: Path) -> Path:
    """The installation an interpreter runs from (bin/python3.X -> its prefix)."""
    return python.resolve().parent.parent


def readable(interpreters: Iterable[Path], cache: Path) -> tuple[Path, ...]:
    return (*(interpreter_prefix(p) for p in interpreters), cache)
