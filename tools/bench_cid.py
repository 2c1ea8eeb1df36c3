"""CID benchmarks (`nox -s bench_cid`); prints two tables, asserts nothing.

1. Throughput: the in-process importer (what `ipwhl cid` runs) against
   `ipfs add -r --only-hash` from the pinned kubo, on the same generated tree of at
   least 1 GiB, per IPIP-499 profile, in one run. Each side runs twice; the faster run
   counts, so both read from the page cache.
2. Re-assembly: `ipwhl assemble` of a synthetic farm of thousands of projects (pure
   wheels served on two platforms), then again after adding one wheel. File CIDs are
   cached by sha256, so only the changed files are read; the CAR, though, holds every
   block, so writing it reads everything again. Both are shown.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.kubo: one place knows where the pinned kubo lives

from builder.ipfs.unixfs import CidProfile, Importer, get_profile  # noqa: E402
from builder.model.farm import load_farm  # noqa: E402
from builder.pipeline.collection import current  # noqa: E402
from builder.pipeline.store import Record, Store, input_hash  # noqa: E402
from builder.tree.assemble import assemble  # noqa: E402
from tests.kubo import KuboRepo, init_repo, kubo_binary  # noqa: E402

PROFILES = ["unixfs-v1-2025", "unixfs-v0-2015"]
MIB = 1 << 20
PURE, OTHER = "linux-x86_64-cp312", "linux-x86_64-cp311"


def best_of(runs: int, work: Callable[[], str]) -> tuple[float, str]:
    times, result = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))


# --- 1. throughput ----------------------------------------------------------------------


def generate_tree(directory: Path, total: int) -> int:
    """Half in 16 MiB files (multi-level DAGs), half in 64 KiB files over 16 directories."""
    rng = random.Random(499)  # noqa: S311 (reproducible bytes, not secrets)
    written = 0
    big = directory / "big"
    big.mkdir(parents=True)
    for i in range(total // 2 // (16 * MIB)):
        (big / f"blob-{i:03d}.bin").write_bytes(rng.randbytes(16 * MIB))
        written += 16 * MIB
    for i in range((total - written) // (64 << 10) + 1):
        sub = directory / "small" / f"d{i % 16:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"w-{i:05d}.whl").write_bytes(rng.randbytes(64 << 10))
        written += 64 << 10
    return written


def throughput(base: Path, kubo: Path | None, size: int, runs: int) -> None:
    tree = base / "tree"
    total = generate_tree(tree, size)
    rows = []
    for name in PROFILES:
        profile = get_profile(name)

        def ours_run(p: CidProfile = profile) -> str:
            return str(Importer(profile=p).add_path(tree).cid)

        ours_s, ours = best_of(runs, ours_run)
        mb = total / 1e6
        row = [name, f"{total / MIB:.0f} MiB", f"{ours_s:.2f}", f"{mb / ours_s:.0f}"]
        if kubo is None:
            row += ["-", "-", "-", "no kubo"]
        else:
            repo = init_repo(kubo, base / f"repo-{name}", name)
            kubo_s, theirs = best_of(runs, lambda: repo.add_only_hash(tree))  # noqa: B023
            same = "yes" if theirs == ours else f"NO ({theirs})"
            row += [f"{kubo_s:.2f}", f"{mb / kubo_s:.0f}", f"{kubo_s / ours_s:.2f}x", same]
        rows.append(row)
    table(
        "1. CID throughput: builder.unixfs vs `ipfs add -r --only-hash` (best of "
        f"{runs}; ratio > 1: we are faster)",
        ["profile", "tree", "ours s", "ours MB/s", "kubo s", "kubo MB/s", "ratio", "same CID"],
        rows,
    )


# --- 2. re-assembly ----------------------------------------------------------------------


def _wheel(project: str, rng: random.Random, size: int) -> tuple[str, bytes]:
    dist = f"{project.replace('-', '_')}-1.0.0"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        stamp = (1980, 1, 1, 0, 0, 0)
        archive.writestr(zipfile.ZipInfo(f"{dist}.dist-info/METADATA", stamp),
                         f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0.0\n"
                         "Requires-Python: >=3.9\n")  # fmt: skip
        archive.writestr(zipfile.ZipInfo(f"{project.replace('-', '_')}/data.bin", stamp),
                         rng.randbytes(size))  # fmt: skip
    return f"{dist}-py3-none-any.whl", buffer.getvalue()


def add_project(root: Path, store: Store, index: int, rng: random.Random, size: int) -> None:
    """One pure project: recipe, sdist in the store, wheel, and its two records."""
    project = f"proj-{index:05d}"
    scratch = store.root.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    sdist = scratch / "sdist"
    sdist.write_bytes(f"sdist of {project}\n".encode() + rng.randbytes(size // 4))
    sdist_sha = store.put_file(sdist)
    stem = project.replace("-", "_")
    recipe = (
        f'[project]\nname = "{project}"\nversion = "1.0.0"\nlicense = "MIT"\n\n[source]\n'
        f'url = "https://files.pythonhosted.org/packages/source/p/{project}/{stem}-1.0.0.tar.gz"\n'
        f'sha256 = "{sdist_sha}"\n\n[build]\npure = true\n'
    ).encode()
    (root / "recipes" / f"{project}.toml").write_bytes(recipe)
    filename, data = _wheel(project, rng, size)
    (scratch / filename).write_bytes(data)
    sha = store.put_file(scratch / filename)
    platform_sha = {
        p: hashlib.sha256((root / "platforms" / f"{p}.toml").read_bytes()).hexdigest()
        for p in (PURE, OTHER)
    }
    base = {"recipe": hashlib.sha256(recipe).hexdigest()}
    built: dict[str, Any] = base | {
        "platform": platform_sha[PURE],
        "kind": "build",
        "sdist": sdist_sha,
        "patches": {},
        "build-requirements": [],
    }
    reused: dict[str, Any] = base | {"platform": platform_sha[OTHER], "wheel": sha}
    for platform, inputs in ((PURE, built), (OTHER, reused)):
        store.put_record(Record(
            project=project, version="1.0.0", platform=platform, input_hash=input_hash(inputs),
            inputs=inputs, wheel=filename, wheel_sha256=sha, wheel_size=len(data),
            built_on=PURE, network_isolated=True, tests=(),
        ))  # fmt: skip


def reassembly(base: Path, kubo: Path | None, projects: int, wheel_size: int) -> None:
    root = base / "farm"
    (root / "recipes").mkdir(parents=True)
    (root / "platforms").mkdir()
    for platform in (PURE, OTHER):
        shutil.copy(ROOT / "platforms" / f"{platform}.toml", root / "platforms")
    store = Store(root=base / "store")
    rng = random.Random(3000)  # noqa: S311 (reproducible bytes, not secrets)
    for i in range(projects):
        add_project(root, store, i, rng, wheel_size)
    out = base / "public"
    rows: list[list[str]] = []

    def step(label: str, *, car: bool = True) -> str:
        start = time.perf_counter()
        farm = load_farm(root)
        loaded = time.perf_counter()
        result = assemble(farm, store, current(farm, store), out=out, car=car)
        end = time.perf_counter()
        rows.append([label, "yes" if car else "no", f"{result.files}", f"{loaded - start:.2f}",
                     f"{end - loaded:.2f}", f"{end - start:.2f}", str(result.root)])  # fmt: skip
        return str(result.root)

    step(f"first assembly, {projects} projects, empty CID cache")
    step("again, nothing changed")
    add_project(root, store, projects, rng, wheel_size)
    step("after adding one wheel")
    add_project(root, store, projects + 1, rng, wheel_size)
    last = step("after adding one more wheel", car=False)
    table(
        "2. Re-assembly (2 platforms, pure wheels shared; load = recipes + records)",
        ["step", "CAR", "files", "load s", "assemble s", "total s", "root CID"],
        rows,
    )
    if kubo is not None:
        repo: KuboRepo = init_repo(kubo, base / "repo", "unixfs-v1-2025")
        seconds, theirs = best_of(1, lambda: repo.add_only_hash(out / "tree"))
        same = "same CID" if theirs == last else f"DIFFERENT CID {theirs}"
        print(f"  for reference, `ipfs add -r --only-hash` of that tree: {seconds:.2f} s, {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="throughput tree size")
    parser.add_argument("--runs", type=int, default=2, help="runs per side (best counts)")
    parser.add_argument("--projects", type=int, default=3000, help="projects to re-assemble")
    parser.add_argument("--wheel-kib", type=int, default=48, help="payload per wheel")
    parser.add_argument("--only", choices=["throughput", "reassembly"], default=None)
    args = parser.parse_args()
    kubo = kubo_binary()
    if kubo is None:
        print("kubo not found: run `nox -s kubo`; showing our side only")
    with tempfile.TemporaryDirectory(prefix="bench-cid-") as tmp:
        base = Path(tmp)
        if args.only in (None, "throughput"):
            throughput(base / "throughput", kubo, args.size_mib * MIB, args.runs)
            shutil.rmtree(base / "throughput")
        if args.only in (None, "reassembly"):
            reassembly(base / "reassembly", kubo, args.projects, args.wheel_kib << 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
