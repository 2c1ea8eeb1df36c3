"""`upstream.toml`: where a derived farm came from, and how it now differs.

`ipwhl derive` writes it; `ipwhl assemble` reads it. While the recipes are the
upstream's, the derived tree is the upstream tree, bit for bit; once they differ, the
manifest names the upstream root and the recipes added, removed and changed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from builder.errors import IpwhlError

UPSTREAM: Final = "upstream.toml"


def upstream_changes(root: Path, recipes: Mapping[str, str]) -> dict[str, Any] | None:
    """What the manifest says of the upstream (None: not derived, or not changed);
    `recipes` maps each current recipe to its file's sha256."""
    path = root / UPSTREAM
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        theirs = data["recipes"]
        origin = data["root"]
        if not isinstance(theirs, dict) or not isinstance(origin, str):
            raise TypeError("`root` must be a string and [recipes] a table")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise IpwhlError(
            f"{path}: {e}",
            fix=f"restore {UPSTREAM} as `ipwhl derive` wrote it, or delete it to stop "
            "naming the upstream",
        ) from e
    added = sorted(set(recipes) - set(theirs))
    removed = sorted(set(theirs) - set(recipes))
    changed = sorted(n for n in set(recipes) & set(theirs) if recipes[n] != theirs[n])
    if not (added or removed or changed):
        return None
    return {"root": origin, "added": added, "removed": removed, "changed": changed}
