"""The sandbox every build and test runs in: bubblewrap from Debian.

A job sees the system read-only (/usr, /etc and the merged-/usr links), the interpreter
it builds with and the farm's download cache read-only, and nothing else of the host:
its own directory is the only writable place besides a private /tmp; /run and /home
are not there, so no host socket and no other user's files; its own PID, IPC, UTS,
cgroup and network namespaces, so no other process, no /proc/<pid>/environ of an
ancestor, and no network. The environment is the one the farm builds (an allowlist:
`build.backend_env`), never the caller's.

A job runs as an unprivileged user, uid and gid 65534 (`nobody`), with no
capabilities, whoever starts the farm. Started as root, bubblewrap makes the mounts
with root's rights (so an interpreter under a 0700 /root can be bound) and setpriv
then drops to 65534 for real: outside the sandbox too the job is nobody, so what
the read-only system holds for root alone (/etc/shadow, host keys) stays closed,
and the job's directory is handed to 65534 first. Started by another user, bubblewrap
maps that user to 65534 in a user namespace (where the kernel allows those).

Where bubblewrap cannot run, builds refuse unless `--no-sandbox` is given; a build's
inputs name the sandbox it ran in, so the record says which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from builder.errors import SandboxError

NONE: Final = "none (--no-sandbox)"
UID: Final = 65534  # nobody/nogroup on Debian; no file of the system belongs to it
_MERGED: Final = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_HEADERS: Final = ("/usr/include", "/usr/local/include")


@cache
def bubblewrap() -> str | None:
    """`bubblewrap X.Y.Z` when it can make a sandbox here, else None."""
    binary = shutil.which("bwrap")
    if binary is None:
        return None
    probe = subprocess.run(
        [binary, *_system(), *_confinement(), "--", *_as_nobody(), "true"],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return None
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return f"{version.stdout.strip() or 'bubblewrap'}, uid {UID}"


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


def top_levels(root: Path) -> list[str]:
    """/bin, /lib and the like of `root`: links into /usr in a merged system, read-only
    directories of their own in one whose packages predate the merge (bookworm's keep
    the loader in /lib)."""
    args: list[str] = []
    for top in _MERGED:
        path = root / top.lstrip("/")
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            args += ["--ro-bind", str(path), top]
    return args


def _system(root: Path = Path("/")) -> list[str]:
    """The read-only system: this machine's, or a root of pinned packages (`roots`)."""
    args = ["--ro-bind", str(root / "usr"), "/usr"]
    if (root / "etc").is_dir():
        args += ["--ro-bind", str(root / "etc"), "/etc"]
    args += top_levels(root)
    # A fresh tmpfs at /tmp and /run inside the sandbox: not the host's, which hold sockets.
    # /dev/shm too, writable by the job's user: multiprocessing's semaphores live there.
    private = ["--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run",  # noqa: S108
               "--perms", "1777", "--tmpfs", "/dev/shm"]  # noqa: S108  # fmt: skip
    return [*args, "--dev", "/dev", "--proc", "/proc", *private]


def _confinement(network: bool = False) -> list[str]:
    """Namespaces; a user namespace only when not root: root's sandbox must keep the
    real uid 65534 reachable for setpriv, which a user namespace would not map."""
    spaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        spaces.append("--unshare-net")
    if os.geteuid() != 0:
        spaces += ["--unshare-user", "--uid", str(UID), "--gid", str(UID)]
    return [*spaces, "--die-with-parent", "--new-session"]


def _as_nobody() -> list[str]:
    """Root's last step into the sandbox: become 65534 with no capability left."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]  # fmt: skip


def _parents(paths: Iterable[Path]) -> list[str]:
    """Every directory above a bound path: bubblewrap would copy each one's mode from
    the host (a 0700 /root), which 65534 could not then enter."""
    made = {"/", "/tmp", "/run", "/dev", "/proc"}  # noqa: S108 (the sandbox's own)
    found = {str(parent) for path in paths for parent in path.parents}
    found = {d for d in found if d not in made and not d.startswith(("/usr/", "/etc/"))}
    return sorted(found, key=lambda d: d.count("/"))


def _hand_over(directory: Path) -> None:
    """Give the job's directory to 65534, never following a link out of it."""
    if os.geteuid() != 0:
        return
    os.lchown(directory, UID, UID)
    for top, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            os.lchown(Path(top) / name, UID, UID)


@dataclass(frozen=True, kw_only=True)
class Sandbox:
    """One job's confinement: `writable` is its own directory."""

    writable: Path
    readable: tuple[Path, ...] = ()
    system: Path = Path("/")  # the root whose /usr and /etc the job sees
    # The host's network: never for a build or a test, only for a user's installer on a
    # root (pip from a gateway), which has no other way out.
    network: bool = False
    # An empty /usr/include (and /usr/local/include): for builds with the pinned
    # toolchain, which must find no header of the host's -dev packages.
    hide_host_headers: bool = False
    # Directories under the hidden ones shown again from the system (a root's Python
    # headers).
    keep_headers: tuple[str, ...] = ()

    def wrap(self, argv: list[str], *, cwd: Path) -> list[str]:
        """The command that runs `argv` confined; hands `writable` to the sandbox's
        user first, so call it just before running."""
        binary = shutil.which("bwrap") or "bwrap"
        bound = [p for p in sorted(set(self.readable))
                 if p.exists() and not str(p).startswith(("/usr/", "/etc/"))]  # fmt: skip
        args = [binary, *_system(self.system)]
        if self.hide_host_headers:
            args += [arg for d in _HEADERS if (self.system / d.lstrip("/")).is_dir()
                     for arg in ("--tmpfs", d)]  # fmt: skip
            for kept in self.keep_headers:
                # The directories bubblewrap makes on the way in the tmpfs are 0700.
                for above in reversed(Path(kept).parents):
                    if str(above).startswith(tuple(f"{d}/" for d in _HEADERS)):
                        args += ["--perms", "0755", "--dir", str(above)]
                args += ["--ro-bind", str(self.system / kept.lstrip("/")), kept]
        for parent in _parents([*bound, self.writable]):
            args += ["--perms", "0755", "--dir", parent]
        for path in bound:
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(self.writable), str(self.writable)]
        args += [
            *_confinement(self.network),
            "--hostname",
            "ipwhl-sandbox",
            "--chdir",
            str(cwd),
            "--",
        ]
        _hand_over(self.writable)
        return [*args, *_as_nobody(), *argv]


def interpreter_prefix(python: Path) -> Path:
    """The installation an interpreter runs from (bin/python3.X -> its prefix)."""
    return python.resolve().parent.parent


def readable(interpreters: Iterable[Path], cache: Path) -> tuple[Path, ...]:
    return (*(interpreter_prefix(p) for p in interpreters), cache)
