"""Confusable project names: near-duplicates a typosquat or a tired reviewer would miss.

Pure functions over normalized names (PEP 503). Two names are confusable when their
Damerau-Levenshtein distance (optimal string alignment: insert, delete, substitute,
swap two neighbours) is small for their length, or when they look alike once
homoglyphs (`0`/`o`, `1`/`l`/`i`, `rn`/`m`, `vv`/`w`) and separators are folded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from builder.model.data import strings

# Short names differ in one letter from too many real projects to flag (six, py, h11):
# below this length only the look-alike rule applies.
MIN_LENGTH_ONE_EDIT = 4
# Long names tolerate two edits before they stop being easily mistaken.
MIN_LENGTH_TWO_EDITS = 9
_HOMOGLYPHS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("5", "s"))


def distance(a: str, b: str, *, limit: int = 3) -> int:
    """Optimal-string-alignment distance, capped at `limit` (enough to compare with it)."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) >= limit:
            return limit
        previous2, previous = previous, row
    return min(previous[-1], limit)


def skeleton(name: str) -> str:
    """The name as it looks: separators dropped, homoglyphs folded to one letter."""
    folded = name.replace("-", "")
    for glyph, base in _HOMOGLYPHS:
        folded = folded.replace(glyph, base)
    return folded


def allowed_edits(a: str, b: str) -> int:
    shorter = min(len(a), len(b))
    if shorter >= MIN_LENGTH_TWO_EDITS:
        return 2
    return 1 if shorter >= MIN_LENGTH_ONE_EDIT else 0


def confusable(a: str, b: str) -> bool:
    if a == b:
        return False
    if skeleton(a) == skeleton(b):
        return True
    edits = allowed_edits(a, b)
    return edits > 0 and distance(a, b, limit=edits + 1) <= edits


@dataclass(frozen=True, kw_only=True)
class Clash:
    """`name` may be mistaken for `other`; `well_known` when `other` is not in the set."""

    name: str
    other: str
    well_known: bool


@cache
def well_known() -> frozenset[str]:
    return frozenset(strings("well-known.toml", "names"))


def clashes(names: dict[str, tuple[str, ...]], known: frozenset[str] | None = None) -> list[Clash]:
    """Unacknowledged confusable pairs. `names`: project -> its `confusable-with`.

    A pair inside the set is fine when either recipe acknowledges the other. A project
    on the well-known list is established, so it is never asked about other
    well-known names (tomli and toml are both real).
    """
    known = well_known() if known is None else known
    found = []
    ordered = sorted(names)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b in names[a] or a in names[b] or (a in known and b in known):
                continue
            if confusable(a, b):
                # Ask the one that is not established; when neither is, ask both.
                if b in known or a not in known:
                    found.append(Clash(name=a, other=b, well_known=False))
                if a in known or b not in known:
                    found.append(Clash(name=b, other=a, well_known=False))
        if a in known:
            continue
        for other in sorted(known - names.keys()):
            if other not in names[a] and confusable(a, other):
                found.append(Clash(name=a, other=other, well_known=True))
    return found
