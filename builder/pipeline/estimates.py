"""How long a job will take, before it runs: the order a run starts its builds in.

Two sources, the nearer first: the store's own times (`store/times/`, what this machine
measured last), then `builder/data/build-times.toml`, measured on the reference platform
by a full build and committed, so that a newcomer's cold run on an empty store starts
numpy and pandas first rather than last. A job neither knows counts as quick.

A job's priority is the length of the longest chain it starts: its own time plus that
of the longest chain of the jobs whose builds wait for its wheel (numpy's includes
pandas'). Starting the longest chain first is the classic list-scheduling rule; with
2 workers it keeps the last hour from being numpy alone.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping

from builder.errors import DataError
from builder.model.data import data_path, load_data

_NAME = "build-times.toml"


def reference_times() -> tuple[str, dict[str, float]]:
    """build-times.toml: its platform, and seconds by project."""
    document = load_data(_NAME)
    platform, seconds = document.get("platform"), document.get("seconds")
    if not isinstance(platform, str):
        raise _fail("platform", "the platform id the times were measured on")
    if not isinstance(seconds, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in seconds.values()
    ):
        raise _fail("[seconds]", "a table of project = seconds (numbers, 0 or more)")
    return platform, {name: float(v) for name, v in seconds.items()}


def job_seconds(
    project: str,
    platform: str,
    measured: Mapping[tuple[str, str], float],
    reference: Mapping[str, float],
) -> float:
    """This machine's time for the job, else its time for the project on another
    platform (the longest), else the reference time, else 0."""
    if (project, platform) in measured:
        return measured[(project, platform)]
    elsewhere = [t for (p, _), t in measured.items() if p == project]
    if elsewhere:
        return max(elsewhere)
    return reference.get(project, 0.0)


def longest_chains(
    needs: Mapping[str, frozenset[str]], seconds: Mapping[str, float]
) -> dict[str, float]:
    """key -> its seconds plus the longest chain among the jobs that need it."""
    dependents: dict[str, list[str]] = {key: [] for key in needs}
    for key, wanted in needs.items():
        for need in wanted:
            dependents[need].append(key)
    chains: dict[str, float] = {}
    # static_order yields a job after what it needs; reversed, after its dependents.
    for key in reversed(list(graphlib.TopologicalSorter(needs).static_order())):
        after = max((chains[d] for d in dependents.get(key, ())), default=0.0)
        chains[key] = seconds.get(key, 0.0) + after
    return chains


def render(platform: str, measured: Mapping[tuple[str, str], float]) -> str:
    """build-times.toml from a store's times on `platform`, longest first. A project
    built only elsewhere (an abi3 wheel built on its base platform) keeps its longest
    time there: a cold run on `platform` builds it too."""
    on_platform = {p: t for (p, pid), t in measured.items() if pid == platform}
    for (project, _), t in measured.items():
        if project not in on_platform or ((project, platform) not in measured
                                          and t > on_platform[project]):  # fmt: skip
            on_platform[project] = t
    lines = [
        "# Seconds each job took to build and test on the platform below, 2 cores, measured",
        "# by a full build and written by `nox -s times` (ipwhl times). A cold run starts",
        "# its longest chains first with them; a store's own times replace them once it",
        "# has built a job. A project not listed counts as quick.",
        f'platform = "{platform}"',
        "",
        "[seconds]",
    ]
    for project, t in sorted(on_platform.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"{project} = {t:.1f}")
    return "\n".join(lines) + "\n"


def _fail(key: str, wanted: str) -> DataError:
    return DataError(f"{data_path(_NAME)}: {key}: must be {wanted}",
                     fix=f"correct {key} in builder/data/{_NAME}, or rewrite it with "
                     "`nox -s times` after a full build")  # fmt: skip
