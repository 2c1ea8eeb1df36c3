"""What a change to the farm needs rebuilt: the jobs whose recipe, patches, platform file
or locked build requirements changed since a git revision, and their build-time
dependents."""

from __future__ import annotations

import fnmatch
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from builder.curation.bump import build_dependents
from builder.curation.view import build_requires as read_build_requires
from builder.errors import CurationError, IpwhlError
from builder.model.farm import Farm
from builder.model.lock import FRONTEND, Lock, apply_overrides, read_lock
from builder.pipeline import bootstrap
from builder.pipeline.plan import Job, plan_jobs


@dataclass(frozen=True, kw_only=True)
class Change:
    """Why a recipe must be rebuilt on some platforms."""

    recipes: Mapping[str, frozenset[str]]  # recipe -> platform ids
    reasons: Mapping[str, str]  # recipe -> why


def _git(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *argv], capture_output=True, text=True, check=False
    )


def changed_files(root: Path, rev: str) -> list[str]:
    """Paths under recipes/, platforms/ and locks/ that differ from `rev` (committed,
    staged, unstaged or untracked)."""
    diff = _git(root, "diff", "--name-only", rev, "--", "recipes", "platforms", "locks")
    if diff.returncode != 0:
        raise CurationError(
            f"git cannot compare with {rev!r}: {diff.stderr.strip()}",
            fix="fetch enough history (fetch-depth: 0) or name an existing revision",
        )
    others = _git(
        root, "ls-files", "--others", "--exclude-standard", "recipes", "platforms", "locks"
    )
    return sorted({*diff.stdout.split(), *others.stdout.split()})


def _old_lock(root: Path, rev: str, path: str) -> Lock | None:
    shown = _git(root, "show", f"{rev}:{path}")
    if shown.returncode != 0:
        return None
    tmp = root / "locks" / f".plan-{path.replace('/', '-')}"
    try:
        tmp.write_text(shown.stdout)
        return read_lock(tmp)
    except IpwhlError:
        return None
    finally:
        tmp.unlink(missing_ok=True)


def affected(farm: Farm, files: list[str], rev: str, cache: Path) -> Change:
    targets: dict[str, set[str]] = {}
    reasons: dict[str, str] = {}

    def add(name: str, platform_ids: set[str], why: str) -> None:
        if name in farm.recipes and platform_ids:
            targets.setdefault(name, set()).update(platform_ids)
            reasons.setdefault(name, why)

    def selected(name: str) -> set[str]:
        return {p for p in farm.platforms if farm.recipes[name].selects(p)}

    build_requires = None
    for path in files:
        parts = path.split("/")
        if parts[0] == "recipes" and len(parts) == 2 and path.endswith(".toml"):
            name = parts[1][:-5]
            if name in farm.recipes:
                add(name, selected(name), "recipe changed")
        elif parts[:2] == ["recipes", "patches"] and len(parts) > 3:
            if parts[2] in farm.recipes:
                add(parts[2], selected(parts[2]), "patches changed")
        elif parts[0] == "platforms" and path.endswith(".toml"):
            pid = parts[1][:-5]
            for name, recipe in farm.recipes.items():
                if pid in farm.platforms and recipe.selects(pid):
                    add(name, {pid}, f"platform {pid} changed")
        elif parts[0] == "locks" and len(parts) == 3 and parts[1] in farm.recipes:
            if parts[2] == "overrides.txt" or not parts[2].endswith(".txt"):
                continue  # the recipe's own change says it; the lock shows the effect
            if build_requires is None:
                build_requires = read_build_requires(farm, cache)
            _lock_changes(
                farm,
                root_rev=(farm.root, rev, path),
                name=parts[1],
                interpreter=parts[2][:-4],
                build_requires=build_requires,
                add=add,
            )
    uses = bootstrap.build_uses(farm)
    for name in sorted(targets):
        for dependent in build_dependents(farm.recipes, [name], uses):
            add(dependent, targets[name] & selected(dependent), f"builds against {name}")
    return Change(recipes={n: frozenset(p) for n, p in targets.items()}, reasons=dict(reasons))


def _lock_changes(
    farm: Farm,
    *,
    root_rev: tuple[Path, str, str],
    name: str,
    interpreter: str,
    build_requires: Mapping[str, tuple[str, ...] | None],
    add: Callable[[str, set[str], str], None],
) -> None:
    """The platforms of `interpreter` where the recipe's locked build requirements
    changed pins."""
    root, rev, path = root_rev
    try:
        new = read_lock(root / path)
    except IpwhlError:
        return
    # Before locks were per recipe, one lock per interpreter held every recipe's pins.
    old = _old_lock(root, rev, path) or _old_lock(root, rev, f"locks/{interpreter}.txt")
    old_lines = {p.line() for p in old.pins.values()} if old else set()
    changed = {n for n, p in new.pins.items() if p.line() not in old_lines}
    recipe = farm.recipes[name]
    texts = build_requires.get(name)
    depends = {canonicalize_name(d) for d in recipe.depends}
    for platform in farm.platforms.values():
        if platform.interpreter != interpreter or not recipe.selects(platform.id):
            continue
        if texts is None:
            hit = True  # sdist not at hand: rebuild rather than guess
        else:
            # The requirements a build on this platform installs, as the build picks
            # them: overrides applied, markers evaluated, the set's own build
            # dependencies left out.
            env = platform.marker_environment()
            reqs = apply_overrides(
                [Requirement(t) for t in [*texts, *recipe.requires, FRONTEND]],
                [Requirement(t) for t in recipe.overrides],
            )
            reqs = [
                r
                for r in reqs
                if canonicalize_name(r.name) not in depends
                and (r.marker is None or r.marker.evaluate(env))
            ]
            try:
                pins = new.closure(reqs, who=name)
            except IpwhlError:
                hit = True  # `ipwhl check` reports it; the build will fail loudly
            else:
                hit = any(p.name in changed for p in pins)
        if hit:
            # A pure wheel is built once: every platform that reuses it follows.
            where = {p for p in farm.platforms if recipe.selects(p)} if recipe.pure else set()
            add(name, {platform.id} | where, f"{path} pins changed")


def jobs_for(farm: Farm, change: Change, globs: list[str]) -> list[Job]:
    platforms = [
        p
        for p in farm.platforms.values()
        if not globs or any(fnmatch.fnmatchcase(p.id, g) for g in globs)
    ]
    recipes = {n: farm.recipes[n] for n in change.recipes}
    return [
        job
        for job in plan_jobs(recipes, platforms, farm.pure_platform)
        if job.platform.id in change.recipes[job.recipe.name]
        or (job.reuses is None and job.recipe.pure)  # the pure build every reuse needs
    ]


def plan_document(
    farm: Farm, change: Change, jobs: list[Job], files: list[str], rev: str
) -> dict[str, Any]:
    """The plan as `ipwhl plan --json` prints it and `ipwhl ci-matrix` reads it."""
    by_platform: dict[str, list[str]] = {}
    for job in jobs:
        by_platform.setdefault(job.platform.id, []).append(job.recipe.name)
    return {
        "changed_since": rev,
        "changed_files": files,
        "jobs": [
            {
                "project": j.recipe.name,
                "platform": j.platform.id,
                "backend": str(j.platform.backend),
                "reuses": j.reuses,
                "reason": change.reasons[j.recipe.name],
            }
            for j in jobs
        ],
        "include": [
            {
                "platform": pid,
                "backend": str(farm.platforms[pid].backend),
                "projects": " ".join(sorted(names)),
            }
            for pid, names in sorted(by_platform.items())
        ],
    }
