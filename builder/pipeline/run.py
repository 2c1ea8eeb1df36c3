"""A build run as the commands ask for it: which jobs, on which platforms, and running them.

`ipwhl build`, `ipwhl new` and the CI steps all build through `build_set`, so that a run
looks and behaves the same whoever starts it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.errors import InputError, Problem
from builder.model.farm import Farm
from builder.model.platform import Platform
from builder.model.recipe import Recipe
from builder.paths import uv_binary
from builder.pipeline import bootstrap, buildroot
from builder.pipeline.backends import why_not_buildable
from builder.pipeline.bootstrap import BackendsFrom
from builder.pipeline.executor import Outcome, execute
from builder.pipeline.plan import Job, plan_jobs
from builder.pipeline.sandbox import describe
from builder.pipeline.schedule import Status
from builder.pipeline.tasks import Settings
from builder.report import Reporter


@dataclass(frozen=True, kw_only=True)
class Selection:
    recipes: dict[str, Recipe]
    buildable: list[Platform]
    unbuildable: dict[str, str]  # platform id (or "pure recipes") -> why not here
    jobs: list[Job]


def select(
    farm: Farm,
    projects: Sequence[str],
    globs: Sequence[str],
    backends_from: BackendsFrom = BackendsFrom.SET,
) -> Selection:
    """The jobs for `projects` (all if empty) and the recipes their builds install, on
    the platforms matching `globs` (all if empty) that this machine can build; the
    others are named with the reason."""
    unknown = sorted(set(projects) - set(farm.recipes))
    if unknown:
        raise InputError(
            [
                Problem(
                    code="A001",
                    file=farm.root / "recipes",
                    field=name,
                    message="no such recipe",
                    fix=f"write recipes/{name}.toml, or `ipwhl new {name}`",
                )
                for name in unknown
            ]
        )
    recipes = {n: r for n, r in farm.recipes.items() if not projects or n in projects}
    platforms = [
        p
        for p in farm.platforms.values()
        if not globs or any(fnmatch.fnmatch(p.id, g) for g in globs)
    ]
    unbuildable = {p.id: why for p in platforms if (why := why_not_buildable(p))}
    buildable = [p for p in platforms if p.id not in unbuildable]
    if farm.pure_platform.id in unbuildable or why_not_buildable(farm.pure_platform):
        # Pure wheels are built once, on their one platform, and reused elsewhere.
        recipes = {n: r for n, r in recipes.items() if not r.pure}
        unbuildable["pure recipes"] = f"built on {farm.pure_platform.id}"
    every = [p for p in farm.platforms.values() if not why_not_buildable(p)]
    locks: bootstrap.Locks = {}
    chosen = {p.id for p in buildable}
    # Platforms outside the selection that some job is built on (an abi3 recipe's base
    # interpreter): the recipes its build installs from the set are built there too.
    elsewhere: dict[str, set[str]] = {}
    while True:
        planned = plan_jobs(recipes, buildable, farm.pure_platform, every_platform=every)
        for pid, names in sorted(elsewhere.items()):
            planned += plan_jobs({n: farm.recipes[n] for n in names}, [farm.platforms[pid]],
                                 farm.pure_platform, every_platform=every)  # fmt: skip
        unique = {job.key: job for job in planned}
        jobs = bootstrap.attach(farm, list(unique.values()), backends_from, locks)
        # A run of some projects builds what their builds install, and what those need
        # to pass their tests, as pip installs what a requirement needs: mostly cache hits.
        wanted = {
            name
            for job in jobs
            for name in bootstrap.held(farm, job, locks)
            if name in farm.recipes
        }
        grown = False
        for job in jobs:
            if job.platform.id not in chosen:
                needed = {n for n in bootstrap.held(farm, job, locks) if n in farm.recipes}
                known = elsewhere.setdefault(job.platform.id, set())
                grown |= not needed <= known
                known |= needed
        if wanted <= recipes.keys() and not grown:
            break
        recipes |= {name: farm.recipes[name] for name in sorted(wanted - recipes.keys())}
    return Selection(recipes=recipes, buildable=buildable, unbuildable=unbuildable, jobs=jobs)


def settings(
    *,
    store: Path,
    cache: Path,
    build_root: Path,
    jobs: int,
    sandbox: bool = True,
    keep: bool = False,
    backends_from: BackendsFrom = BackendsFrom.SET,
) -> Settings:
    """A run's settings; raises SandboxError if a sandbox is wanted and cannot be made,
    BuildRootError if the build root is not this user's own."""
    return Settings(
        store=store,
        cache=cache,
        build_root=buildroot.private(build_root.absolute()),
        uv=uv_binary(),
        jobs=jobs,
        sandbox=describe(sandbox),
        keep=keep,
        backends_from=str(backends_from),
    )


def build_set(
    farm: Farm,
    projects: Sequence[str],
    globs: Sequence[str],
    run_settings: Settings,
    reporter: Reporter,
) -> list[Outcome]:
    """Plan, then run every job, reporting as it goes; ends with the closing table."""
    with reporter.stage("plan"):
        chosen = select(farm, projects, globs, BackendsFrom(run_settings.backends_from))
        reporter.console.print(
            f"{len(chosen.jobs)} jobs: {len(chosen.recipes)} recipes x "
            f"{len(chosen.buildable)} platforms, {run_settings.jobs} at a time"
        )
    with (
        reporter.stage("fetch, build, repair, normalize, test, store"),
        reporter.jobs(len(chosen.jobs)),
    ):
        outcomes = execute(farm, chosen.jobs, run_settings, on_outcome=reporter.outcome)
    reporter.table(outcomes, chosen.unbuildable, farm.root)
    return outcomes


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return 1 if any(o.status in (Status.FAILED, Status.SKIPPED) for o in outcomes) else 0
