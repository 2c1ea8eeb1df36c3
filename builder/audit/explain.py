"""Every byte of a published tree, explained: re-derived from its verified wheels and
sources and compared with what the tree holds.

`check_files` has already matched every wheel, sdist, recipe, patch and farm file to
`manifest.json`. What pip reads besides them (the root and project pages with their
`#sha256=` and `data-requires-python`, every `.metadata` file, the per-platform
sub-indexes) and the manifest itself are planned again here, by the same code that
assembled them, from those verified files alone: a page, a `.metadata` or a manifest
entry that differs, and any file the plan does not have, fails, named. `_status/` (an
auditor's report, not derived from anything) is taken as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.errors import TamperedError
from builder.metadata import Metadata, read_metadata
from builder.model.farm import Farm
from builder.pipeline.fetch import sha256_file
from builder.pipeline.seed import published_records
from builder.tree.layout import FARM_DIR, SOURCES_DIR, STATUS_DIR, plan_tree
from builder.tree.manifest import MANIFEST
from builder.tree.model import FileSource, Inputs, Sources, Wheel


def _files(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def expected_inputs(tree: Path, manifest: dict[str, Any], farm: Farm) -> Inputs:
    """What `assemble` would have been given, rebuilt from the tree's verified files."""
    wheels = {}
    for record in published_records(manifest, str(tree / MANIFEST)):
        blob = tree / record.project / record.wheel
        raw = read_metadata(blob)  # from the wheel itself, not the tree's .metadata
        wheels[(record.project, record.platform)] = Wheel(
            record=record,
            blob=FileSource(path=blob, sha256=record.wheel_sha256),
            metadata=raw,
            requires_python=Metadata.parse(raw).requires_python,
        )
    sources = {}
    for project, entry in sorted(manifest["projects"].items()):
        base = tree / SOURCES_DIR / project
        patches = sorted(entry.get("patches", {}))
        sdist = entry["sdist"]
        sources[project] = Sources(
            recipe=farm.recipes[project],
            recipe_bytes=(base / f"{project}.toml").read_bytes(),
            patches=tuple((n, (base / "patches" / n).read_bytes()) for n in patches),
            sdist=FileSource(path=base / sdist["filename"], sha256=sdist["sha256"]),
        )
    missing = {
        (project, platform): str(why)
        for project, by_platform in manifest.get("missing", {}).items()
        for platform, why in by_platform.items()
    }
    upstream = manifest.get("upstream")
    return Inputs(
        platforms=tuple(manifest.get("platforms", [])),
        wheels=wheels,
        sources=sources,
        missing=missing,
        farm_files=_files(tree / SOURCES_DIR / FARM_DIR),
        status_files=_files(tree / STATUS_DIR),
        upstream=upstream if isinstance(upstream, dict) else None,
    )


def unexplained(tree: Path, manifest: dict[str, Any], farm: Farm) -> list[str]:
    """Every file of `tree` that is not the file its plan says, and every one missing."""
    plan = plan_tree(expected_inputs(tree, manifest, farm), profile=str(manifest.get("profile")))
    found = {p.relative_to(tree).as_posix(): p for p in tree.rglob("*") if p.is_file()}
    bad = []
    for relative in sorted(set(plan.digests) | set(found)):
        if relative not in found:
            bad.append(f"{relative}: missing")
        elif relative not in plan.digests:
            bad.append(f"{relative}: not a file this tree's sources explain")
        elif sha256_file(found[relative]) != plan.digests[relative]:
            bad.append(f"{relative}: differs from what its verified wheels and sources give")
    return bad


def check_every_byte(tree: Path, manifest: dict[str, Any], farm: Farm) -> None:
    bad = unexplained(tree, manifest, farm)
    if bad:
        raise TamperedError(
            f"{len(bad)} file(s) of {tree} are not what its wheels and sources give:\n"
            + "\n".join(f"    {line}" for line in bad),
            fix="do not trust this tree; fetch it again by its CID, or reassemble it",
        )
