"""Walk the CI workflow graph on this machine and check it gives the CID a plain build does.

The same commands as .github/workflows/ci.yml, in the same order:
plan (`ipwhl ci-matrix`) -> one `ipwhl ci-build GROUP` per matrix entry, each into its
own store as a matrix job's artifact -> the artifacts merged as download-artifact
does -> `ipwhl check` -> `ipwhl assemble` -> `ipwhl ci-summary`. Groups this machine
cannot build (cibuildwheel's) report "not buildable here", as on any other machine;
the native backend stands in for the matrix. Then the reference, `ipwhl build` into
one store and `ipwhl assemble`, and the two root CIDs must be equal.

    python tools/ci_dry_run.py [--work DIR] [--changed-since REV] [PROJECT ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ipwhl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "builder", "--root", str(ROOT), *args]
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
        for kind in ("records", "blobs", "logs"):
            source = artifact / kind
            if not source.is_dir():
                continue
            for path in sorted(source.rglob("*")):
                if not path.is_file():
                    continue
                target = store / kind / path.relative_to(source)
                if kind != "logs" and target.exists() and target.read_bytes() != path.read_bytes():
                    raise SystemExit(f"two artifacts hold different {kind} under {target.name}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def root_cid(out: Path) -> str:
    cars = sorted(out.glob("*.car"))
    if len(cars) != 1:
        raise SystemExit(f"{out} holds {len(cars)} CAR files, expected 1")
    return cars[0].name.removesuffix(".car")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", help="only these recipes (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "ci-dry-run")
    parser.add_argument("--changed-since", default="", metavar="REV")
    parser.add_argument(
        "--skip-check", action="store_true",
        help="leave out `ipwhl check` (a subset of recipes fails the whole-set gates)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    work = args.work.absolute()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    # plan
    matrix = json.loads(
        ipwhl("ci-matrix", "--changed-since", args.changed_since).stdout.strip().splitlines()[-1]
    )
    # build: one store per matrix job, as each job uploads its own artifact
    artifacts = []
    failed = []
    for entry in matrix["include"]:
        store = work / "artifacts" / f"store-{entry['group']}"
        result = ipwhl(
            "ci-build", entry["group"], *args.projects, "--store", str(store), check=False
        )
        if result.returncode != 0:
            failed.append(entry["group"])  # fail-fast: false; later jobs still run
        artifacts.append(store)
    # check and assemble: the artifacts merged into one store
    store = work / "store"
    merge_artifacts(artifacts, store)
    if not args.skip_check:
        checked = ipwhl("check", "--store", str(store), check=False)
        if checked.returncode != 0:
            failed.append("check")
    ipwhl("assemble", "--out", str(work / "public"), "--store", str(store))
    ipwhl("ci-summary", "--out", str(work / "public"))
    ci_cid = root_cid(work / "public")

    # the reference: `nox -s build` (ipwhl build) into one store, then `ipwhl assemble`
    reference = work / "reference"
    ipwhl("build", *args.projects, "--store", str(reference / "store"), check=False)
    ipwhl("assemble", "--out", str(reference / "public"), "--store", str(reference / "store"))
    plain_cid = root_cid(reference / "public")

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
