"""What the farm reads from inside an sdist, read once per sha256 and kept.

Its newest file time (the default SOURCE_DATE_EPOCH) and its `[build-system] requires`
are properties of its bytes, so they are memoized beside the cached sdists by sha256
and never go stale. Without this, every cached job of every run decompressed and
scanned its tarball twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.atomic import write_atomic
from builder.model.lock import sdist_build_requires
from builder.pipeline.fetch import newest_mtime

_VERSION: Final = 1  # of the memo's format; another value is recomputed


@dataclass(frozen=True, kw_only=True)
class SdistFacts:
    newest_mtime: int
    build_requires: tuple[str, ...]


def memo_path(cache: Path, sha256: str) -> Path:
    return cache / "sdist-facts" / f"{sha256}.json"


def sdist_facts(sdist: Path, sha256: str, cache: Path) -> SdistFacts:
    """The facts of the verified sdist at `sdist`, whose sha256 is `sha256`."""
    memo = memo_path(cache, sha256)
    try:
        data = json.loads(memo.read_bytes())
        if data["version"] == _VERSION:
            return SdistFacts(
                newest_mtime=int(data["newest-mtime"]),
                build_requires=tuple(str(r) for r in data["build-requires"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: computed again below
    facts = SdistFacts(
        newest_mtime=newest_mtime(sdist),
        build_requires=tuple(sdist_build_requires(sdist)),
    )
    remember(cache, sha256, facts)
    return facts


def remember(cache: Path, sha256: str, facts: SdistFacts) -> None:
    """Keep the facts of the sdist with this sha256."""
    document = {
        "version": _VERSION,
        "newest-mtime": facts.newest_mtime,
        "build-requires": list(facts.build_requires),
    }
    write_atomic(memo_path(cache, sha256), json.dumps(document, sort_keys=True))
