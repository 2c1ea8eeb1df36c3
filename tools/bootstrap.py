"""The bootstrap's fixed point (`nox -s bootstrap`): the set's build backends, built with
PyPI's wheels of them and built with the set's own, compared byte for byte.

The backends are every recipe some build installs from the set (`bootstrap.own_backends`
over every lock), with what they need at run time. Run "pypi" builds them with the
locks' PyPI wheels, as the farm did before it built its own; run "set" builds them as
the farm does now: setuptools and flit-core from their own trees on the seed (pypa/build
and what it needs) alone, then every other backend with the set's wheels of the
backends it asks for. Both runs start from empty stores, in one checkout. When every
wheel is the same, a backend of the set makes exactly what PyPI's wheel of it makes,
so building once more with the set's own wheels gives these bytes again: the fixed point.
Each store is filled by its own kind of run only, so `--work DIR` may keep them between
runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from builder.model.farm import load_farm
from builder.model.lock import read_lock
from builder.pipeline import bootstrap

ROOT = Path(__file__).resolve().parent.parent


def backends() -> tuple[list[str], list[str]]:
    """Every recipe a build of the set installs from the set, and with them what they
    need at run time (the seed's packaging among them: their tests install it)."""
    farm = load_farm(ROOT)
    names: set[str] = set()
    held: set[str] = set()
    for recipe in farm.recipes.values():
        for interpreter in farm.lock_interpreters(recipe):
            lock = read_lock(farm.lock_path(recipe.name, interpreter))
            own = bootstrap.own_backends(recipe, lock, farm.recipes)
            names.update(own)
            if own:
                held.update(
                    n
                    for n, pin in lock.pins.items()
                    if n in farm.recipes and farm.recipes[n].version == pin.version
                )
    return sorted(names), sorted(held | names)


def run(base: Path, label: str, names: list[str], extra: list[str]) -> dict[tuple[str, str], Any]:
    store = base / f"store-{label}"
    argv = ["ipwhl", "--root", str(ROOT), "build", *names, "--store", str(store),
            "--backends-from", label, *extra]  # fmt: skip
    print(f"==> {label}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.run(argv, check=False).returncode
    print(f"==> {label}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    found = {}
    for path in sorted((store / "records").glob("*.json")):
        record = json.loads(path.read_text())
        if record["inputs"].get("kind") == "build":
            found[(record["project"], record["platform"])] = record
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--platform", action="append", default=None,
        help="platforms to build on (default: linux-x86_64-cp312, where pure wheels are built)",
    )  # fmt: skip
    parser.add_argument("-j", "--jobs", default="2")
    parser.add_argument(
        "--work", type=Path, default=None,
        help="keep the two stores here (default: a temporary directory); a run stopped "
        "midway goes on from what each store holds",
    )  # fmt: skip
    args = parser.parse_args()
    names, planned = backends()
    extra = ["-j", args.jobs]
    for glob in args.platform or ["linux-x86_64-cp312"]:
        extra += ["--platform", glob]
    print(f"backends the set builds for itself ({len(names)}): {' '.join(names)}")
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ipwhl-bootstrap-")))  # fmt: skip
        pypi = run(work, "pypi", planned, extra)
        own = run(work, "set", planned, extra)
    keys = sorted(set(pypi) | set(own))
    same = 0
    print(f"\n{'project':26} {'platform':20} {'PyPI-built':14} {'set-built':14} "
          f"{'built with the set':20} result")  # fmt: skip
    for key in keys:
        a, b = pypi.get(key), own.get(key)
        ours = ", ".join(sorted(b["inputs"].get("build-depends", {}))) if b else ""
        ok = a is not None and b is not None and a["wheel_sha256"] == b["wheel_sha256"]
        same += ok
        print(f"{key[0]:26} {key[1]:20} {(a or {}).get('wheel_sha256', '-')[:12]:14} "
              f"{(b or {}).get('wheel_sha256', '-')[:12]:14} {ours or '(seed only)':20} "
              f"{'identical' if ok else 'DIFFERS'}")  # fmt: skip
    print(f"\n{same} of {len(keys)} backend wheels identical whether built with PyPI's "
          "backends or the set's own")  # fmt: skip
    return 0 if keys and same == len(keys) else 1


if __name__ == "__main__":
    sys.exit(main())
