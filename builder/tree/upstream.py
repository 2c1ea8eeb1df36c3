"""`upstream.toml`: where a derived farm came from, and how it now differs.

`ipwhl derive` writes it and `derive --update` rewrites it; `ipwhl assemble` reads it.
It holds the upstream root CID and, as the base of a three-way comparison, each
upstream project's fingerprint (its recipe and patches) and each farm file's sha256.
While the farm is the upstream's, the derived tree is the upstream tree, bit for bit;
once it differs, the manifest names the upstream root and what was added, removed and
changed.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from builder.errors import IpwhlError
from builder.model.farm import Farm
from builder.model.policy import POLICY
from builder.tomlwrite import toml_string

UPSTREAM: Final = "upstream.toml"
FARM_KINDS: Final = ("platforms/", "locks/", "libraries/", "roots/", POLICY)


@dataclass(frozen=True, kw_only=True)
class Upstream:
    root: str
    source: str
    versions: dict[str, str] = field(default_factory=dict)  # project -> version
    projects: dict[str, str] = field(default_factory=dict)  # project -> fingerprint
    farm: dict[str, str] = field(default_factory=dict)  # relative path -> sha256


def fingerprint(recipe_sha256: str, patches: Mapping[str, str]) -> str:
    """One value for what a project's build is told: its recipe and its patches."""
    text = json.dumps({"recipe": recipe_sha256, "patches": dict(sorted(patches.items()))})
    return hashlib.sha256(text.encode()).hexdigest()


def from_manifest(manifest: Mapping[str, Any], *, root: str, source: str) -> Upstream:
    projects = manifest["projects"]
    return Upstream(
        root=root,
        source=source,
        versions={n: str(e["version"]) for n, e in sorted(projects.items())},
        projects={
            n: fingerprint(e["recipe_sha256"], e.get("patches", {}))
            for n, e in sorted(projects.items())
        },
        farm={
            k: v for k, v in sorted(manifest.get("farm", {}).items()) if k.startswith(FARM_KINDS)
        },
    )


def local_projects(farm: Farm) -> dict[str, str]:
    return {
        n: fingerprint(r.file_sha256, {p.path.name: p.sha256 for p in r.patches})
        for n, r in sorted(farm.recipes.items())
    }


def farm_file_paths(root: Path) -> list[str]:
    """The farm's files besides its recipes, relative to `root`: what a published tree
    carries under _sources/_farm/ (locks/ holds a directory per recipe). Hidden files
    are work in progress (a lock being written), never published."""
    found = []
    for kind in FARM_KINDS:
        base = root / kind
        paths = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in paths:
            relative = path.relative_to(root)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                found.append(relative.as_posix())
    return found


def local_farm_files(root: Path) -> dict[str, str]:
    return {
        relative: hashlib.sha256((root / relative).read_bytes()).hexdigest()
        for relative in farm_file_paths(root)
    }


def dumps(upstream: Upstream) -> str:
    lines = [
        "# The published tree this farm was derived from (`ipwhl derive`), and the",
        "# upstream's projects and farm files as they were then: the base that",
        "# `ipwhl derive --update` compares yours and the new upstream's against.",
        f"root = {toml_string(upstream.root)}",
        f"source = {toml_string(upstream.source)}",
        "",
        "[projects]",
    ]
    for name, value in sorted(upstream.projects.items()):
        version = toml_string(upstream.versions.get(name, ""))
        lines.append(f"{toml_string(name)} = {{ version = {version}, "
                     f"fingerprint = {toml_string(value)} }}")  # fmt: skip
    lines += ["", "[farm]"]
    lines += [f"{toml_string(k)} = {toml_string(v)}" for k, v in sorted(upstream.farm.items())]
    return "\n".join(lines) + "\n"


def load_upstream(root: Path) -> Upstream | None:
    path = root / UPSTREAM
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        projects, farm = data["projects"], data["farm"]
        return Upstream(
            root=str(data["root"]),
            source=str(data.get("source", "")),
            versions={n: str(v["version"]) for n, v in projects.items()},
            projects={n: str(v["fingerprint"]) for n, v in projects.items()},
            farm={k: str(v) for k, v in farm.items()},
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise IpwhlError(
            f"{path}: not as `ipwhl derive` writes it ({e!r})",
            fix=f"restore {UPSTREAM} from your history, or delete it to stop naming the upstream",
        ) from e


def upstream_changes(farm: Farm) -> dict[str, Any] | None:
    """What the manifest says of the upstream (None: not derived, or not changed)."""
    upstream = load_upstream(farm.root)
    if upstream is None:
        return None
    mine, theirs = local_projects(farm), upstream.projects
    files, base = local_farm_files(farm.root), upstream.farm
    changes = {
        "added": sorted(set(mine) - set(theirs)),
        "removed": sorted(set(theirs) - set(mine)),
        "changed": sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n]),
        "farm": sorted(k for k in set(files) | set(base) if files.get(k) != base.get(k)),
    }
    if not any(changes.values()):
        return None
    return {"root": upstream.root, **changes}
