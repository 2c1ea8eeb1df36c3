"""The pinned zig against this machine's gcc, in one run (`nox -s bench_toolchain`);
prints a table, asserts nothing.

The whole set (or the recipes named) is built on one platform from two empty stores:
once as the platform file says (zig, manylinux2014, the farm's own libraries, each
built once and counted in the first job that needs it), once with the platform switched
to `toolchain = "host"` (gcc, manylinux_2_34, Debian's -dev packages). The same farm,
interpreter, sdists and locks; only the toolchain differs. One job at a time, so that
each job's time is its own.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from builder.model.farm import load_farm

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("recipes", "platforms", "locks", "libraries", "roots")


def _checkout(base: Path, platform: str, host: bool) -> Path:
    checkout = base / ("checkout-host" if host else "checkout-zig")
    for name in INPUTS:
        shutil.copytree(ROOT / name, checkout / name)
    if host:
        path = checkout / "platforms" / f"{platform}.toml"
        text = path.read_text().replace('toolchain = "zig"', 'toolchain = "host"')
        path.write_text(text.replace("manylinux_2_17_", "manylinux_2_34_"))
    return checkout


def _run(
    checkout: Path, base: Path, label: str, build: list[str]
) -> tuple[float, dict[str, float]]:
    store = base / f"store-{label}"
    argv = [str(Path(sys.executable).parent / "ipwhl"), "--root", str(checkout), "build",
            "--store", str(store), "--build-root", str(base / f"root-{label}"), "-j", "1",
            *build]  # fmt: skip
    print(f"==> {label}: {' '.join(build)}", flush=True)
    started = time.monotonic()
    out = subprocess.run(argv, check=False, capture_output=True, text=True)
    wall = time.monotonic() - started
    print(f"==> {label}: exit {out.returncode} in {wall:.0f} s", flush=True)
    # A failed job's first lines: why, so that a "failed" cell below is explained.
    for failed in re.finditer(r"^\s+failed \S+.*\n(?:\s{4}\S.*\n){1,2}", out.stdout, re.MULTILINE):
        print(failed[0], end="")
    # Each job's own time, as the build's report prints it ("built NAME@PLATFORM 12.3s").
    times = {m[1]: float(m[2]) for m in re.finditer(r"^\s+built (\S+)@\S+\s+([\d.]+)s",
                                                     out.stdout, re.MULTILINE)}  # fmt: skip
    return wall, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", default="linux-x86_64-cp312")
    parser.add_argument("recipes", nargs="*", help="default: the whole set")
    args = parser.parse_args()
    farm = load_farm(ROOT)
    # The whole set by default: the compiled recipes' tests need the pure ones.
    chosen = args.recipes or sorted(n for n, r in farm.recipes.items() if r.selects(args.platform))
    names = [n for n in chosen if not farm.recipes[n].pure]
    build = [*chosen, "--platform", args.platform]
    with tempfile.TemporaryDirectory(prefix="ipwhl-bench-toolchain-") as tmp:
        base = Path(tmp)
        zig_wall, zig = _run(_checkout(base, args.platform, False), base, "zig", build)
        host = _checkout(base, args.platform, True)
        # The recipes' Debian -dev packages, which the host toolchain links (as root).
        ipwhl = str(Path(sys.executable).parent / "ipwhl")
        subprocess.run([ipwhl, "--root", str(host), "system-packages", "--install"], check=True)
        gcc_wall, gcc = _run(host, base, "gcc", build)
    print(f"\n{'project':20} {'host gcc':>10} {'pinned zig':>11} {'zig/gcc':>8}")
    for name in names:
        a, b = gcc.get(name), zig.get(name)
        ratio = f"{b / a:7.2f}x" if a and b else "-"
        shown = [f"{t:8.1f} s" if t else "  failed" for t in (a, b)]
        print(f"{name:20} {shown[0]:>10} {shown[1]:>11} {ratio:>8}")
    print(f"\n{'whole run (wall, -j 1)':32} {gcc_wall:8.0f} s {zig_wall:8.0f} s "
          f"{zig_wall / gcc_wall:7.2f}x")  # fmt: skip
    both = [n for n in names if gcc.get(n) and zig.get(n)]
    sum_gcc, sum_zig = sum(gcc[n] for n in both), sum(zig[n] for n in both)
    if both:
        print(f"{'jobs built by both (sum)':32} {sum_gcc:8.0f} s {sum_zig:8.0f} s "
              f"{sum_zig / sum_gcc:7.2f}x")  # fmt: skip
    print(f"{len(both)} of {len(names)} compiled recipes built by both toolchains "
          f"({len(chosen)} recipes in each run)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
