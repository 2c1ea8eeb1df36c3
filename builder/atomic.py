"""Atomic writes: a reader sees the old file or the new one, never half of one.

Every file the farm writes where another process may read it goes through here: a
temporary file beside the target (same filesystem, so the rename is atomic), renamed
over it only when complete, removed when anything fails.

A process killed with SIGKILL removes nothing, so temporary names carry their
process's id (`.NAME.pid-N.RANDOM`): a later run can tell a dead run's leftover from a
live run's work in progress, and `sweep` removes only the former.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside `path`, renamed over it when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)  # mkstemp makes files private; most of ours are published
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def temporary_prefix(path: Path) -> str:
    """The name prefix of this process's temporary siblings of `path`."""
    return f".{path.name}.pid-{os.getpid()}."


_OWNER = re.compile(r"\.pid-(\d+)\.")


def sweep(path: Path) -> None:
    """Remove the temporary siblings of `path` that processes now gone left behind."""
    prefix = f".{path.name}.pid-"
    for entry in path.parent.glob(f"{glob.escape(prefix)}*") if path.parent.is_dir() else ():
        _remove_if_dead(entry, _OWNER.match(entry.name[len(path.name) + 1 :]))


def sweep_directory(directory: Path) -> None:
    """Remove every temporary in `directory` that a process now gone left behind: for
    files whose name is not known before the run ends (a CAR is named by its root)."""
    for entry in directory.glob(".*.pid-*") if directory.is_dir() else ():
        _remove_if_dead(entry, _OWNER.search(entry.name))


def _remove_if_dead(entry: Path, owner: re.Match[str] | None) -> None:
    if owner is None or alive(int(owner[1])):
        return
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    return True
