"""The build root: one private directory per user, owner-checked before any job runs.

Its path is fixed (an input of every build, so that paths a backend records are the
same on every rebuild), which makes it predictable: under a shared /tmp, another local
user could create it first and plant links in it. So it is made 0700 when missing,
and an existing one must be a real directory that this user owns and no one else can
write, or nothing is built.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from builder.errors import BuildRootError


def private(root: Path) -> Path:
    """`root`, made 0700 if missing; raises BuildRootError unless it is ours alone."""
    fix = f"remove {root} (as its owner or root) or pass --build-root DIR, a directory you own"
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise BuildRootError(f"cannot create the build root {root}: {e.strerror}",
                             fix=fix) from e  # fmt: skip
    found = root.lstat()
    if stat.S_ISLNK(found.st_mode) or not stat.S_ISDIR(found.st_mode):
        raise BuildRootError(f"the build root {root} is not a directory but a link or a file",
                             fix=fix)  # fmt: skip
    if found.st_uid != os.geteuid():
        raise BuildRootError(
            f"the build root {root} belongs to uid {found.st_uid}, not to you "
            f"(uid {os.geteuid()}): its owner could plant links in your builds",
            fix=fix,
        )
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BuildRootError(
            f"the build root {root} is writable by others (mode {stat.filemode(found.st_mode)})",
            fix=f"chmod go-w {root}, or pass --build-root DIR, a directory only you can write",
        )
    return root


def remove_job(directory: Path) -> None:
    """A job's directory, once its wheel passed: nothing there is needed again (a
    rebuild starts empty), and a full set leaves gigabytes otherwise."""
    shutil.rmtree(directory, ignore_errors=True)
