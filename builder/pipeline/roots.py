"""Unpacking a root lock (`roots/<name>.toml`) into the cache, once per lock sha256.

Each package is fetched by its pinned sha256 and its files unpacked with `dpkg-deb -x`,
in the lock's (sorted) order; no maintainer script runs, so nothing but the packages'
own bytes ends up in the root. Four things Debian makes at install time are made here:
the merged-/usr links; the CA bundle ca-certificates' postinst writes (every certificate
it ships, as its default configuration enables them all); as base-passwd's preinst
does, an /etc/passwd and /etc/group naming root and nobody, the sandbox's user (libpq
asks for its user's name before it connects); and the standard library's bytecode, as
py3compile and pypy3compile write it. Without it every interpreter start compiles what
it imports again, in a read-only /usr, and under qemu that is most of a test's time
(`import json, email.parser, importlib.metadata`: 15 s of CPU on arm64). It is written
by each interpreter of the root, in the root, in hash mode without checking the source
(the root never changes under its sha256), so the same lock gives the same bytes
anywhere. The root is renamed into place only when whole, under the lock's sha256 and
the version of this layout, so a root unpacked by an older farm is never taken for one
made now.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from builder.atomic import sweep, temporary_prefix
from builder.errors import BuildError
from builder.model.root import Root
from builder.pipeline.fetch import fetch_by_hash
from builder.pipeline.sandbox import top_levels

_MERGED = ("bin", "sbin", "lib", "lib64")
# Bumped when what `install` makes from the same packages changes (2: the users;
# 3: the standard library's bytecode).
_LAYOUT = 3
# Each module compiled in a child forked from one process that compiles nothing: PyPy's
# marshal, unlike CPython's, writes other bytes for a module depending on what the same
# process compiled before it (compileall over PyPy's stdlib twice: 46 files differed).
_COMPILE = """
import os, py_compile, sys
mode, failed = py_compile.PycInvalidationMode.UNCHECKED_HASH, []
for top, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(n for n in files if n.endswith(".py")):
        path = os.path.join(top, name)
        child = os.fork()
        if child == 0:
            try:
                py_compile.compile(path, doraise=True, invalidation_mode=mode)
            except py_compile.PyCompileError as e:
                print(e.msg, file=sys.stderr)
                os._exit(1)
            os._exit(0)
        if os.waitpid(child, 0)[1] != 0:
            failed.append(path)
sys.exit(f"not compiled: {' '.join(failed)}" if failed else 0)
"""
# An interpreter of the root (usr/bin/NAME) and the standard library it compiles.
_STDLIB = re.compile(r"^(python3\.\d+|pypy3\.\d+)$")
# base-passwd's passwd.master and group.master, cut to the two users a job can be.
_USERS = "".join(
    f"{line}\n"
    for line in ("root:x:0:0:root:/root:/bin/sh",
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
)  # fmt: skip
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def install(root: Root, cache: Path) -> Path:
    """The unpacked root: `<cache>/roots/<lock sha256>-<layout>`."""
    home = cache / "roots" / f"{root.sha256}-{_LAYOUT}"
    if home.is_dir():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    sweep(home)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=temporary_prefix(home)))
    try:
        for deb in root.debs:
            name = PurePosixPath(deb.filename).name
            package = fetch_by_hash(
                f"{root.mirror}/{deb.filename}", deb.sha256, cache / "debs" / deb.sha256 / name,
                what=f"{root.path}: deb.{deb.name}",
                fix="the mirror no longer serves this exact package; "
                "regenerate the lock with `ipwhl root-lock`",
            )  # fmt: skip
            unpacked = subprocess.run(["dpkg-deb", "-x", str(package), str(staging)],
                                      capture_output=True, text=True, check=False)  # fmt: skip
            if unpacked.returncode != 0:
                raise BuildError(f"{root.path}: deb.{deb.name}: dpkg-deb -x failed: "
                                 f"{unpacked.stderr.strip()}",
                                 fix="install dpkg (dpkg-deb), or check the package")  # fmt: skip
        for top in _MERGED:
            if not (staging / top).exists() and (staging / "usr" / top).is_dir():
                (staging / top).symlink_to(f"usr/{top}")
        _write_ca_bundle(staging)
        _write_users(staging)
        _compile_stdlib(root, staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would shut out the sandbox's user
        staging.rename(home)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError) and home.is_dir():  # another run unpacked it first
            return home
        raise
    return home


def _compile_stdlib(root: Root, staging: Path) -> None:
    """Each interpreter's standard library compiled by that interpreter, confined to the
    root (its glibc may be newer than this machine's; an arm64 root runs under qemu)."""
    for binary in sorted((staging / "usr" / "bin").iterdir()):
        stdlib = staging / "usr" / "lib" / binary.name
        if not _STDLIB.match(binary.name) or not stdlib.is_dir():
            continue
        inside = f"/usr/lib/{binary.name}"
        argv = [
            shutil.which("bwrap") or "bwrap", "--bind", str(staging / "usr"), "/usr",
            "--ro-bind", str(staging / "etc"), "/etc",
            *top_levels(staging),
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",  # noqa: S108
            "--unshare-all", "--die-with-parent", "--",
            f"/usr/bin/{binary.name}", "-c", _COMPILE, inside,
        ]  # fmt: skip
        # One hash seed: a set's constants are marshalled in its iteration order.
        env = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-2000:]
            raise BuildError(
                f"{root.path}: {binary.name} could not compile its standard library "
                f"({inside}) in the root: {said}",
                fix="check that bubblewrap runs here and, for a foreign arch, that qemu-user "
                "is registered with binfmt_misc (apt-get install qemu-user-static)",
            )


def _write_users(root: Path) -> None:
    for name, text in (("passwd", _USERS), ("group", _GROUP)):
        path = root / "etc" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o644)


def _write_ca_bundle(root: Path) -> None:
    """`/etc/ssl/certs/ca-certificates.crt`, as `update-ca-certificates` writes it: the
    shipped certificates in path order, each ending in a newline. PyPy's ssl, unlike
    CPython's, raises when the default CA file is missing, so `ssl.create_default_context()`
    (aiohttp calls it on import) needs it."""
    shipped = root / "usr/share/ca-certificates"
    if not shipped.is_dir():
        return
    certificates = sorted(shipped.rglob("*.crt"), key=lambda p: p.relative_to(shipped).as_posix())
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open("wb") as out:
        for certificate in certificates:
            text = certificate.read_bytes()
            out.write(text if text.endswith(b"\n") else text + b"\n")
