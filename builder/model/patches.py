"""Patches to an upstream source: files beside the recipe that names them, applied with
`patch -p1` before the build, each an input of the build by its sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from builder.model.tomlfields import Collector, Fields


@dataclass(frozen=True, kw_only=True)
class Patch:
    path: Path
    sha256: str


def read_patches(
    source: Fields, *, directory: Path, code: str, collector: Collector
) -> list[Patch]:
    """`source.patches`: file names under `directory` (`<recipes>/patches/<name>/`)."""
    patches = []
    for i, patch_name in enumerate(source.str_list("patches")):
        patch_path = directory / patch_name
        if Path(patch_name).name != patch_name or not patch_path.is_file():
            collector.add(
                code=code,
                file=source.file,
                field=f"source.patches[{i}]",
                message=f"no patch file {patch_path}",
                fix=f"add the patch under {directory.parent.parent.name}/patches/"
                f"{directory.name}/ or remove it",
            )
            continue
        patches.append(
            Patch(path=patch_path, sha256=hashlib.sha256(patch_path.read_bytes()).hexdigest())
        )
    return patches
