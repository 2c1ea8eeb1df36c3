"""Build the whole set twice and compare every wheel's sha256 (`nox -s reproduce`).

Each run gets a fresh copy of the farm's inputs at its own path, an empty store of its
own, its own build root and its own time; only the recipes, platforms and locks are
shared. Any difference is a reproducibility bug and fails the session.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("recipes", "platforms", "locks", "libraries", "roots")


def snapshot_inputs(base: Path) -> Path:
    """One copy of the inputs for both runs: edits made meanwhile must not count."""
    inputs = base / "inputs"
    for name in INPUTS:
        shutil.copytree(ROOT / name, inputs / name)
    return inputs


def run_once(base: Path, inputs: Path, label: str, extra: list[str]) -> dict[tuple[str, str], str]:
    checkout = base / f"checkout-{label}"
    shutil.copytree(inputs, checkout)
    store = base / f"store-{label}"
    argv = [
        "ipwhl",
        "--root",
        str(checkout),
        "build",
        "--store",
        str(store),
        "--build-root",
        str(base / f"build-root-{label}"),
        *extra,
    ]
    print(f"==> run {label}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.run(argv, check=False).returncode
    print(f"==> run {label}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    return records(store)


def records(store: Path) -> dict[tuple[str, str], str]:
    """(project, platform) -> the sha256 of its wheel, from a store's records."""
    wheels = {}
    for record in sorted((store / "records").glob("*.json")):
        data = json.loads(record.read_text())
        wheels[(data["project"], data["platform"])] = data["wheel_sha256"]
    return wheels


def compare(first: dict[tuple[str, str], str], second: dict[tuple[str, str], str], *,
            labels: tuple[str, str], where: str) -> int:  # fmt: skip
    """Print every wheel's two sha256s side by side; 0 when all are there and the same."""
    keys = sorted(set(first) | set(second))
    same = [k for k in keys if first.get(k) and first.get(k) == second.get(k)]
    print(f"\n{'project':24} {'platform':22} {labels[0]:18} {labels[1]:18} result")
    for key in keys:
        a, b = first.get(key, "-"), second.get(key, "-")
        result = "identical" if key in same else "DIFFERS"
        print(f"{key[0]:24} {key[1]:22} {a[:16]:18} {b[:16]:18} {result}")
    print(f"\n{len(same)} of {len(keys)} wheels identical {where}")
    return 0 if keys and len(same) == len(keys) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("build_args", nargs="*", help="passed to `ipwhl build`")
    parser.add_argument(
        "--pause", type=float, default=2.0, help="seconds between the runs, so their clocks differ"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipwhl-reproduce-") as tmp:
        inputs = snapshot_inputs(Path(tmp))
        first = run_once(Path(tmp), inputs, "a", args.build_args)
        time.sleep(args.pause)
        second = run_once(Path(tmp), inputs, "b", args.build_args)
    return compare(first, second, labels=("first", "second"), where="across two independent builds")


if __name__ == "__main__":
    sys.exit(main())
