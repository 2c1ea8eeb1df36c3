"""Install every project of an assembled tree on an older Debian and run its tests there
(`nox -s older_glibc`).

The wheels promise manylinux2014 (glibc 2.17); this checks the promise where it is
kept or broken: a Debian 11 (bullseye, glibc 2.31) chroot made with debootstrap and kept
in the cache. The interpreter must run there too, so it is built there: CPython from
Debian's own source tarball (pinned by sha256), compiled by bullseye's gcc against
bullseye's glibc. The tree is served over HTTP from this machine; each project is
installed with pip into a venv of its own (`--only-binary :all:`, its dependencies from
the tree too) and its recipe's test runs: imports, compiled imports, commands. Bullseye's
own python3.9 is tried as well: the set builds no cp39 any more, so only what is pure
and allows 3.9 can install there, and the table says so.

    python tools/older_glibc.py [--store STORE] [--platform linux-x86_64-cp311] [PROJECT ...]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from elsewhere import CACHE, ROOT, chroot_for, in_chroot  # this directory's

sys.path.insert(0, str(ROOT))
from builder.model.farm import load_farm
from builder.paths import store_dir
from builder.pipeline.fetch import fetch_by_hash

SUITE = "bullseye"
# The chroot's compiler and the libraries CPython's stdlib modules need (ssl, ctypes,
# zlib, bz2, lzma, sqlite3), and its own python3 with pip and venv.
PACKAGES = ("build-essential", "zlib1g-dev", "libffi-dev", "libssl-dev", "libbz2-dev",
            "liblzma-dev", "libsqlite3-dev", "uuid-dev", "ca-certificates", "python3",
            "python3-pip", "python3-venv")  # fmt: skip
# CPython by minor version: Debian's orig tarballs, from its pool (bookworm's 3.11,
# trixie's 3.13). A project asking for a newer micro (soupsieve: >=3.11.5) cannot
# install on 3.11.2, whatever its glibc.
CPYTHON = {
    "3.11": (
        "http://deb.debian.org/debian/pool/main/p/python3.11/python3.11_3.11.2.orig.tar.gz",
        "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849",
    ),
    "3.13": (
        "http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_3.13.5.orig.tar.xz",
        "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640",
    ),
}

# Run by each interpreter inside the chroot: one venv per project, install, test.
DRIVER = r"""
import json, os, shlex, subprocess, sys, tempfile
python, index, jobs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
results = {}
for name, version, imports, commands in jobs:
    venv = tempfile.mkdtemp(prefix=f"venv-{name}-")
    subprocess.run([python, "-m", "venv", venv], check=True)
    bin_dir = os.path.join(venv, "bin")
    env = {**os.environ, "PATH": bin_dir + ":" + os.environ["PATH"], "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    steps = [[os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q", "--index-url",
              index, "--only-binary", ":all:", f"{name}=={version}"]]
    steps += [[os.path.join(bin_dir, "python"), "-c", f"import {m}"] for m in imports]
    steps += [list(c) for c in commands]
    for i, argv in enumerate(steps):
        done = subprocess.run(argv, env=env, cwd=venv, capture_output=True, text=True)
        if done.returncode != 0:
            stage = "install" if i == 0 else "test"
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            results[name] = f"{stage} failed: {shlex.join(argv)[-80:]}: {tail[0][:200]}"
            break
    else:
        results[name] = "ok"
    subprocess.run(["rm", "-rf", venv])
print("RESULTS " + json.dumps(results))
"""


def cpython_in(chroot: Path, minor: str) -> str:
    """CPython `minor` built in the chroot by its own compiler, once; its path there."""
    url, sha256 = CPYTHON[minor]
    prefix = f"/opt/cpython-{minor}"
    binary = f"{prefix}/bin/python{minor}"
    if (chroot / binary.lstrip("/")).is_file():
        return binary
    target = CACHE / "cpython" / sha256 / url.rsplit("/", 1)[1]
    tarball = fetch_by_hash(url, sha256, target, what=f"CPython {minor} source",
                            fix="check CPYTHON in tools/older_glibc.py")  # fmt: skip
    work = chroot / "tmp" / f"cpython-{minor}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(work), "--strip-components=1"],
                   check=True)  # fmt: skip
    inside = f"/tmp/cpython-{minor}"  # noqa: S108 - the chroot's own /tmp
    script = (f"cd {inside} && ./configure -q --prefix={prefix} && make -s -j{os.cpu_count()} "
              f"&& make -s altinstall")  # fmt: skip
    print(f"==> CPython {minor} built in the {chroot.name} chroot by its gcc", flush=True)
    subprocess.run(in_chroot(chroot, ["sh", "-c", script], []), check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    return binary


def serve(tree: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(tree))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=store_dir(ROOT, None),
                        help="a store holding the set (default: the farm's)")  # fmt: skip
    parser.add_argument("--platform", default="linux-x86_64-cp311")
    parser.add_argument("--suite", default=SUITE)
    parser.add_argument("projects", nargs="*", help="only these (default: all in the tree)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: debootstrap, mounts and chroot need it")
    minor = args.platform.rsplit("-cp", 1)[1]
    minor = f"{minor[0]}.{minor[1:]}"
    if minor not in CPYTHON:
        # Debian's pool holds no python3.12 (no release shipped it), and an interpreter
        # built on this machine needs its newer glibc: nothing pinned runs 3.12 there.
        sys.exit(f"--platform {args.platform}: no CPython {minor} source is pinned here "
                 f"(CPYTHON in {Path(__file__).name} has {', '.join(CPYTHON)}); "
                 "use one of those platforms, or pin an orig tarball of Debian's pool")  # fmt: skip
    chroot = chroot_for(args.suite, PACKAGES)
    python = cpython_in(chroot, minor)
    farm = load_farm(ROOT)
    with tempfile.TemporaryDirectory(prefix="ipwhl-older-", dir=ROOT.parent) as tmp:
        out = Path(tmp) / "public"
        subprocess.run([sys.executable, "-m", "builder", "--root", str(ROOT), "assemble",
                        "--store", str(args.store), "--platform", args.platform, "--no-car",
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        tree = out / "tree"
        manifest = json.loads((tree / "manifest.json").read_text())
        wheels = {name: entry["version"] for name, entry in manifest["projects"].items()
                  if args.platform in entry["platforms"]}  # fmt: skip
        chosen = sorted(p for p in wheels if not args.projects or p in args.projects)
        jobs = [(p, wheels[p], list(farm.recipes[p].imports_on("cp")),
                 [list(c) for c in farm.recipes[p].test_commands]) for p in chosen]  # fmt: skip
        server, index = serve(tree)
        results = {}
        try:
            interpreters = {f"CPython {minor} built there": python,
                            f"{args.suite}'s python3": "/usr/bin/python3"}  # fmt: skip
            for label, interpreter in interpreters.items():
                argv = [interpreter, "-c", DRIVER, interpreter, index, json.dumps(jobs)]
                print(f"==> {label}: {len(jobs)} projects", flush=True)
                done = subprocess.run(in_chroot(chroot, argv, []), capture_output=True,
                                      text=True, check=False)  # fmt: skip
                line = [x for x in done.stdout.splitlines() if x.startswith("RESULTS ")]
                if not line:
                    print(done.stdout[-2000:], done.stderr[-2000:])
                    return 1
                results[label] = json.loads(line[-1].removeprefix("RESULTS "))
        finally:
            server.shutdown()
    glibc = subprocess.run(in_chroot(chroot, ["ldd", "--version"], []), capture_output=True,
                           text=True, check=False).stdout.splitlines()[:1]  # fmt: skip
    print(f"\n{args.suite} ({' '.join(glibc)}), {args.platform} tree")
    labels = list(results)
    print(f"{'project':<24} " + " ".join(f"{label:<30}" for label in labels))
    for project in chosen:
        cells = [f"{results[label][project][:30]:<30}" for label in labels]
        print(f"{project:<24} " + " ".join(cells))
    for label in labels:
        ok = sum(1 for r in results[label].values() if r == "ok")
        print(f"{label}: {ok} of {len(chosen)} installed and tested")
        for project, result in sorted(results[label].items()):
            if result != "ok":
                print(f"  {project}: {result}")
    first = results[labels[0]]
    return 0 if all(r == "ok" for r in first.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
