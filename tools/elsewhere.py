"""Build recipes here and on another distribution, and compare every wheel's sha256
(`nox -s reproduce_elsewhere`).

The other distribution is a Debian chroot made with debootstrap (Debian 13, trixie, by
default: gcc 14, binutils 2.44, glibc 2.41), kept in the cache. The same farm runs in
it, with the same interpreter, the same pinned zig and cmake and the same sdists (bound
in from this machine); only the system differs: its /usr, /etc, bubblewrap, make and
pkg-config. Any difference is a reproducibility bug and fails the session.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reproduce import compare, records  # this directory's

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("recipes", "platforms", "locks", "libraries", "roots")
CACHE = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
# pycparser: cffi's test needs it at run time.
SUBSET = ("markupsafe", "pyyaml", "msgpack", "cffi", "pycparser", "frozenlist", "ujson",
          "brotli", "pillow")  # fmt: skip
# What the farm needs in the chroot besides Debian's minimal base: its tools, and the
# shared libraries pyenv's interpreters (bound in from here) link.
PACKAGES = ("bubblewrap", "make", "pkgconf", "ca-certificates", "patch", "util-linux",
            "libssl3t64", "libffi8", "libsqlite3-0", "libbz2-1.0", "liblzma5", "zlib1g",
            "libreadline8t64", "libncursesw6", "libuuid1")  # fmt: skip
MIRROR = "http://deb.debian.org/debian"


def chroot_for(suite: str, packages: tuple[str, ...] = PACKAGES) -> Path:
    """A debootstrap chroot of `suite` with `packages`, made once into the cache (it
    appears under its name only when complete)."""
    target = CACHE / "chroots" / suite
    if target.is_dir():
        return target
    if shutil.which("debootstrap") is None:
        sys.exit("debootstrap is missing: apt-get install debootstrap (as root)")
    partial = target.with_name(f".{suite}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite,
            str(partial), MIRROR]  # fmt: skip
    print(f"==> {' '.join(argv)}", flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    partial.rename(target)
    return target


def _ipwhl(checkout: Path, store: Path, build_root: Path, args: list[str]) -> list[str]:
    ipwhl = Path(sys.executable).parent / "ipwhl"
    return [str(ipwhl), "--root", str(checkout), "build", "--store", str(store),
            "--build-root", str(build_root), *args]  # fmt: skip


def in_chroot(chroot: Path, argv: list[str], binds: list[Path]) -> list[str]:
    """`argv` run as root in `chroot` in a mount namespace of its own, with `binds` at
    their own paths; /proc, /dev and /sys from here; a clean environment."""
    # The chroot a mount point of its own: bubblewrap cannot pivot_root from a plain
    # directory.
    steps = ["set -e", f"mount --bind {shlex.quote(str(chroot))} {shlex.quote(str(chroot))}"]
    steps += [f"mount --rbind /{d} {shlex.quote(str(chroot / d))}" for d in ("proc", "dev", "sys")]
    for path in binds:
        inside = shlex.quote(str(chroot / str(path).lstrip("/")))
        steps += [f"mkdir -p {inside}", f"mount --bind {shlex.quote(str(path))} {inside}"]
    # This machine's network settings (name resolution, the CAs it trusts): they are the
    # network's, not the distribution's, and no wheel's bytes depend on them.
    for name in ("resolv.conf", "hosts"):
        steps.append(f"cp /etc/{name} {shlex.quote(str(chroot / 'etc' / name))}")
    steps.append(f"mount --bind /etc/ssl/certs {shlex.quote(str(chroot / 'etc/ssl/certs'))}")
    certs = [f"{k}={v}" for k, v in os.environ.items() if k in ("SSL_CERT_FILE", "SSL_CERT_DIR")]
    env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={Path.home()}",
           "LANG=C.UTF-8", f"IPWHL_CACHE={CACHE}", *certs]  # fmt: skip
    steps.append(f"exec chroot {shlex.quote(str(chroot))} {shlex.join([*env, *argv])}")
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(steps)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="trixie", help="the other Debian (default: trixie)")
    parser.add_argument("--platform", default="linux-x86_64-cp312")
    parser.add_argument("recipes", nargs="*", default=list(SUBSET))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: debootstrap, mounts and chroot need it")
    chroot = chroot_for(args.suite)
    build = [*args.recipes, "--platform", args.platform]
    with tempfile.TemporaryDirectory(prefix="ipwhl-elsewhere-", dir=ROOT.parent) as tmp:
        base = Path(tmp)
        for label in ("here", "there"):
            for name in INPUTS:
                shutil.copytree(ROOT / name, base / f"checkout-{label}" / name)
        results = {}
        for label in ("here", "there"):
            argv = _ipwhl(base / f"checkout-{label}", base / f"store-{label}",
                          base / f"build-root-{label}", build)  # fmt: skip
            if label == "there":  # the farm, its interpreters, caches and this directory
                uv_cache = Path(os.environ.get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
                binds = [ROOT, Path.home() / ".pyenv", CACHE, uv_cache, base]
                binds = [p for p in binds if p.exists()]
                argv = in_chroot(chroot, argv, binds)
            print(f"==> {label}: {' '.join(build)}", flush=True)
            started = time.monotonic()
            code = subprocess.run(argv, check=False).returncode
            print(f"==> {label}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
            results[label] = records(base / f"store-{label}")
    return compare(
        results["here"],
        results["there"],
        labels=("this machine", args.suite),
        where=f"on this machine and on {args.suite}",
    )


if __name__ == "__main__":
    sys.exit(main())
