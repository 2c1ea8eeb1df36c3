"""Where the farm keeps things by default: the download cache, the store, the build root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from uv import find_uv_bin

# Fixed on purpose, outside any checkout: builds in two checkouts must see one path.
DEFAULT_BUILD_ROOT: Final = Path("/tmp/ipwhl-build")  # noqa: S108


def uv_binary() -> str:
    """The uv the farm was installed with (a pinned dependency), whatever the caller's
    PATH says: a farm called through a venv's absolute path, pipx or a CI step finds
    its own tools."""
    return str(find_uv_bin())


def default_cache() -> Path:
    """sdists by sha256, built tools, memos: `$IPWHL_CACHE`, else ~/.cache/ipwhl."""
    return Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl")).absolute()


def cache_dir(explicit: Path | None) -> Path:
    return explicit.absolute() if explicit is not None else default_cache()


def store_dir(root: Path, explicit: Path | None) -> Path:
    """`--store`, else `$IPWHL_STORE`, else `<root>/store`."""
    if explicit is not None:
        return explicit.absolute()
    if "IPWHL_STORE" in os.environ:
        return Path(os.environ["IPWHL_STORE"]).absolute()
    return root.absolute() / "store"
