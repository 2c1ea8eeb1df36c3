"""Incremental benchmarks (`nox -s bench_incremental`); prints tables, asserts nothing.

1. No-op of the full set: a store seeded from a published tree (`--from`), then
   `ipwhl build` with nothing changed, three times; the peer is the floor any run pays,
   `python -m builder --version` (interpreter start and imports).
2. A synthetic set of N recipes (default 2,000) on every platform this machine builds:
   the store is filled once through the real executor with a stand-in build step (a
   1 KB wheel per job, so the fill takes minutes, not hours); the no-op that is timed is
   the unmodified `ipwhl build` command. Its time per recipe shows how it grows.
3. One changed recipe on one platform, before and after: before, a CI job built its
   platform from an empty store (every recipe); after, it seeds from the published tree
   and builds what the change needs. Same machine, same run.

    python tools/bench_incremental.py --from PUBLIC/CID.car [--recipes 2000]
        [--platform linux-x86_64-cp312] [--change markupsafe] [--skip-before]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from builder.model.farm import load_farm
from builder.paths import default_cache
from builder.pipeline import executor
from builder.pipeline.run import select, settings
from builder.pipeline.store import Store
from builder.pipeline.tasks import BuildTask, Built, Tested, TestTask

ROOT = Path(__file__).resolve().parent.parent
IPWHL = [sys.executable, "-m", "builder"]


def timed(argv: list[str], *, cwd: Path | None = None) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"`{' '.join(argv)}` failed ({result.returncode}):\n{result.stdout[-3000:]}"
                 f"{result.stderr[-3000:]}")  # fmt: skip
    return seconds, result.stdout


def median_of(argv: list[str], runs: int = 3) -> float:
    return statistics.median(timed(argv)[0] for _ in range(runs))


def counts(output: str) -> str:
    closing = re.findall(r"^(\d+ jobs: .*)$", output, re.MULTILINE)  # the last is the table's
    return closing[-1] if closing else "?"


def copy_farm(target: Path, recipes: list[Path] | None = None) -> Path:
    (target / "recipes").mkdir(parents=True)
    for path in recipes if recipes is not None else sorted((ROOT / "recipes").glob("*.toml")):
        shutil.copy(path, target / "recipes")
    if (ROOT / "recipes" / "patches").is_dir() and recipes is None:
        shutil.copytree(ROOT / "recipes" / "patches", target / "recipes" / "patches")
    for directory in ("platforms", "locks", "libraries"):
        shutil.copytree(ROOT / directory, target / directory)
    return target


# -- the synthetic set -------------------------------------------------------------


def synthetic_sdist(cache: Path, name: str) -> str:
    """A real, tiny flit sdist in the download cache; returns its sha256."""
    files = {
        "pyproject.toml": f'[build-system]\nrequires = ["flit_core>=3.2,<4"]\n'
        f'build-backend = "flit_core.buildapi"\n\n[project]\nname = "{name}"\n'
        f'version = "1.0"\ndescription = "x"\n',
        f"{name}.py": "VALUE = 1\n",
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{path}")
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            archive.addfile(info, io.BytesIO(data))
    blob = buffer.getvalue()
    sha = hashlib.sha256(blob).hexdigest()
    target = cache / "sdists" / sha / f"{name}-1.0.tar.gz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return sha


def synthetic_farm(base: Path, count: int, cache: Path) -> Path:
    root = copy_farm(base, recipes=[])
    for i in range(count):
        name = f"bench{i:05d}"
        sha = synthetic_sdist(cache, name)
        (root / "recipes" / f"{name}.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "1.0"\nlicense = "MIT"\n\n'
            f'[source]\nurl = "https://example.invalid/{name}-1.0.tar.gz"\nsha256 = "{sha}"\n\n'
            f"[build]\npure = true\n"
        )
    return root


def stand_in_build(task: BuildTask) -> Built:
    """A 1 KB wheel with real METADATA, staged as a build would stage it."""
    name = task.job.recipe.name
    wheel = Path(tempfile.mkdtemp()) / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}.py", "VALUE = 1\n")
        archive.writestr(f"{name}-1.0.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")  # fmt: skip
        archive.writestr(f"{name}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        archive.writestr(f"{name}-1.0.dist-info/RECORD", "")
    sha = Store(root=task.settings.store, run=task.settings.run).stage(wheel)
    size = wheel.stat().st_size
    shutil.rmtree(wheel.parent)
    return Built(wheel=wheel.name, wheel_sha256=sha, wheel_size=size, seconds=0.01)


def stand_in_test(task: TestTask) -> Tested:
    return Tested(tests=("stand-in for the benchmark",), seconds=0.0)


def fill(root: Path, store: Path, cache: Path, build_root: Path) -> int:
    """Every job of the synthetic set through the real executor, stand-in build steps."""

    class StandIn:
        run_build = staticmethod(stand_in_build)
        run_test = staticmethod(stand_in_test)

    executor.jobs_ = StandIn  # type: ignore[assignment,attr-defined]
    farm = load_farm(root)
    chosen = select(farm, [], [])
    run_settings = settings(
        store=store, cache=cache, build_root=build_root, jobs=os.cpu_count() or 1
    )
    outcomes = executor.execute(farm, chosen.jobs, run_settings)
    failed = sorted((o for o in outcomes if o.message), key=lambda o: "needs" in o.message)
    if failed:
        sys.exit(f"the fill failed {len(failed)} jobs; the first: {failed[0].job.key}: "
                 f"{failed[0].message}")  # fmt: skip
    return len(chosen.jobs)


# -- the benchmarks ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="seed", required=True, metavar="SOURCE",
        help="a published tree of this checkout's set (directory or CAR)",
    )  # fmt: skip
    parser.add_argument("--recipes", type=int, default=2000)
    parser.add_argument("--platform", default="linux-x86_64-cp312")
    parser.add_argument("--change", default="markupsafe", help="the recipe to change")
    parser.add_argument("--skip-before", action="store_true",
                        help="leave out the empty-store build (minutes)")  # fmt: skip
    args = parser.parse_args(argv)
    cache = default_cache()
    seed = str(Path(args.seed).absolute())
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ipwhl-bench-") as tmp:
        work = Path(tmp)
        floor = median_of([*IPWHL, "--version"])
        rows.append(("peer: `python -m builder --version` (start-up floor)", f"{floor:.2f} s", ""))

        # 1. the full set, seeded, nothing changed
        full = copy_farm(work / "full")
        store = work / "full-store"
        seeded, _ = timed([*IPWHL, "--root", str(full), "seed", seed, "--store", str(store)])
        rows.append(("seed an empty store from the published tree", f"{seeded:.2f} s", ""))
        build = [*IPWHL, "--root", str(full), "build", "--store", str(store)]
        _, out = timed(build)  # first run after seeding: fills the memos
        noop = median_of(build)
        per = noop / max(1, len(list((full / "recipes").glob("*.toml"))))
        rows.append((f"no-op, full set ({counts(out)})", f"{noop:.2f} s",
                     f"{noop / floor:.1f}x floor; {per * 1000:.1f} ms/recipe"))  # fmt: skip

        # 2. a synthetic set of N recipes
        synthetic = synthetic_farm(work / "synthetic", args.recipes, cache)
        synthetic_store = work / "synthetic-store"
        start = time.monotonic()
        jobs = fill(synthetic, synthetic_store, cache, work / "synthetic-root")
        filled = time.monotonic() - start
        rows.append((f"fill: {args.recipes} synthetic recipes, {jobs} jobs, stand-in builds",
                     f"{filled:.1f} s", ""))  # fmt: skip
        build = [*IPWHL, "--root", str(synthetic), "build", "--store", str(synthetic_store),
                 "--build-root", str(work / "synthetic-root")]  # fmt: skip
        _, out = timed(build)
        noop2 = median_of(build)
        per2 = noop2 / args.recipes
        rows.append((f"no-op, {args.recipes} synthetic recipes ({counts(out)})", f"{noop2:.2f} s",
                     f"{noop2 / floor:.1f}x floor; {per2 * 1000:.1f} ms/recipe"))  # fmt: skip

        # 3. one changed recipe on one platform
        changed = copy_farm(work / "changed")
        recipe = changed / "recipes" / f"{args.change}.toml"
        recipe.write_text(recipe.read_text().replace(
            "[build]\n", '[build]\nenv = { BENCH_WITH_CHANGE = "changed" }\n', 1))  # fmt: skip
        base = [*IPWHL, "--root", str(changed), "build", "--platform", args.platform]
        after, out = timed([*base, "--store", str(work / "after"), "--from", seed])
        if not args.skip_before:
            before, out_before = timed([*base, "--store", str(work / "before")])
            rows.append((f"one change, empty store, {args.platform} ({counts(out_before)})",
                         f"{before:.1f} s", "before"))  # fmt: skip
            ratio = f"after; {before / after:.1f}x faster than before"
        else:
            ratio = "after"
        rows.append((f"one change, seeded, {args.platform} ({counts(out)})",
                     f"{after:.1f} s", ratio))  # fmt: skip

    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'time':>9}  notes")
    for what, seconds, note in rows:
        print(f"{what:<{width}}  {seconds:>9}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
