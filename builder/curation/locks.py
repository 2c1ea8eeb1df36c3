"""Refreshing the build locks: the union of every recipe's build requirements, compiled
with hashes for every Linux interpreter of the set."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

from builder.model.farm import Farm
from builder.model.lock import FRONTEND, compile_lock, sdist_build_requires
from builder.model.platform import OS
from builder.paths import uv_binary
from builder.pipeline.fetch import fetch_sdist
from builder.report import Reporter


def refresh_locks(farm: Farm, cache: Path, reporter: Reporter) -> tuple[int, int]:
    """Write locks/build-requirements.in and locks/<interpreter>.txt; return how many
    requirements were locked for how many interpreters. A failed compile keeps the old
    lock."""
    requirements: dict[str, set[str]] = {}
    with reporter.stage(f"read the build requirements of {len(farm.recipes)} sdists"):
        for recipe in farm.recipes.values():
            sdist = fetch_sdist(recipe, cache)
            for text in [*sdist_build_requires(sdist), *recipe.requires]:
                requirements.setdefault(str(Requirement(text)), set()).add(recipe.name)
        requirements.setdefault(FRONTEND, set()).add("(the build frontend)")
    lines = [
        "# The union of every recipe's build requirements; written by `nox -s lock`.",
        "# Each line names the recipes that need it.",
    ]
    for text in sorted(requirements, key=str.lower):
        lines.append(f"{text}  # {', '.join(sorted(requirements[text]))}")
    farm.locks.mkdir(exist_ok=True)
    source = farm.locks / "build-requirements.in"
    source.write_text("\n".join(lines) + "\n")
    interpreters = sorted({p.interpreter for p in farm.platforms.values() if p.os is OS.LINUX})
    uv = uv_binary()
    for interpreter in interpreters:
        version = f"{interpreter[2]}.{interpreter[3:]}"
        with (
            reporter.stage(f"compile locks/{interpreter}.txt for Python {version}"),
            tempfile.TemporaryDirectory(dir=farm.locks) as tmp,
        ):
            out = Path(tmp) / f"{interpreter}.txt"
            shutil.copy(source, Path(tmp) / source.name)
            compile_lock(Path(tmp) / source.name, out, python_version=version, uv=uv)
            out.replace(farm.locks / f"{interpreter}.txt")
    return len(requirements), len(interpreters)
