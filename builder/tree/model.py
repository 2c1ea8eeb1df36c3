"""The values the tree's stages pass along: sources of files, wheels, the plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256 as sha256_hash
from pathlib import Path
from typing import Any

from builder.model.recipe import Recipe
from builder.pipeline.store import Record


@dataclass(frozen=True, kw_only=True)
class FileSource:
    """A file whose bytes are already on disk (a store blob, a cached sdist)."""

    path: Path
    sha256: str


Source = FileSource | bytes


def source_sha256(source: Source) -> str:
    return source.sha256 if isinstance(source, FileSource) else sha256_hash(source).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Wheel:
    """One current wheel and what its index entry needs."""

    record: Record
    blob: FileSource
    metadata: bytes
    requires_python: str | None


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What rebuilding a project needs: the recipe file, its patches, the sdist."""

    recipe: Recipe
    recipe_bytes: bytes
    patches: tuple[tuple[str, bytes], ...]
    sdist: FileSource


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Everything `plan_tree` needs, read from disk once."""

    platforms: tuple[str, ...]
    wheels: Mapping[tuple[str, str], Wheel]  # (project, platform id) -> wheel
    sources: Mapping[str, Sources]
    missing: Mapping[tuple[str, str], str]
    # Verbatim files: _sources/_farm/ (platform files and build locks, so the tree
    # alone can be rebuilt) and _status/ (the last verification report).
    farm_files: Mapping[str, bytes] = field(default_factory=dict)
    status_files: Mapping[str, bytes] = field(default_factory=dict)
    upstream: Mapping[str, Any] | None = None  # a derived set's origin, once it differs


@dataclass(frozen=True, kw_only=True)
class TreePlan:
    files: Mapping[str, Source]  # relative POSIX path -> content, sorted by path
    digests: Mapping[str, str]  # relative POSIX path -> sha256 of its content
    projects: tuple[str, ...]
    missing: Mapping[tuple[str, str], str] = field(default_factory=dict)
