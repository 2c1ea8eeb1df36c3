"""Debian packages the recipes need at build time: which are missing, and installing them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache

from builder.errors import SystemPackagesMissing


@cache
def _installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and "install ok installed" in result.stdout


def missing(packages: Iterable[str]) -> list[str]:
    return sorted(p for p in set(packages) if not _installed(p))


def _privileges() -> list[str] | None:
    """How to run apt-get: directly as root, through passwordless sudo (a CI runner's
    user), or not at all (a person's shell: the error prints the command instead)."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") is None:
        return None
    probe = subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False)
    return ["sudo", "-n", "DEBIAN_FRONTEND=noninteractive"] if probe.returncode == 0 else None


def install(packages: Iterable[str]) -> list[str]:
    """Install what is missing with apt-get (as root or through passwordless sudo);
    return what was installed."""
    todo = missing(packages)
    if not todo:
        return []
    command = f"apt-get install -y {' '.join(todo)}"
    sudo = _privileges()
    if shutil.which("apt-get") is None or sudo is None:
        raise SystemPackagesMissing(
            f"missing system packages: {', '.join(todo)}",
            fix=f"run `sudo apt-get update && sudo {command}`",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *todo]):
        argv = [*sudo, *argv]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemPackagesMissing(
                f"`{' '.join(argv)}` failed:\n{result.stderr.strip()}",
                fix=f"install them by hand: {command}",
            )
    _installed.cache_clear()
    return todo
