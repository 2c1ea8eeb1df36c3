"""Atomic writes: a reader sees the old file or the new one, never half of one.

Every file the farm writes where another process may read it goes through here: a
temporary file beside the target (same filesystem, so the rename is atomic), renamed
over it only when complete, removed when anything fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside `path`, renamed over it when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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
