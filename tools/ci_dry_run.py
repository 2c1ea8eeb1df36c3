"""Walk the CI workflow graph on this machine and check it gives the CID a plain build does.

The same commands as .github/workflows/ci.yml, in the same order:
plan (`ipwhl ci-matrix`) -> one `ipwhl ci-build GROUP` per matrix entry, each into its
own store as a matrix job's artifact (seeded from the last published tree with
`--from`) -> the artifacts merged as download-artifact does, and seeded -> `ipwhl
check` -> `ipwhl assemble` -> `ipwhl ci-summary`. Groups this machine
cannot build (cibuildwheel's) report "not buildable here", as on any other machine;
the native backend stands in for the matrix. Then the reference, `ipwhl build` into
one store and `ipwhl assemble`, and the two root CIDs must be equal.

    python tools/ci_dry_run.py [--work DIR] [--changed-since REV] [--from TREE]
                               [--platform GLOB ...] [PROJECT ...]
    python tools/ci_dry_run.py --synthetic 5000   # only the matrix split of a made-up set
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ipwhl(*args: str, check: bool = True, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "builder", "--root", str(root), *args]
    print("$ ipwhl " + " ".join(args), flush=True)
    result = subprocess.run(argv, text=True, stdout=subprocess.PIPE, check=False)
    print(result.stdout, end="", flush=True)
    if check and result.returncode != 0:
        raise SystemExit(f"ipwhl {args[0]} failed with exit {result.returncode}")
    return result


def merge_artifacts(artifacts: list[Path], store: Path) -> None:
    """What download-artifact with merge-multiple does: one tree, later files win.

    Blobs and records are named by their content or inputs, so equal names hold
    equal bytes; a difference is reported, never silently overwritten."""
    for artifact in artifacts:
        for kind in ("records", "blobs", "logs", "times"):
            source = artifact / kind
            if not source.is_dir():
                continue
            for path in sorted(source.rglob("*")):
                if not path.is_file():
                    continue
                target = store / kind / path.relative_to(source)
                if (
                    kind in ("records", "blobs")
                    and target.exists()
                    and target.read_bytes() != path.read_bytes()
                ):
                    raise SystemExit(f"two artifacts hold different {kind} under {target.name}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def root_cid(out: Path) -> str:
    cars = sorted(out.glob("*.car"))
    if len(cars) != 1:
        raise SystemExit(f"{out} holds {len(cars)} CAR files, expected 1")
    return cars[0].name.removesuffix(".car")


def print_split(matrix: dict[str, list[dict[str, object]]], title: str) -> None:
    entries = matrix["include"]
    print(f"\n{title}: {len(entries)} matrix entries")
    print(f"{'entry':<22} {'platforms':>9} {'projects':>8} {'estimate':>10}")
    for e in entries:
        projects = str(e["projects"]).split()
        shown = len(projects) if projects else "all"
        print(f"{e['name']!s:<22} {len(str(e['platforms']).split()):>9} "
              f"{shown:>8} {float(str(e['estimate'])):>9.0f}s")  # fmt: skip
    longest = max((float(str(e["estimate"])) for e in entries), default=0.0)
    total = sum(float(str(e["estimate"])) for e in entries)
    print(f"total estimate {total / 3600:.1f} h; longest entry {longest / 3600:.2f} h")


def synthetic_split(count: int, work: Path) -> None:
    """A made-up set of `count` recipes on this repository's platforms: 80 % pure, some
    build-dependency chains, job times drawn from a long-tailed distribution (compiled:
    median 20 s, one in a hundred over 5 minutes, as this set's are; pure: about 5 s)."""
    rng = random.Random(count)  # noqa: S311 - a reproducible made-up set, not a secret
    farm = work / "synthetic"
    (farm / "recipes").mkdir(parents=True)
    shutil.copytree(ROOT / "platforms", farm / "platforms")
    shutil.copytree(ROOT / "locks", farm / "locks")
    platforms = sorted(p.stem for p in (farm / "platforms").glob("*.toml"))
    times = work / "synthetic-times"
    sha = "0" * 64
    for i in range(count):
        name = f"p{i:05d}"
        pure = rng.random() < 0.8
        depends = f'depends = ["p{rng.randrange(i):05d}"]\n' if i and rng.random() < 0.05 else ""
        (farm / "recipes" / f"{name}.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "1.0"\nlicense = "MIT"\n\n'
            f'[source]\nurl = "https://example.invalid/{name}-1.0.tar.gz"\nsha256 = "{sha}"\n\n'
            f"[build]\npure = {'true' if pure else 'false'}\n{depends}"
        )
        for pid in platforms:
            seconds = rng.lognormvariate(1.5, 0.5) if pure else rng.lognormvariate(3.0, 1.2)
            (times / pid).mkdir(parents=True, exist_ok=True)
            (times / pid / name).write_text(f"{seconds:.1f}\n")
    result = ipwhl("ci-matrix", "--times", str(times), root=farm)
    print_split(json.loads(result.stdout.strip().splitlines()[-1]), f"synthetic set of {count}")


def built_count(output: str) -> int:
    """How many jobs an `ipwhl build` run built (its closing line: `N jobs: ...`)."""
    closing = re.findall(r"^\d+ jobs: (.*)$", output, re.MULTILINE)  # the last is the table's
    counts = (
        {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", closing[-1])} if closing else {}
    )
    return counts.get("built", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", help="only these recipes (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "ci-dry-run")
    parser.add_argument("--changed-since", default="", metavar="REV")
    parser.add_argument(
        "--from", dest="seed", default="", metavar="SOURCE",
        help="the last published tree (directory, CAR, CID): every build job is seeded",
    )  # fmt: skip
    parser.add_argument(
        "--platform", action="append", default=[], metavar="GLOB",
        help="only platforms matching this glob, in the matrix and the reference alike",
    )  # fmt: skip
    parser.add_argument("--times", type=Path, default=None, help="recorded job times")
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N",
        help="only show the matrix split of a made-up set of N recipes",
    )  # fmt: skip
    parser.add_argument(
        "--skip-check", action="store_true",
        help="leave out `ipwhl check` (a subset of recipes fails the whole-set gates)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    work = args.work.absolute()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if args.synthetic:
        synthetic_split(args.synthetic, work)
        return 0

    # plan
    planning = ["ci-matrix", "--changed-since", args.changed_since]
    planning += ["--times", str(args.times)] if args.times else []
    matrix = json.loads(ipwhl(*planning).stdout.strip().splitlines()[-1])
    print_split(matrix, "the set")
    # build: one store per matrix job, as each job uploads its own artifact
    artifacts = []
    failed = []
    built = 0
    for entry in matrix["include"]:
        store = work / "artifacts" / f"store-{entry['name'].replace(' ', '-').replace('/', 'of')}"
        # An entry names its recipes (none: all); the recipes asked for here narrow it.
        named = entry["projects"].split()
        projects = (
            [p for p in named if p in args.projects]
            if named and args.projects
            else (named or args.projects)
        )
        if named and args.projects and not projects:
            continue
        platforms = [
            pid for pid in str(entry["platforms"]).split()
            if not args.platform or any(fnmatch.fnmatch(pid, g) for g in args.platform)
        ]  # fmt: skip
        if not platforms:
            continue
        seed = ["--from", str(Path(args.seed).absolute())] if args.seed else []
        result = ipwhl(
            "ci-build", entry["group"], *projects, "--platforms", " ".join(platforms),
            *seed, "--store", str(store), check=False,
        )  # fmt: skip
        built += built_count(result.stdout)
        if result.returncode != 0:
            failed.append(entry["name"])  # fail-fast: false; later jobs still run
        artifacts.append(store)
    # check and assemble: the artifacts merged into one store, seeded like the jobs
    store = work / "store"
    merge_artifacts(artifacts, store)
    if args.seed:
        ipwhl("seed", str(Path(args.seed).absolute()), "--store", str(store))
    if not args.skip_check:
        checked = ipwhl("check", "--store", str(store), check=False)
        if checked.returncode != 0:
            failed.append("check")
    ipwhl("assemble", "--out", str(work / "public"), "--store", str(store))
    ipwhl("ci-summary", "--out", str(work / "public"))
    ci_cid = root_cid(work / "public")

    # the reference: `nox -s build` (ipwhl build) into one empty store, then `ipwhl assemble`
    reference = work / "reference"
    only = [arg for glob in args.platform for arg in ("--platform", glob)]
    plain = ipwhl("build", *args.projects, *only, "--store", str(reference / "store"), check=False)
    ipwhl("assemble", "--out", str(reference / "public"), "--store", str(reference / "store"))
    plain_cid = root_cid(reference / "public")

    print(f"jobs built by the matrix: {built} (the full local build: {built_count(plain.stdout)})")
    print(f"workflow graph CID: {ci_cid}")
    print(f"build + assemble:   {plain_cid}")
    if failed:
        print(f"failed jobs: {', '.join(failed)}")
    if ci_cid != plain_cid:
        print("the CIDs differ")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
