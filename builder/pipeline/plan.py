"""Plan: recipes x platforms -> jobs, and the order they must run in.

Pure functions over values: no disk, no network. The executor only runs what this
orders.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from builder.model.platform import Platform
from builder.model.recipe import Recipe


@dataclass(frozen=True, kw_only=True)
class Job:
    """One recipe on one platform. A pure recipe off its build platform reuses that wheel."""

    recipe: Recipe
    platform: Platform
    reuses: str | None = None  # the platform id whose pure wheel this job tests and serves
    # The set's recipes whose wheels its build environment holds instead of PyPI's: its
    # own build backends (`bootstrap.attach`), beside the recipe's `build.depends`.
    backends: tuple[str, ...] = ()

    @property
    def uses(self) -> tuple[str, ...]:
        """Every recipe whose wheel this job's build installs."""
        return tuple(sorted({*self.recipe.depends, *self.backends}))

    @property
    def key(self) -> str:
        return f"{self.recipe.name}@{self.platform.id}"


def build_platform(
    recipe: Recipe, platform: Platform, platforms: Iterable[Platform], pure_platform: Platform
) -> Platform:
    """Where the wheel `platform` serves is built.

    A pure wheel is built once, on the pure platform. An abi3 wheel is built once per
    OS, arch, libc, backend, policy and toolchain, on the lowest interpreter there,
    because the limited API makes one file serve every later CPython and two builds
    would give two files under one name; a platform promising an older glibc (another
    policy, compiled by another toolchain) gets its own. PyPy has no stable ABI: there
    an abi3 recipe builds for the interpreter, like every other wheel, on its own
    platform. A program's wheel (py3-none-<platform>) serves every interpreter of its
    kind, PyPy's too, and is built on the lowest CPython there.
    """
    if recipe.pure:
        return pure_platform
    if recipe.program or (recipe.abi3 and platform.implementation == "cpython"):

        def kind(p: Platform) -> tuple[object, ...]:
            shared = (p.os, p.arch, p.libc, p.backend, p.policy, p.toolchain)
            return shared if recipe.program else (*shared, p.implementation)

        peers = [p for p in platforms if kind(p) == kind(platform) and recipe.selects(p.id)]
        return min(
            peers,
            key=lambda p: (
                p.implementation != "cpython",
                int(p.python_version.split(".")[1]),
                p.id,
            ),
            default=platform,
        )
    return platform


def plan_jobs(
    recipes: Mapping[str, Recipe],
    platforms: Iterable[Platform],
    pure_platform: Platform,
    *,
    every_platform: Iterable[Platform] | None = None,
) -> list[Job]:
    """Jobs for `platforms`, plus the builds they reuse (`every_platform` says which
    platforms exist to build on; by default the targets themselves)."""
    jobs = []
    platforms = list(platforms)
    universe = list(every_platform) if every_platform is not None else platforms
    for recipe in sorted(recipes.values(), key=lambda r: r.name):
        targets = set()
        for platform in platforms:
            # The loader insists pure recipes select the pure platform (R017); a planner
            # given one that does not still builds the wheel its reusers need.
            if recipe.selects(platform.id):
                targets |= {platform, build_platform(recipe, platform, universe, pure_platform)}
        for platform in sorted(targets, key=lambda p: p.id):
            base = build_platform(recipe, platform, universe, pure_platform)
            reuses = base.id if base != platform else None
            jobs.append(Job(recipe=recipe, platform=platform, reuses=reuses))
    return jobs


def build_graph(jobs: Iterable[Job]) -> dict[str, set[str]]:
    """job key -> keys of the jobs whose wheels it needs before it can start."""
    by_key = {job.key: job for job in jobs}
    graph: dict[str, set[str]] = {}
    for job in by_key.values():
        needs = set()
        if job.reuses:
            needs.add(f"{job.recipe.name}@{job.reuses}")
        for dep in job.uses:
            same = f"{dep}@{job.platform.id}"
            if same in by_key:
                needs.add(same)
            else:
                # A pure wheel built once, or a recipe this platform has no build of; never
                # another platform's compiled wheel where this one's was left unplanned.
                needs.update(
                    k for k, j in by_key.items() if j.recipe.name == dep and not j.reuses
                    and (j.recipe.pure or not j.recipe.selects(job.platform.id))
                )  # fmt: skip
        graph[job.key] = {k for k in needs if k in by_key}
    return graph


def build_order(jobs: Iterable[Job]) -> list[str]:
    """A topological order of job keys; raises graphlib.CycleError on a cycle."""
    return list(graphlib.TopologicalSorter(build_graph(jobs)).static_order())


def runtime_requirements(requires_dist: Iterable[str], platform: Platform) -> list[str]:
    """The normalized names a wheel needs at run time on `platform` (markers evaluated)."""
    env = platform.marker_environment()
    names = []
    for text in requires_dist:
        req = Requirement(text)
        if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
            continue
        names.append(canonicalize_name(req.name))
    return sorted(set(names))


def test_closure(project: str, requires: Mapping[str, list[str]]) -> tuple[set[str], set[str]]:
    """Runtime closure of `project` over the wheels known so far.

    Returns (closure, unknown): `unknown` names are in the closure but have no
    metadata yet, so the test must wait for them (or they are missing from the set).
    """
    closure, unknown, todo = set(), set(), [project]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        if name not in requires:
            unknown.add(name)
            continue
        todo.extend(requires[name])
    return closure, unknown
