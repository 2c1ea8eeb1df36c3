"""Unpacking a root lock (`roots/<name>.toml`) into the cache, once per lock sha256.

Each package is fetched by its pinned sha256 and its files unpacked with `dpkg-deb -x`,
in the lock's (sorted) order; no maintainer script runs, so nothing but the packages'
own bytes ends up in the root. Two things Debian makes at install time are made here
from those bytes: the merged-/usr links, and the CA bundle ca-certificates' postinst
writes (every certificate it ships, as its default configuration enables them all). The
root is renamed into place only when whole, under the lock's sha256.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from builder.atomic import sweep, temporary_prefix
from builder.errors import BuildError
from builder.model.root import Root
from builder.pipeline.fetch import fetch_by_hash

_MERGED = ("bin", "sbin", "lib", "lib64")


def install(root: Root, cache: Path) -> Path:
    """The unpacked root: `<cache>/roots/<lock sha256>`."""
    home = cache / "roots" / root.sha256
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
        staging.chmod(0o755)  # mkdtemp's 0700 would shut out the sandbox's user
        staging.rename(home)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError) and home.is_dir():  # another run unpacked it first
            return home
        raise
    return home


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
