"""The full set built cold (`nox -s bench_full`); prints a table, asserts nothing.

Cold means an empty store: every wheel, native library and build backend of the set is
built and tested again; downloads (sdists, crates, the toolchain) come from the cache
where it has them and are fetched within the run where not (a fresh machine). The run
orders its builds by the longest chain first (builder/pipeline/estimates.py). It is
measured against two bounds no order can beat on these cores, the sum of job times over
the cores and the longest chain of build dependencies (both from this run's own times),
and with `--compare` against the peer order, by name, built cold again in the same run.

`--store PATH` keeps the (empty at start) store of the first run for later use, e.g.
`ipwhl check`, `nox -s times` or `ipwhl build` of another platform. That run builds at the
default build root, an input of every build, so that a later `ipwhl build` reuses its
wheels; without `--store` the runs build under a temporary directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from builder.model.farm import load_farm
from builder.paths import DEFAULT_BUILD_ROOT
from builder.pipeline.estimates import longest_chains
from builder.pipeline.executor import Outcome
from builder.pipeline.plan import build_graph
from builder.pipeline.run import build_set, select, settings
from builder.pipeline.schedule import Status
from builder.pipeline.tasks import Settings
from builder.report import Reporter

ROOT = Path(__file__).resolve().parent.parent


def cold_run(
    projects: list[str], platform: str, run_settings: Settings
) -> tuple[float, list[Outcome]]:
    if any(run_settings.store.glob("records/*")):
        sys.exit(f"{run_settings.store} is not empty: a cold run needs an empty store")
    start = time.monotonic()
    outcomes = build_set(load_farm(ROOT), projects, [platform], run_settings, Reporter())
    return time.monotonic() - start, outcomes


def summary(label: str, wall: float, outcomes: list[Outcome], cores: int) -> list[tuple[str, str]]:
    seconds = {o.job.key: o.seconds for o in outcomes}
    graph = build_graph(o.job for o in outcomes)
    chains = longest_chains({k: frozenset(v) for k, v in graph.items()}, seconds)
    busy, chain = sum(seconds.values()), max(chains.values(), default=0.0)
    bound = max(busy / cores, chain)
    bad = sum(o.status in (Status.FAILED, Status.SKIPPED) for o in outcomes)
    return [
        (f"{label}: jobs", f"{len(outcomes)} ({bad} failed or skipped)"),
        (f"{label}: wall", f"{wall:.0f} s ({wall / 60:.1f} min)"),
        (f"{label}: sum of job times", f"{busy:.0f} s"),
        (f"{label}: longest chain of build dependencies", f"{chain:.0f} s"),
        (f"{label}: wall / lower bound max(sum/{cores}, chain)", f"{wall / bound:.2f}x"),
        (f"{label}: workers busy", f"{busy / (wall * cores):.0%}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", nargs="*", default=[], help="a subset (default: all)")
    parser.add_argument("--platform", default="linux-x86_64-cp312")
    parser.add_argument("--store", type=Path, default=None, help="keep the first run's store")
    parser.add_argument("--compare", action="store_true", help="also build in name order")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    select(load_farm(ROOT), args.projects, [args.platform])  # unknown names fail here
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ipwhl-bench-full-") as tmp:
        base = Path(tmp)

        def run_settings(store: Path, build_root: Path = base / "build-root") -> Settings:
            return settings(store=store, cache=cache, build_root=build_root, jobs=args.jobs)

        first = (
            run_settings(args.store, DEFAULT_BUILD_ROOT)
            if args.store
            else run_settings(base / "longest" / "store")
        )
        wall, outcomes = cold_run(args.projects, args.platform, first)
        rows += summary("longest first", wall, outcomes, args.jobs)
        longest = sorted(outcomes, key=lambda o: -o.seconds)[:12]
        if args.compare:
            peer = dataclasses.replace(run_settings(base / "name" / "store"), longest_first=False)
            peer_wall, peer_outcomes = cold_run(args.projects, args.platform, peer)
            rows += summary("by name (peer)", peer_wall, peer_outcomes, args.jobs)
            rows.append(("longest first vs by name, wall", f"{wall / peer_wall:.2f}x"))
    print(f"\nlongest single jobs on {args.platform} (build and test, {args.jobs} at a time):")
    for o in longest:
        print(f"  {o.job.recipe.name:28} {o.seconds:7.0f} s  {o.status}")
    print(f"\n{'measure':52} value")
    for name, value in rows:
        print(f"{name:52} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
