"""Foreign architectures on this machine: qemu-user through the kernel's binfmt_misc.

An interpreter of another architecture (an arm64 root's CPython) runs here when the
kernel hands its ELF files to qemu. The entry must have the F flag: the kernel then
opens qemu when it is registered, so it works inside the sandbox, whose /usr is the
root's and holds no qemu. Only Python runs emulated; the pinned zig cross-compiles
natively, so the wheels' bytes do not depend on qemu.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Final

BINFMT: Final = Path("/proc/sys/fs/binfmt_misc")


@cache
def emulator(arch: str, binfmt: Path = BINFMT) -> Path | None:
    """qemu's interpreter for `arch` when the kernel runs such binaries through it with
    the F flag, else None."""
    entry = binfmt / f"qemu-{arch}"
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    if not lines or lines[0] != "enabled" or "F" not in fields.get("flags:", ""):
        return None
    return Path(fields.get("interpreter", ""))


@cache
def describe(arch: str) -> str:
    """qemu's version for a job's inputs: what ran the interpreter's Python code."""
    found = emulator(arch)
    if found is None:
        return "none"
    # Debian's entry is a link named *-binfmt-P, which refuses to run by that name.
    out = subprocess.run([str(found.resolve()), "--version"], capture_output=True, text=True,
                         check=False)  # fmt: skip
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else str(found)


def why_not(arch: str) -> str:
    return (
        f"needs qemu-user for {arch} registered with binfmt_misc's F flag "
        f"(apt-get install qemu-user-static binfmt-support; {BINFMT} mounted)"
    )
