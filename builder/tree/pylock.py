"""PEP 751 lock files for one platform of a published tree.

A tree is singly versioned: each project has exactly one wheel per platform, so
locking is not a search. Starting from the requested projects, each wheel's
Requires-Dist (read from its `.metadata` file, PEP 658) is evaluated with the
platform's marker environment and the extras asked of it, until the closure is
complete. Every project in the closure must be in the tree on that platform, at a
version its dependants accept; otherwise nothing is written.

The tree is read through `TreeFiles` (a local directory or a gateway), and the lock is
a pure value rendered by a small TOML writer: same tree, platform and names give the
same bytes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from builder.errors import PylockError
from builder.ipfs.gateway import Gateway
from builder.metadata import Metadata
from builder.model.platform import OS, BackendName, Platform
from builder.tomlwrite import TomlValue
from builder.tree.manifest import MANIFEST, load_manifest

CREATED_BY: Final = "ipwhl"

# --- the tree --------------------------------------------------------------------------


class TreeFiles(Protocol):
    """Read access to the files of a published tree, by relative POSIX path."""

    def read(self, path: str) -> bytes: ...


@dataclass(frozen=True, kw_only=True)
class LocalTree:
    directory: Path

    def read(self, path: str) -> bytes:
        target = self.directory / path
        try:
            return target.read_bytes()
        except OSError as e:
            raise PylockError(
                f"cannot read {target}: {e.strerror}",
                fix="--tree must be a tree written by `ipwhl assemble` (<out>/tree)",
            ) from e


@dataclass(frozen=True, kw_only=True)
class GatewayTree:
    gateway: Gateway
    cid: str

    def read(self, path: str) -> bytes:
        return self.gateway.read(self.cid, path)


@dataclass(frozen=True, kw_only=True)
class WheelEntry:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class ProjectEntry:
    version: str
    wheels: Mapping[str, WheelEntry]  # platform id -> its one wheel


@dataclass(frozen=True, kw_only=True)
class Manifest:
    profile: str
    platforms: tuple[str, ...]
    projects: Mapping[str, ProjectEntry]
    missing: Mapping[str, Mapping[str, str]]  # project -> platform -> why


def parse_manifest(raw: bytes) -> Manifest:
    data = load_manifest(raw, where=f"the tree's {MANIFEST}")
    try:
        projects = {
            name: ProjectEntry(
                version=str(entry["version"]),
                wheels={
                    pid: WheelEntry(name=w["wheel"], sha256=w["sha256"], size=int(w["size"]))
                    for pid, w in entry.get("platforms", {}).items()
                },
            )
            for name, entry in data["projects"].items()
        }
        return Manifest(
            profile=str(data.get("profile", "")),
            platforms=tuple(data["platforms"]),
            projects=projects,
            missing=data.get("missing", {}),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PylockError(
            f"the tree's {MANIFEST} is not one `ipwhl assemble` writes ({e!r})",
            fix="check the CID: it must be the root of an assembled tree",
        ) from e


# --- the platform ------------------------------------------------------------------------

_ID: Final = re.compile(r"(?P<os>linux|macos|windows)-(?P<arch>[A-Za-z0-9_]+)-(?P<py>(cp|pp)3\d+)")


def platform_from_id(platform_id: str) -> Platform:
    """A Platform good for marker evaluation, from its id alone (the user has no farm).

    A platform file's name is `<os>-<arch>-<interpreter>` by rule (P007), and the marker
    environment depends only on those three; policy and backend are not needed here.
    """
    match = _ID.fullmatch(platform_id)
    if match is None:
        raise PylockError(
            f"{platform_id!r} is not a platform id",
            fix="use one from the tree's manifest.json `platforms`, e.g. linux-x86_64-cp312",
        )
    return Platform(
        id=platform_id,
        os=OS(match["os"]),
        arch=match["arch"],
        interpreter=match["py"],
        policy="",
        backend=BackendName.NATIVE,
        path=Path(f"{platform_id}.toml"),
        file_sha256="",
    )


def environment_marker(platform: Platform) -> str:
    """The PEP 508 marker that holds exactly on this platform's interpreters."""
    env = platform.marker_environment()
    keys = ("sys_platform", "platform_machine", "implementation_name", "python_version")
    return " and ".join(f"{k} == '{env[k]}'" for k in keys)


# --- resolution: pure ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Locked:
    name: str
    version: str
    wheel: WheelEntry
    requires_python: str | None
    dependencies: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Pylock:
    cid: str
    platform: Platform
    index_url: str
    wheel_url: Callable[[str, str], str]  # (project, wheel name) -> URL
    requested: tuple[str, ...]
    packages: tuple[Locked, ...]


def parse_requirements(texts: Iterable[str]) -> list[Requirement]:
    found, bad = [], []
    for text in texts:
        try:
            found.append(Requirement(text))
        except InvalidRequirement as e:
            bad.append(f"{text!r} ({e})")
    if bad:
        raise PylockError(
            f"not a requirement: {', '.join(bad)}", fix="name projects, e.g. requests or a[b]"
        )
    return found


def _metadata(raw: bytes) -> tuple[list[str], str | None]:
    meta = Metadata.parse(raw)
    return list(meta.requires_dist), meta.requires_python


def resolve(
    manifest: Manifest,
    platform: Platform,
    requested: Sequence[Requirement],
    read: Callable[[str], bytes],
) -> tuple[Locked, ...]:
    """The closure of `requested` on `platform`; every problem is reported at once."""
    if platform.id not in manifest.platforms:
        raise PylockError(
            f"the tree has no platform {platform.id}",
            fix=f"use one of: {', '.join(manifest.platforms) or '(none)'}",
        )
    env = platform.marker_environment()
    python = Version(env["python_full_version"])
    extras: dict[str, set[str]] = {}
    edges: dict[str, set[str]] = {}
    problems: list[str] = []
    queue: deque[str] = deque()

    def want(req: Requirement, by: str) -> None:
        name = canonicalize_name(req.name)
        project = manifest.projects.get(name)
        wheel = project.wheels.get(platform.id) if project else None
        if project is None or wheel is None:
            why = manifest.missing.get(name, {}).get(platform.id, "not in the tree")
            problems.append(f"{name} (wanted by {by}): no wheel for {platform.id}: {why}")
            return
        if not req.specifier.contains(project.version, prereleases=True):
            problems.append(f"{by} wants {req}, the tree has {name} {project.version}")
        asked = {canonicalize_name(e) for e in req.extras}
        if name not in extras or not asked <= extras[name]:
            extras.setdefault(name, set()).update(asked)
            queue.append(name)  # seen again with new extras: its markers may now hold

    for req in requested:
        want(req, "the command line")
    seen_metadata: dict[str, tuple[list[str], str | None]] = {}
    while queue:
        name = queue.popleft()
        wheel = manifest.projects[name].wheels[platform.id]
        if name not in seen_metadata:
            seen_metadata[name] = _metadata(read(f"{name}/{wheel.name}.metadata"))
        requires_dist, requires_python = seen_metadata[name]
        if requires_python:
            try:
                if not SpecifierSet(requires_python).contains(python, prereleases=True):
                    problems.append(f"{name} requires Python {requires_python}")
            except InvalidSpecifier:
                problems.append(f"{name} has a bad Requires-Python {requires_python!r}")
        for text in requires_dist:
            try:
                dep = Requirement(text)
            except InvalidRequirement:
                problems.append(f"{name} has a bad Requires-Dist {text!r}")
                continue
            contexts = ["", *sorted(extras[name])]
            if dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": e}) for e in contexts
            ):
                edges.setdefault(name, set()).add(canonicalize_name(dep.name))
                want(dep, name)
    if problems:
        raise PylockError(
            f"cannot lock on {platform.id}:\n  " + "\n  ".join(sorted(set(problems))),
            fix="every dependency must be in the tree (add a recipe and rebuild), or "
            "lock for a platform the tree covers",
        )
    return tuple(
        Locked(
            name=name,
            version=manifest.projects[name].version,
            wheel=manifest.projects[name].wheels[platform.id],
            requires_python=seen_metadata[name][1],
            dependencies=tuple(sorted(edges.get(name, set()) - {name})),
        )
        for name in sorted(extras)
    )


# --- the lock file -------------------------------------------------------------------------


def document(lock: Pylock) -> dict[str, TomlValue]:
    """The PEP 751 document, keys in the order the PEP lists them."""
    py = lock.platform.python_version
    packages: list[TomlValue] = []
    for p in lock.packages:
        entry: dict[str, TomlValue] = {"name": p.name, "version": p.version}
        if p.requires_python:
            entry["requires-python"] = p.requires_python
        if p.dependencies:
            entry["dependencies"] = [{"name": d} for d in p.dependencies]
        entry["index"] = lock.index_url
        entry["wheels"] = [
            {
                "name": p.wheel.name,
                "url": lock.wheel_url(p.name, p.wheel.name),
                "size": p.wheel.size,
                "hashes": {"sha256": p.wheel.sha256},
            }
        ]
        packages.append(entry)
    return {
        "lock-version": "1.0",
        "environments": [environment_marker(lock.platform)],
        "requires-python": f"=={py}.*",
        "extras": [],
        "dependency-groups": [],
        "default-groups": [],
        "created-by": CREATED_BY,
        "packages": packages,
        "tool": {
            "ipwhl": {
                "cid": lock.cid,
                "platform": lock.platform.id,
                "requested": list(lock.requested),
            }
        },
    }


def make_lock(
    *,
    cid: str,
    platform_id: str,
    names: Sequence[str],
    files: TreeFiles,
    gateway: Gateway,
) -> Pylock:
    platform = platform_from_id(platform_id)
    requested = parse_requirements(names)
    manifest = parse_manifest(files.read(MANIFEST))
    packages = resolve(manifest, platform, requested, files.read)
    return Pylock(
        cid=cid,
        platform=platform,
        index_url=gateway.index_url(cid),
        # The wheel under its project in the root index: the same block as under
        # _platforms/<id>/, so either URL fetches the same bytes.
        wheel_url=lambda project, wheel: gateway.file_url(cid, f"{project}/{wheel}"),
        requested=tuple(str(r) for r in requested),
        packages=packages,
    )
