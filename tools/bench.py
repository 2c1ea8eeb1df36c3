"""Benchmarks of the build spine (`nox -s bench`); prints a table, asserts nothing.

1. Scheduling efficiency: the same jobs from an empty store with -j N (all cores) and
   with -j 1; efficiency = sum of job times / (wall time x N).
2. Per-job overhead over the peer, a bare `python -m build --wheel` of the same sdist
   (isolated, its own unpinned environment): our job also locks, scrubs, repairs,
   normalizes, installs and tests.
3. A second run with nothing changed (every job cached).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from builder.model.farm import load_farm
from builder.pipeline.backends import why_not_buildable
from builder.pipeline.executor import execute
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.interpreters import find_interpreter
from builder.pipeline.plan import plan_jobs
from builder.pipeline.schedule import Status
from builder.pipeline.tasks import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["six", "idna", "markupsafe", "pyyaml", "msgpack", "frozenlist", "multidict", "propcache"]


def timed_run(
    projects: list[str], platforms: list[str], jobs: int, store: Path, cache: Path
) -> tuple[float, list[float], int]:
    farm = load_farm(ROOT)
    recipes = {n: r for n, r in farm.recipes.items() if n in projects}
    targets = [farm.platforms[p] for p in platforms]
    planned = plan_jobs(recipes, targets, farm.pure_platform)
    settings = Settings(
        store=store,
        cache=cache,
        build_root=store.parent / "build-root",
        uv=shutil.which("uv") or "uv",
        jobs=jobs,
    )
    start = time.monotonic()
    outcomes = execute(farm, planned, settings)
    wall = time.monotonic() - start
    failed = sum(o.status in (Status.FAILED, Status.SKIPPED) for o in outcomes)
    return wall, [o.seconds for o in outcomes], failed


def peer_python(interpreter: Path, base: Path) -> Path:
    """The peer as a user runs it: pypa/build, latest, in a venv of the interpreter."""
    uv = shutil.which("uv") or "uv"
    env = base / "peer-env"
    subprocess.run([uv, "venv", "-q", "--python", str(interpreter), str(env)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(env / "bin" / "python"),
                    "build[uv]"], check=True)  # fmt: skip
    return env / "bin" / "python"


def bare_build(sdist: Path, python: Path, out: Path) -> float | None:
    """A plain isolated `python -m build --wheel` of the sdist; None if it fails."""
    start = time.monotonic()
    result = subprocess.run(
        [str(python), "-m", "build", "--wheel", "--installer", "uv", "--outdir", str(out),
         str(sdist)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    if result.returncode != 0:
        print(f"  bare build of {sdist.name} failed: {result.stderr.strip()[-300:]}")
        return None
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", nargs="*", default=DEFAULT)
    parser.add_argument("--platform", action="append", default=None)
    args = parser.parse_args()
    farm = load_farm(ROOT)
    projects = [p for p in args.projects if p in farm.recipes]
    platforms = args.platform or ["linux-x86_64-cp312", "linux-x86_64-cp311"]
    platforms = [p for p in platforms if not why_not_buildable(farm.platforms[p])]
    cores = os.cpu_count() or 1
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ipwhl-bench-") as tmp:
        base = Path(tmp)
        wall_n, seconds, failed = timed_run(projects, platforms, cores, base / "n" / "store", cache)
        wall_1, _, _ = timed_run(projects, platforms, 1, base / "one" / "store", cache)
        wall_cached, _, _ = timed_run(projects, platforms, cores, base / "n" / "store", cache)
        efficiency = sum(seconds) / (wall_n * cores)
        rows.append(("jobs", f"{len(seconds)} ({failed} failed)"))
        rows.append((f"wall, -j {cores}", f"{wall_n:.1f} s"))
        rows.append(("wall, -j 1", f"{wall_1:.1f} s"))
        rows.append(("speed-up -j 1 -> -j N", f"{wall_1 / wall_n:.2f}x"))
        rows.append(("sum of job times", f"{sum(seconds):.1f} s"))
        rows.append((f"scheduling efficiency on {cores} cores", f"{efficiency:.0%}"))
        rows.append(("second run, nothing changed", f"{wall_cached:.2f} s"))

        python = find_interpreter(farm.platforms[platforms[0]].python_version)
        assert python is not None
        peer = peer_python(python.path, base)
        peer_total, ours_total, compared = 0.0, 0.0, 0
        print(f"\n{'project':14} {'bare python -m build':>22} {'ipwhl job':>10} {'ratio':>7}")
        _, per_job, _ = timed_run(projects, platforms[:1], 1, base / "per" / "store", cache)
        # plan_jobs sorts by name, so per_job lines up with `projects` on one platform.
        for name, ours in zip(sorted(projects), per_job, strict=False):
            sdist = fetch_sdist(farm.recipes[name], cache)
            bare = bare_build(sdist, peer, base / "bare" / name)
            if bare is None:
                print(f"{name:14} {'failed':>22} {ours:8.1f} s")
                continue
            peer_total, ours_total, compared = peer_total + bare, ours_total + ours, compared + 1
            print(f"{name:14} {bare:20.1f} s {ours:8.1f} s {ours / bare:6.2f}x")
        rows.append(("per-job time vs bare python -m build", f"{ours_total / peer_total:.2f}x"))
        rows.append(("per-job overhead", f"{(ours_total - peer_total) / compared:+.1f} s"))
    print(f"\n{'measure':42} value")
    for name, value in rows:
        print(f"{name:42} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
