"""Benchmark of `ipwhl check` on the full set (`nox -s bench_check`); prints a table.

It runs on every pull request, so it must stay at a few seconds. Times each stage
(load recipes and platforms, select current records, read wheel metadata, read build
requirements, the gates) over several rounds, then the whole command as a user runs it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.curation.check import check
from builder.curation.view import gather
from builder.model.farm import load_farm
from builder.paths import default_cache
from builder.pipeline.collection import current
from builder.pipeline.store import Store

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds the command may take")
    args = parser.parse_args()
    root = args.root.absolute()
    store = Store(root=(args.store or root / "store").absolute())
    cache = default_cache()
    rows: dict[str, list[float]] = {}
    report = view = None
    for _ in range(args.rounds):
        t_load, farm = timed(lambda: load_farm(root))
        t_current, _ = timed(lambda: current(farm, store))  # noqa: B023
        t_gather, view = timed(lambda: gather(farm, store, cache))  # noqa: B023
        t_check, report = timed(lambda: check(view))  # noqa: B023
        for stage, seconds in (
            ("load recipes and platforms", t_load),
            ("select current records", t_current),
            ("gather (records, wheel metadata, build reqs)", t_gather),
            ("gates (all platforms)", t_check),
        ):
            rows.setdefault(stage, []).append(seconds)
    command = [sys.executable, "-m", "builder", "--root", str(root), "check", "--json",
               "--store", str(store.root)]  # fmt: skip
    for _ in range(args.rounds):
        seconds, _ = timed(lambda: subprocess.run(command, capture_output=True, check=False))
        rows.setdefault("`ipwhl check` (whole command)", []).append(seconds)
    assert view is not None and report is not None
    print(
        f"ipwhl check on {len(view.recipes)} projects, {len(view.platforms)} platforms, "
        f"{len(view.wheels)} current wheels ({len({w.sha256 for w in view.wheels})} files); "
        f"{len(report.problems)} problems; {args.rounds} rounds"
    )
    print(f"{'stage':<48} {'median s':>9} {'min s':>7} {'max s':>7}")
    for stage, times in rows.items():
        print(f"{stage:<48} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}")
    whole = statistics.median(rows["`ipwhl check` (whole command)"])
    verdict = "within" if whole <= args.budget else "OVER"
    print(f"\nwhole command: {whole:.2f}s median, {verdict} the {args.budget:.0f}s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
