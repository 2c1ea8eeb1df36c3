"""The set's own build backends: which pins of a lock the set builds itself, and the
order that follows (a backend before every build that installs it)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from builder.model.lock import read_lock
from builder.pipeline import bootstrap
from builder.pipeline.plan import build_order, plan_jobs
from tests.fixtures.farm_files import PURE_PLATFORM, load_real_platforms, recipe_doc
from tests.unit.test_plan import recipes_from


def _pin(name: str, version: str, *via: str) -> str:
    digest = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
    lines = [f"{name}=={version} \\", f"    --hash=sha256:{digest}", "    # via"]
    return "\n".join([*lines, *(f"    #   {v}" for v in via)]) + "\n"


def _lock(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "locks" / "demo" / "cp312.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(pins))
    return path


def test_the_set_builds_what_it_holds_at_the_pinned_version(tmp_path: Path) -> None:
    lock = read_lock(
        _lock(
            tmp_path,
            _pin("build", "1.3.0", "-r requirements.in"),
            _pin("packaging", "25.0", "build", "hatchling"),
            _pin("pyproject-hooks", "1.2.0", "build"),
            _pin("hatchling", "1.33.0", "-r requirements.in"),
            _pin("pluggy", "1.6.0", "hatchling"),
            _pin("pathspec", "0.12.1", "hatchling"),
            _pin("demo", "1.0.0", "-r requirements.in"),
        )
    )
    recipes = recipes_from(
        tmp_path,
        recipe_doc("demo"),
        recipe_doc("hatchling", "1.33.0", pure=True),
        recipe_doc("pluggy", "1.5.0", pure=True),  # not the pinned version: PyPI's
        recipe_doc("packaging", "25.0", pure=True),  # the seed's: PyPI's
        recipe_doc("build", "1.3.0", pure=True),
    )
    assert bootstrap.seed(lock) == {"build", "packaging", "pyproject-hooks"}
    # Never itself (a backend that needs itself builds from its own tree), never the
    # seed, never a version the set does not hold, nor a project it has no recipe for.
    assert bootstrap.own_backends(recipes["demo"], lock, recipes) == ("hatchling",)
    pins = list(lock.pins.values())
    assert [p.name for p in bootstrap.split(pins, ["hatchling"])] == [
        "build", "packaging", "pyproject-hooks", "pluggy", "pathspec", "demo",
    ]  # fmt: skip


def test_a_backend_is_built_before_every_build_that_installs_it(tmp_path: Path) -> None:
    platforms: dict[str, Any] = load_real_platforms(PURE_PLATFORM, "linux-x86_64-cp311")
    recipes = recipes_from(
        tmp_path,
        recipe_doc("zbackend", pure=True),  # last by name: only an edge puts it first
        recipe_doc("cext"),
        recipe_doc("purelib", pure=True),
    )
    jobs = plan_jobs(recipes, platforms.values(), platforms[PURE_PLATFORM])
    jobs = [
        dataclasses.replace(j, backends=("zbackend",)) if j.recipe.name != "zbackend" else j
        for j in jobs
    ]
    order = build_order(jobs)
    first = order.index(f"zbackend@{PURE_PLATFORM}")
    for job in jobs:
        if job.recipe.name != "zbackend" and not job.reuses:
            assert order.index(job.key) > first, job.key


def test_build_lock_prefers_the_sets_own_versions(tmp_path: Path) -> None:
    from builder.curation.locks import _preferences
    from builder.model.farm import Farm

    recipes = recipes_from(tmp_path, recipe_doc("flit-core", "3.12.0", pure=True))
    old = _lock(tmp_path, _pin("flit-core", "4.2.0", "-r requirements.in"), _pin("six", "1.0"))
    farm = Farm(root=tmp_path, recipes=recipes, platforms={})
    # The set's version where it holds the project, the old lock's for the rest.
    assert _preferences(farm, old) == "flit-core==3.12.0\nsix==1.0\n"
    assert _preferences(farm, tmp_path / "absent.txt") == "flit-core==3.12.0\n"
