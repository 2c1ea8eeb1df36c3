"""Following upstream: a three-way update of a derived farm onto a newer upstream tree.

For each project (and each farm file) there are three states: the base (the upstream
as it was when derived, from `upstream.toml`), yours (the farm now) and the new
upstream's. Untouched by you: take theirs. Untouched by them: keep yours. Changed the
same way by both: nothing to do. Changed differently by both: a conflict, reported
with all three and never resolved silently; `--ours NAME` or `--theirs NAME` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    TAKE = "take upstream's"  # yours is the base: follow upstream
    KEEP = "keep yours"  # upstream did not move: your change stays
    SAME = "unchanged"  # equal on both sides


@dataclass(frozen=True, kw_only=True)
class Conflict:
    name: str
    base: str | None  # fingerprints; None: absent on that side
    yours: str | None
    theirs: str | None

    def describe(self, versions: Mapping[str, Mapping[str, str]]) -> str:
        def side(label: str, value: str | None) -> str:
            if value is None:
                return f"{label}: absent"
            version = versions.get(label, {}).get(self.name, "")
            return f"{label}: {version + ' ' if version else ''}({value[:12]})"

        return (
            f"{self.name}: changed by you and by upstream; "
            + ", ".join(side(k, v) for k, v in
                        (("base", self.base), ("yours", self.yours), ("theirs", self.theirs)))
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Merge:
    actions: dict[str, Action]  # name -> what happens (conflicts excluded)
    changes: dict[str, str | None]  # name -> theirs, for every TAKE that changes yours
    conflicts: tuple[Conflict, ...]


def merge(
    base: Mapping[str, str],
    yours: Mapping[str, str],
    theirs: Mapping[str, str],
    *,
    ours: Iterable[str] = (),
    take: Iterable[str] = (),
) -> Merge:
    """The three-way merge of name -> fingerprint maps."""
    prefer_ours, prefer_theirs = set(ours), set(take)
    actions: dict[str, Action] = {}
    changes: dict[str, str | None] = {}
    conflicts = []
    for name in sorted(set(base) | set(yours) | set(theirs)):
        b, y, t = base.get(name), yours.get(name), theirs.get(name)
        if y == t:
            actions[name] = Action.SAME
        elif y == b or name in prefer_theirs:
            actions[name] = Action.TAKE
            changes[name] = t
        elif t == b or name in prefer_ours:
            actions[name] = Action.KEEP
        else:
            conflicts.append(Conflict(name=name, base=b, yours=y, theirs=t))
    return Merge(actions=actions, changes=changes, conflicts=tuple(conflicts))
