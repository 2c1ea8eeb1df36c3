"""What changed between two published trees, read from their manifests alone.

Projects added, removed and bumped; per project and platform, wheels added, removed
and changed, each change explained by the build inputs that differ between the two
records, or by none: equal inputs that made different bytes are a build that is not
reproducible. Also platforms and the farm files (platform files, locks, libraries, roots).

Pure: two manifest dicts in, a `TreeDiff` out; `render_text`, `render_markdown` and
`to_json` are the three ways `ipwhl diff` shows it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from packaging.version import InvalidVersion, Version

NOT_REPRODUCIBLE: Final = "same inputs, different bytes: not reproducible"
WIDTH: Final = 60  # of one shown input value
_HASH = re.compile(r"[0-9a-f]{40,}")


class Absent(Enum):
    """An input key only one of the two records has (None is a value an input can have)."""

    ABSENT = "absent"


ABSENT: Final = Absent.ABSENT


@dataclass(frozen=True, kw_only=True)
class InputChange:
    path: str  # dotted: `sdist`, `toolchain.cc`, `build.env`
    old: Any
    new: Any


@dataclass(frozen=True, kw_only=True)
class ProjectEntry:
    project: str
    version: str
    platforms: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Bump:
    project: str
    old: str
    new: str
    downgraded: bool


@dataclass(frozen=True, kw_only=True)
class WheelEntry:
    project: str
    platform: str
    wheel: str
    why: str = ""  # of a removed wheel: the new tree's reason it is missing, if it says


@dataclass(frozen=True, kw_only=True)
class WheelChange:
    project: str
    platform: str
    old_wheel: str
    new_wheel: str
    old_sha256: str
    new_sha256: str
    inputs: tuple[InputChange, ...]

    @property
    def reproducible(self) -> bool:
        """False when nothing the farm hashes changed and the bytes did anyway."""
        return bool(self.inputs)


@dataclass(frozen=True, kw_only=True)
class FileChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TreeDiff:
    platforms_added: tuple[str, ...]
    platforms_removed: tuple[str, ...]
    projects_added: tuple[ProjectEntry, ...]
    projects_removed: tuple[ProjectEntry, ...]
    bumped: tuple[Bump, ...]
    # The three wheel lists cover projects in both trees; an added or removed project
    # names its platforms instead of repeating each wheel.
    wheels_added: tuple[WheelEntry, ...]
    wheels_removed: tuple[WheelEntry, ...]
    wheels_changed: tuple[WheelChange, ...]
    rebuilt_same_bytes: tuple[WheelEntry, ...]  # input hash changed, sha256 did not
    farm: FileChanges

    @property
    def not_reproducible(self) -> tuple[WheelChange, ...]:
        return tuple(c for c in self.wheels_changed if not c.reproducible)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.platforms_added,
                self.platforms_removed,
                self.projects_added,
                self.projects_removed,
                self.bumped,
                self.wheels_added,
                self.wheels_removed,
                self.wheels_changed,
                self.rebuilt_same_bytes,
                self.farm.added,
                self.farm.removed,
                self.farm.changed,
            )
        )


def input_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[InputChange, ...]:
    """Every leaf that differs, nested tables compared key by key, in path order."""
    found: list[InputChange] = []

    def walk(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str) -> None:
        for key in sorted(set(a) | set(b)):
            path = f"{prefix}{key}"
            x, y = a.get(key, ABSENT), b.get(key, ABSENT)
            if isinstance(x, dict) and isinstance(y, dict):
                walk(x, y, f"{path}.")
            # The type too: JSON's true and 1 are different inputs, Python's are equal.
            elif type(x) is not type(y) or x != y:
                found.append(InputChange(path=path, old=x, new=y))

    walk(old, new, "")
    return tuple(found)


def _downgraded(old: str, new: str) -> bool:
    try:
        return Version(new) < Version(old)
    except InvalidVersion:
        return False  # not a release name: no order to speak of


def diff_manifests(old: Mapping[str, Any], new: Mapping[str, Any]) -> TreeDiff:
    """What changed from the tree whose manifest is `old` to the one whose manifest is `new`."""
    a, b = old["projects"], new["projects"]
    missing = new.get("missing", {})

    def entry(project: str, doc: Mapping[str, Any]) -> ProjectEntry:
        return ProjectEntry(
            project=project,
            version=str(doc.get("version", "")),
            platforms=tuple(sorted(doc.get("platforms", {}))),
        )

    bumped: list[Bump] = []
    added: list[WheelEntry] = []
    removed: list[WheelEntry] = []
    changed: list[WheelChange] = []
    same_bytes: list[WheelEntry] = []
    for project in sorted(set(a) & set(b)):
        va, vb = str(a[project].get("version", "")), str(b[project].get("version", ""))
        if va != vb:
            bumped.append(Bump(project=project, old=va, new=vb, downgraded=_downgraded(va, vb)))
        pa, pb = a[project].get("platforms", {}), b[project].get("platforms", {})
        for platform in sorted(set(pa) | set(pb)):
            x, y = pa.get(platform), pb.get(platform)
            if x is None:
                added.append(WheelEntry(project=project, platform=platform, wheel=y["wheel"]))
            elif y is None:
                why = str(missing.get(project, {}).get(platform, ""))
                removed.append(
                    WheelEntry(project=project, platform=platform, wheel=x["wheel"], why=why)
                )
            elif x["sha256"] != y["sha256"]:
                changed.append(
                    WheelChange(
                        project=project,
                        platform=platform,
                        old_wheel=x["wheel"],
                        new_wheel=y["wheel"],
                        old_sha256=x["sha256"],
                        new_sha256=y["sha256"],
                        inputs=input_changes(x.get("inputs", {}), y.get("inputs", {})),
                    )
                )
            elif x.get("input_hash") != y.get("input_hash"):
                same_bytes.append(WheelEntry(project=project, platform=platform, wheel=y["wheel"]))
    fa, fb = old.get("farm", {}), new.get("farm", {})
    ta, tb = set(old.get("platforms", [])), set(new.get("platforms", []))
    return TreeDiff(
        platforms_added=tuple(sorted(tb - ta)),
        platforms_removed=tuple(sorted(ta - tb)),
        projects_added=tuple(entry(p, b[p]) for p in sorted(set(b) - set(a))),
        projects_removed=tuple(entry(p, a[p]) for p in sorted(set(a) - set(b))),
        bumped=tuple(bumped),
        wheels_added=tuple(added),
        wheels_removed=tuple(removed),
        wheels_changed=tuple(changed),
        rebuilt_same_bytes=tuple(same_bytes),
        farm=FileChanges(
            added=tuple(sorted(set(fb) - set(fa))),
            removed=tuple(sorted(set(fa) - set(fb))),
            changed=tuple(sorted(p for p in set(fa) & set(fb) if fa[p] != fb[p])),
        ),
    )


# -- showing it ---------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(diff: TreeDiff) -> str:
    """One line: the project counts and changed wheels always, the rest when not zero."""
    if diff.empty:
        return "no differences"
    wheels = f"{_plural(len(diff.wheels_changed), 'wheel')} changed"
    if diff.not_reproducible:
        wheels += f" ({len(diff.not_reproducible)} not reproducible)"
    extra = [
        f"{len(diff.wheels_added)} added" if diff.wheels_added else "",
        f"{len(diff.wheels_removed)} removed" if diff.wheels_removed else "",
    ]
    parts = [
        f"{_plural(len(diff.projects_added), 'project')} added, "
        f"{len(diff.projects_removed)} removed, {len(diff.bumped)} bumped",
        ", ".join([wheels, *filter(None, extra)]),
    ]
    if diff.rebuilt_same_bytes:
        parts.append(f"{len(diff.rebuilt_same_bytes)} rebuilt to the same bytes")
    platforms = len(diff.platforms_added) + len(diff.platforms_removed)
    if platforms:
        parts.append(f"{_plural(platforms, 'platform')} added or removed")
    files = len(diff.farm.added) + len(diff.farm.removed) + len(diff.farm.changed)
    if files:
        parts.append(f"{_plural(files, 'farm file')} changed")
    return "; ".join(parts)


def shorten(value: Any, width: int = WIDTH) -> str:
    """A value as one short line: a hash by its prefix, anything else cut at `width`."""
    if value is ABSENT:
        return "(absent)"
    if value == "":
        return '""'  # else `salt:  -> x` reads as a typo
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if _HASH.fullmatch(text):
        return f"{text[:12]}…"
    return text if len(text) <= width else f"{text[: width - 1]}…"


def describe(change: InputChange) -> str:
    """`path: old -> new`; of two lists, only the items one has and the other has not,
    since a lock of forty pins cut at sixty characters would hide the pin that moved."""
    old, new = change.old, change.new
    if isinstance(old, list) and isinstance(new, list):
        gone = [shorten(v, WIDTH // 2) for v in old if v not in new]
        came = [shorten(v, WIDTH // 2) for v in new if v not in old]
        if gone or came:
            items = [f"-{v}" for v in gone] + [f"+{v}" for v in came]
            return f"{change.path}: {shorten(' '.join(items), 2 * WIDTH)}"
    return f"{change.path}: {shorten(old)} -> {shorten(new)}"


def _reasons(change: WheelChange) -> tuple[str, ...]:
    return tuple(describe(c) for c in change.inputs) if change.reproducible else ()


def _grouped(changes: Iterable[WheelChange]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """(project, reasons) -> platforms: one bump shows its reasons once, not per platform."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for change in changes:
        groups.setdefault((change.project, _reasons(change)), []).append(change.platform)
    return groups


def render_text(diff: TreeDiff) -> str:
    lines = [summary(diff)]

    def section(title: str, body: list[str]) -> None:
        if body:
            lines.append(f"{title}:")
            lines.extend(f"  {line}" for line in body)

    section(
        "platforms",
        [f"+ {p}" for p in diff.platforms_added] + [f"- {p}" for p in diff.platforms_removed],
    )
    section(
        "projects added",
        [
            f"+ {e.project} {e.version} ({_plural(len(e.platforms), 'wheel')})"
            for e in diff.projects_added
        ],
    )
    section("projects removed", [f"- {e.project} {e.version}" for e in diff.projects_removed])
    section(
        "projects bumped",
        [
            f"{b.project} {b.old} -> {b.new}{' (downgraded)' if b.downgraded else ''}"
            for b in diff.bumped
        ],
    )
    changed: list[str] = []
    for (project, reasons), platforms in _grouped(diff.wheels_changed).items():
        where = f"{project} on {', '.join(platforms)}"
        if not reasons:
            changed.append(f"{where}: {NOT_REPRODUCIBLE}")
        else:
            changed.append(f"{where}:")
            changed.extend(f"  {reason}" for reason in reasons)
    section("wheels changed", changed)
    added: dict[str, list[str]] = {}
    for wheel in diff.wheels_added:
        added.setdefault(wheel.project, []).append(wheel.platform)
    section("wheels added", [f"+ {p} on {', '.join(ps)}" for p, ps in added.items()])
    section(
        "wheels removed",
        [
            f"- {w.project} on {w.platform}" + (f" (missing: {shorten(w.why)})" if w.why else "")
            for w in diff.wheels_removed
        ],
    )
    section(
        "farm files",
        [f"+ {f}" for f in diff.farm.added]
        + [f"- {f}" for f in diff.farm.removed]
        + [f"~ {f}" for f in diff.farm.changed],
    )
    return "\n".join(lines) + "\n"


def render_markdown(diff: TreeDiff, *, old: str, new: str) -> str:
    """A GitHub job summary: the summary line and one row per project that changed."""
    lines = [f"### Tree diff: `{old}` → `{new}`", "", f"**{summary(diff)}**", ""]
    rows: dict[str, list[str]] = {}  # project -> [what, why]
    for e in diff.projects_added:
        rows[e.project] = [f"added {e.version}", ", ".join(e.platforms)]
    for e in diff.projects_removed:
        rows[e.project] = [f"removed {e.version}", ""]
    for b in diff.bumped:
        rows[b.project] = [f"{b.old} → {b.new}" + (" (downgraded)" if b.downgraded else ""), ""]
    counts: dict[str, Counter[str]] = {}
    for kind, entries in (("added", diff.wheels_added), ("removed", diff.wheels_removed)):
        for w in entries:
            counts.setdefault(w.project, Counter())[kind] += 1
    why: dict[str, set[str]] = {}
    unreproducible: dict[str, list[str]] = {}
    for c in diff.wheels_changed:
        counts.setdefault(c.project, Counter())["changed"] += 1
        if c.reproducible:
            why.setdefault(c.project, set()).update(f"`{i.path}`" for i in c.inputs)
        else:
            unreproducible.setdefault(c.project, []).append(c.platform)
    for project, kinds in counts.items():
        row = rows.setdefault(project, ["", ""])
        tally = "wheels: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        row[0] = f"{row[0]}; {tally}" if row[0] else tally
        reasons = sorted(why.get(project, ()))
        if project in unreproducible:
            reasons.insert(0, f"**not reproducible** on {', '.join(unreproducible[project])}")
        row[1] = ", ".join(reasons)
    if rows:
        lines += ["| project | change | why |", "|---|---|---|"]
        lines += [f"| {p} | {what} | {reason} |" for p, (what, reason) in sorted(rows.items())]
        lines.append("")
    if diff.platforms_added or diff.platforms_removed:
        listed = [f"+`{p}`" for p in diff.platforms_added]
        listed += [f"-`{p}`" for p in diff.platforms_removed]
        lines.append(f"- platforms: {' '.join(listed)}")
    files = [f"+`{f}`" for f in diff.farm.added] + [f"-`{f}`" for f in diff.farm.removed]
    files += [f"~`{f}`" for f in diff.farm.changed]
    if files:
        lines.append(f"- farm files: {' '.join(files)}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _change_json(change: InputChange) -> dict[str, Any]:
    # An absent side is left out, so that a `null` input stays distinguishable.
    sides = {"old": change.old, "new": change.new}
    return {"path": change.path} | {k: v for k, v in sides.items() if v is not ABSENT}


def to_json(diff: TreeDiff) -> dict[str, Any]:
    """Every list sorted as computed; `json.dumps(..., sort_keys=True)` makes it stable."""

    def wheel(w: WheelEntry) -> dict[str, str]:
        doc = {"project": w.project, "platform": w.platform, "wheel": w.wheel}
        return doc | ({"why": w.why} if w.why else {})

    def project(e: ProjectEntry) -> dict[str, Any]:
        return {"project": e.project, "version": e.version, "platforms": list(e.platforms)}

    return {
        "summary": {
            "text": summary(diff),
            "projects_added": len(diff.projects_added),
            "projects_removed": len(diff.projects_removed),
            "projects_bumped": len(diff.bumped),
            "wheels_added": len(diff.wheels_added),
            "wheels_removed": len(diff.wheels_removed),
            "wheels_changed": len(diff.wheels_changed),
            "not_reproducible": len(diff.not_reproducible),
            "rebuilt_same_bytes": len(diff.rebuilt_same_bytes),
        },
        "platforms": {
            "added": list(diff.platforms_added),
            "removed": list(diff.platforms_removed),
        },
        "projects": {
            "added": [project(e) for e in diff.projects_added],
            "removed": [project(e) for e in diff.projects_removed],
            "bumped": [
                {"project": b.project, "old": b.old, "new": b.new, "downgraded": b.downgraded}
                for b in diff.bumped
            ],
        },
        "wheels": {
            "added": [wheel(w) for w in diff.wheels_added],
            "removed": [wheel(w) for w in diff.wheels_removed],
            "changed": [
                {
                    "project": c.project,
                    "platform": c.platform,
                    "old": {"wheel": c.old_wheel, "sha256": c.old_sha256},
                    "new": {"wheel": c.new_wheel, "sha256": c.new_sha256},
                    "reproducible": c.reproducible,
                    "inputs": [_change_json(i) for i in c.inputs],
                }
                for c in diff.wheels_changed
            ],
            "rebuilt_same_bytes": [wheel(w) for w in diff.rebuilt_same_bytes],
        },
        "farm": {
            "added": list(diff.farm.added),
            "removed": list(diff.farm.removed),
            "changed": list(diff.farm.changed),
        },
    }
