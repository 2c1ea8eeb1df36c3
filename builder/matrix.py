"""The CI build matrix: the planned jobs split by platform group and by estimated cost.

A group (`<os>-<arch>`) is one runner type. When a group's work fits one job's time
budget it is one entry; otherwise each platform gets entries of its own, filled with
whole build-dependency components (recipes joined by `build.depends` stay together, so
no entry waits on another's wheels), largest first. Costs are the recorded times of
the jobs (`store/times/`), or a default per kind of job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from builder.errors import DataError, IpwhlError
from builder.model.data import load_data, tables
from builder.model.farm import Farm

Times = Mapping[tuple[str, str], float]  # (project, platform) -> seconds


@dataclass(frozen=True, kw_only=True)
class MatrixEntry:
    group: str  # <os>-<arch>: the platform id without its interpreter
    runner: str
    qemu: str  # docker/setup-qemu-action platform, "" when the runner is native
    backend: str
    platforms: tuple[str, ...]
    projects: tuple[str, ...] = ()  # empty: every recipe
    estimate: float = 0.0  # seconds, by recorded times
    part: str = ""  # "2/5" when a group is split


@dataclass(frozen=True, kw_only=True)
class Limits:
    budget: float
    max_entries: int
    unknown: dict[str, float]


def limits() -> Limits:
    name = "ci-matrix.toml"
    data = load_data(name)
    unknown = data.get("unknown-seconds")
    budget, most = data.get("budget-seconds"), data.get("max-entries")
    if not isinstance(budget, int) or not isinstance(most, int) or not isinstance(unknown, dict):
        raise DataError(
            f"builder/data/{name} needs budget-seconds, max-entries and [unknown-seconds]",
            fix=f"restore builder/data/{name} from the repository",
        )
    return Limits(budget=budget, max_entries=most,
                  unknown={k: float(v) for k, v in unknown.items()})  # fmt: skip


def runners() -> dict[str, dict[str, str]]:
    return tables("ci-runners.toml", required=("runner",))


def group_of(platform_id: str) -> str:
    return platform_id.rsplit("-", 1)[0]


def planned_jobs(plan: Any) -> list[tuple[str, str]]:
    """(project, platform) pairs of `ipwhl plan --json` output: a list of jobs or
    {"jobs": [...]}; a job without a project means every recipe on that platform."""
    jobs = plan.get("jobs", []) if isinstance(plan, dict) else plan
    if not isinstance(jobs, list):
        raise IpwhlError(
            "the plan is not a list of jobs", fix="pass the output of `ipwhl plan --json`"
        )
    found = []
    for job in jobs:
        if isinstance(job, dict) and isinstance(job.get("platform"), str):
            project = job.get("project")
            found.append((project if isinstance(project, str) else "", str(job["platform"])))
    return found


def _components(farm: Farm) -> dict[str, frozenset[str]]:
    """Each recipe's build-dependency component (depends edges, either direction)."""
    parent = {name: name for name in farm.recipes}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name, recipe in farm.recipes.items():
        for dep in recipe.depends:
            if dep in parent:
                parent[find(dep)] = find(name)
    members: dict[str, set[str]] = {}
    for name in farm.recipes:
        members.setdefault(find(name), set()).add(name)
    return {name: frozenset(members[find(name)]) for name in farm.recipes}


def _cost(farm: Farm, project: str, platform: str, times: Times, known: Limits) -> float:
    if (project, platform) in times:
        return times[(project, platform)]
    recipe = farm.recipes[project]
    if not recipe.pure:
        return known.unknown.get("compiled", 300.0)
    if platform == farm.pure_platform.id:
        return known.unknown.get("pure", 20.0)
    return known.unknown.get("reuse", 10.0)


def _runner(group: str, table: dict[str, dict[str, str]]) -> dict[str, str]:
    if group not in table:
        raise IpwhlError(
            f"no CI runner for platform group {group!r}",
            fix="add it to builder/data/ci-runners.toml",
        )
    return table[group]


def matrix(
    farm: Farm,
    jobs: Iterable[tuple[str, str]],
    times: Times | None = None,
    known: Limits | None = None,
) -> list[MatrixEntry]:
    """Entries for the (project, platform) jobs; project "" stands for every recipe."""
    known = known or limits()
    times = times or {}
    table = runners()
    components = _components(farm)
    wanted: dict[str, dict[str, set[str]]] = {}  # group -> platform -> projects
    for project, pid in jobs:
        names = set(farm.recipes) if not project else set(components[project])
        wanted.setdefault(group_of(pid), {}).setdefault(pid, set()).update(names)
    entries: list[MatrixEntry] = []
    for group, by_platform in sorted(wanted.items()):
        runner = _runner(group, table)
        base = {"group": group, "runner": runner["runner"], "qemu": runner.get("qemu", "")}
        total = sum(_cost(farm, n, pid, times, known)
                    for pid, names in by_platform.items() for n in names)  # fmt: skip
        if total <= known.budget:
            platforms = sorted(by_platform)
            names = set().union(*by_platform.values())
            every = names == set(farm.recipes)
            entries.append(MatrixEntry(
                **base, backend=_backends(farm, platforms), platforms=tuple(platforms),
                projects=() if every else tuple(sorted(names)), estimate=round(total, 1),
            ))  # fmt: skip
            continue
        split: list[MatrixEntry] = []
        for pid, names in sorted(by_platform.items()):
            for bin_names, cost in _pack(farm, pid, names, components, times, known):
                split.append(MatrixEntry(
                    **base, backend=_backends(farm, [pid]), platforms=(pid,),
                    projects=tuple(sorted(bin_names)), estimate=round(cost, 1),
                ))  # fmt: skip
        entries.extend(
            MatrixEntry(**{**e.__dict__, "part": f"{i}/{len(split)}"})
            for i, e in enumerate(split, 1)
        )
    if len(entries) > known.max_entries:
        raise IpwhlError(
            f"the build needs {len(entries)} matrix entries of at most "
            f"{known.budget:.0f} s; GitHub allows {known.max_entries}",
            fix="raise budget-seconds in builder/data/ci-matrix.toml (up to about 5 hours), "
            "or build the set in more than one workflow",
        )
    return entries


def _backends(farm: Farm, platforms: Iterable[str]) -> str:
    return ",".join(sorted({str(farm.platforms[p].backend) for p in platforms}))


def _pack(
    farm: Farm,
    pid: str,
    names: set[str],
    components: dict[str, frozenset[str]],
    times: Times,
    known: Limits,
) -> list[tuple[set[str], float]]:
    """First-fit decreasing: whole components into bins of at most the budget (a
    component larger than the budget gets a bin of its own)."""
    pieces = {components[n] for n in names}
    costed = sorted(
        ((sum(_cost(farm, n, pid, times, known) for n in c), sorted(c)) for c in pieces),
        key=lambda item: (-item[0], item[1]),
    )
    bins: list[tuple[set[str], float]] = []
    for cost, members in costed:
        for i, (held, used) in enumerate(bins):
            if used + cost <= known.budget:
                bins[i] = (held | set(members), used + cost)
                break
        else:
            bins.append((set(members), cost))
    return bins
