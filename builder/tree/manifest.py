"""`manifest.json`, the tree's machine-readable index: its one writer and one reader."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from builder.errors import TamperedError
from builder.tree.model import Inputs

MANIFEST: Final = "manifest.json"


def manifest_bytes(inputs: Inputs, profile: str) -> bytes:
    """The manifest of a planned tree: what every file is and how every wheel was built."""
    projects: dict[str, Any] = {}
    for project, src in sorted(inputs.sources.items()):
        recipe = src.recipe
        projects[project] = {
            "version": str(recipe.version),
            "license": recipe.license,
            "recipe_sha256": recipe.file_sha256,
            "patches": {p.path.name: p.sha256 for p in recipe.patches},
            "sdist": {"filename": recipe.sdist_filename, "sha256": recipe.sha256},
            "platforms": {},
        }
    for (project, platform), wheel in sorted(inputs.wheels.items()):
        r = wheel.record
        # `gather` gives every project its sources; a plan made without them still works.
        entry = projects.setdefault(project, {"version": r.version, "platforms": {}})
        entry["platforms"][platform] = {
            "wheel": r.wheel,
            "sha256": r.wheel_sha256,
            "size": r.wheel_size,
            "input_hash": r.input_hash,
            "inputs": r.inputs,
            "built_on": r.built_on,
            # The rest of the record, so that a store seeded from the tree holds the
            # same records, byte for byte, as the store that made it.
            "built_by": r.built_by,
            "network_isolated": r.network_isolated,
            "tests": list(r.tests),
        }
    missing: dict[str, dict[str, str]] = {}
    for (project, platform), why in sorted(inputs.missing.items()):
        missing.setdefault(project, {})[platform] = why
    document = {
        "farm": {
            relative: hashlib.sha256(data).hexdigest()
            for relative, data in sorted(inputs.farm_files.items())
        },
        "profile": profile,
        "platforms": list(inputs.platforms),
        "projects": projects,
        "missing": missing,
    }
    if inputs.upstream is not None:
        document["upstream"] = dict(inputs.upstream)
    # Compact: indenting makes json use its pure-Python encoder, seconds on a big set.
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def load_manifest(raw: bytes, *, where: str) -> dict[str, Any]:
    """A manifest as `ipwhl assemble` writes it, or a clear error naming `where`."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
            raise ValueError("no `projects` table")
        for name, entry in data["projects"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("platforms", {}), dict):
                raise ValueError(f"project {name!r} is not a table with `platforms`")
        if not isinstance(data.get("platforms", []), list):
            raise ValueError("`platforms` is not a list")
    except (ValueError, UnicodeDecodeError) as e:
        raise TamperedError(
            f"{where} is not a manifest `ipwhl assemble` writes: {e}",
            fix="check that the CID or directory is the root of an assembled tree",
        ) from e
    return data
