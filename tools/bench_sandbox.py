"""The sandbox's cost (`nox -s bench_sandbox`); prints a table, asserts nothing.

The same jobs from empty stores, one at a time (-j 1, so the times are the jobs'
own), with bubblewrap and with `--no-sandbox` (the peer: only `unshare -n`), in the
same run and interleaved project by project; then whether the wheels are the same
bytes. Defaults: eight recipes (pure and C) on linux-x86_64-cp312.

    python tools/bench_sandbox.py [--projects NAME ...] [--platform ID]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["six", "idna", "markupsafe", "pyyaml", "msgpack", "frozenlist", "multidict", "propcache"]


def build(project: str, platform: str, store: Path, build_root: Path, sandbox: bool) -> float:
    argv = [sys.executable, "-m", "builder", "--root", str(ROOT), "build", project,
            "--platform", platform, "--store", str(store), "--build-root", str(build_root),
            "-j", "1", *([] if sandbox else ["--no-sandbox"])]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{project} failed ({'sandbox' if sandbox else 'no sandbox'}):\n"
                 f"{done.stdout[-2000:]}")  # fmt: skip
    return time.monotonic() - start


def wheels(store: Path) -> dict[str, str]:
    return {
        record["project"]: record["wheel_sha256"]
        for record in (json.loads(p.read_text()) for p in (store / "records").glob("*.json"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", nargs="*", default=DEFAULT)
    parser.add_argument("--platform", default="linux-x86_64-cp312")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ipwhl-bench-sandbox-") as tmp:
        base = Path(tmp)
        for project in args.projects:
            # Interleaved, each from an empty store: the two see the same machine load.
            timed = {
                sandbox: build(
                    project,
                    args.platform,
                    base / f"{sandbox}-{project}" / "store",
                    base / "root",
                    sandbox,
                )
                for sandbox in (False, True)
            }
            rows.append((project, timed[False], timed[True]))
        same = all(
            wheels(base / f"False-{p}" / "store") == wheels(base / f"True-{p}" / "store")
            for p in args.projects
        )
    print(f"\n{'project':14} {'--no-sandbox':>13} {'bubblewrap':>11} {'overhead':>9}")
    for project, bare, boxed in rows:
        print(f"{project:14} {bare:11.2f} s {boxed:9.2f} s {boxed - bare:+8.2f} s")
    total_bare = sum(r[1] for r in rows)
    total_boxed = sum(r[2] for r in rows)
    print(f"{'total':14} {total_bare:11.2f} s {total_boxed:9.2f} s "
          f"{total_boxed - total_bare:+8.2f} s")  # fmt: skip
    print(
        f"per job: {(total_boxed - total_bare) / len(rows):+.2f} s; "
        f"ratio {total_boxed / total_bare:.3f}x the unsandboxed run"
    )
    print(f"wheels byte-identical with and without the sandbox: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
