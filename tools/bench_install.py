"""Install time through the kubo gateway vs `python -m http.server` on the same tree.

One run: build (or reuse) a subset of the starter set for CPython 3.12, assemble it,
publish the CAR to a throwaway kubo daemon on loopback, then install the same projects
into fresh venvs, alternating the two servers, with pip and with uv, no caches. Prints
the median of each and the ratio kubo / http.server. Not a timed test: numbers depend
on the machine.

    python tools/bench_install.py [--runs 3] [--tree DIR --car FILE] [--projects ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.kubo and the farm copier: the same helpers the tests use

from builder.ipfs.publish import publish  # noqa: E402
from builder.model.farm import load_farm  # noqa: E402
from builder.pipeline.collection import current  # noqa: E402
from builder.pipeline.interpreters import find_interpreter  # noqa: E402
from builder.pipeline.store import Store  # noqa: E402
from builder.tree.assemble import assemble  # noqa: E402
from tests.integration.farmcopy import NATIVE, make_farm  # noqa: E402
from tests.kubo import kubo_binary, running_daemon  # noqa: E402

SUBSET = [
    "requests", "urllib3", "idna", "certifi", "charset-normalizer",
    "markupsafe", "pyyaml", "msgpack",
]  # fmt: skip
INSTALL = ["requests", "markupsafe", "pyyaml", "msgpack"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def build_tree(base: Path, projects: list[str]) -> tuple[Path, Path]:
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    farm = make_farm(base, projects, cache=cache)
    if farm.build("--platform", NATIVE) != 0:
        raise SystemExit("the build failed; see the table above")
    loaded, store = load_farm(farm.root), Store(root=farm.store)
    done = assemble(
        loaded, store, current(loaded, store), out=base / "public", platforms=[NATIVE],
        sdist_cache=cache,
    )  # fmt: skip
    assert done.car is not None
    return done.tree, done.car


@contextlib.contextmanager
def http_server(tree: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(tree), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise SystemExit("python -m http.server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def timed_install(tool: str, python: Path, index: str, work: Path, names: list[str]) -> float:
    target = work / f"venv-{time.monotonic_ns()}"
    subprocess.run([str(python), "-m", "venv", str(target)], check=True, env=clean_env())
    venv_python = target / "bin" / "python"
    if tool == "pip":
        argv = [str(venv_python), "-m", "pip", "install", "-q", "--no-cache-dir"]
    else:
        uv = shutil.which("uv") or "uv"
        argv = [
            uv,
            "pip",
            "install",
            "-q",
            "--no-config",
            "--no-cache",
            "--python",
            str(venv_python),
        ]
    start = time.perf_counter()
    subprocess.run([*argv, "--index-url", index, *names], check=True, env=clean_env())
    elapsed = time.perf_counter() - start
    shutil.rmtree(target)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, help="an assembled tree (with --car)")
    parser.add_argument("--car", type=Path, help="its CAR")
    parser.add_argument("--projects", nargs="*", default=INSTALL, help="what to install")
    args = parser.parse_args()
    kubo = kubo_binary()
    if kubo is None:
        raise SystemExit("no kubo: run `nox -s kubo` first")
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        raise SystemExit("no CPython 3.12 here")
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        base = Path(tmp)
        if args.tree and args.car:
            tree, car = args.tree.absolute(), args.car.absolute()
        else:
            print(f"building {len(SUBSET)} projects for {NATIVE} (a subset of the starter set)")
            tree, car = build_tree(base / "farm", SUBSET)
        with running_daemon(kubo, base / "kubo") as node, http_server(tree) as plain:
            done = publish(car, api=node.api_url, gateway=node.gateway_url)
            if done.gateway_problem:
                raise SystemExit(done.gateway_problem)
            servers = {"kubo gateway": done.index_url, "http.server": plain}
            times: dict[tuple[str, str], list[float]] = {}
            for tool in ("pip", "uv"):
                for _ in range(args.runs):
                    for name, index in servers.items():  # alternate: drift hits both
                        t = timed_install(tool, interpreter.path, index, base, args.projects)
                        times.setdefault((tool, name), []).append(t)
    print(f"\ninstall {' '.join(args.projects)} (+ deps) into a fresh venv, "
          f"median of {args.runs}, no caches")  # fmt: skip
    print(f"{'installer':<10}{'kubo gateway s':>16}{'http.server s':>16}{'ratio':>8}")
    for tool in ("pip", "uv"):
        k = statistics.median(times[(tool, "kubo gateway")])
        h = statistics.median(times[(tool, "http.server")])
        print(f"{tool:<10}{k:>16.2f}{h:>16.2f}{k / h:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
