"""Refreshing the build locks: the union of every recipe's build requirements, compiled
with hashes for every Linux interpreter of the set."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

from builder.errors import LockError
from builder.model.farm import Farm
from builder.model.lock import FRONTEND, compile_lock, sdist_build_requires
from builder.model.platform import OS, Platform
from builder.paths import uv_binary
from builder.pipeline import rooted
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.sandbox import bubblewrap
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
    # One platform per interpreter tag speaks for it; a rooted one (PyPy, the newest
    # CPythons) is asked for its markers, since uv cannot pretend to be PyPy.
    interpreters: dict[str, Platform] = {}
    for platform in sorted(farm.platforms.values(), key=lambda p: (not p.root, p.id)):
        if platform.os is OS.LINUX:
            interpreters.setdefault(platform.interpreter, platform)
    uv = uv_binary()
    for interpreter, platform in sorted(interpreters.items()):
        version = platform.python_version
        with (
            reporter.stage(
                f"compile locks/{interpreter}.txt for {platform.implementation} {version}"
            ),  # fmt: skip
            tempfile.TemporaryDirectory(dir=farm.locks) as tmp,
        ):
            out = Path(tmp) / f"{interpreter}.txt"
            shutil.copy(source, Path(tmp) / source.name)
            python = _interpreter(platform, Path(tmp), cache, uv)
            compile_lock(Path(tmp) / source.name, out, python_version=version, uv=uv,
                         python=python)  # fmt: skip
            out.replace(farm.locks / f"{interpreter}.txt")
    return len(requirements), len(interpreters)


def _interpreter(platform: Platform, directory: Path, cache: Path, uv: str) -> Path | None:
    """What uv should ask for markers and tags: a rooted interpreter, started in the
    sandbox; None for uv's own idea of a CPython of that version."""
    if platform.root and bubblewrap() is not None:
        job = directory / "job"
        job.mkdir()
        return rooted.runner(rooted.python(platform), script=job / "python", uv=uv, env={},
                             sandbox=rooted.sandbox(platform, job, cache))  # fmt: skip
    if platform.implementation != "cpython":
        raise LockError(
            f"{platform.path}: cannot lock for {platform.interpreter} without running it",
            fix="install bubblewrap: the interpreter runs on its root, in the sandbox",
        )
    return None
