"""Native libraries built by the farm: with the pinned zig, per target, kept by input hash.

A library is built once per (library file, source, toolchain, target): its install
prefix is kept in the store as `libraries/<input-hash>.tar`, a deterministic archive of
its headers and static libraries, and unpacked into each job that links it. Nothing of
the host (no /usr/include, no -dev package) is on its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path
from typing import Final

from builder.atomic import atomic_path
from builder.errors import BuildError
from builder.model.library import BuildSystem, Library
from builder.pipeline import toolchain
from builder.pipeline.build import network_isolation_works, reset_dir, run_logged
from builder.pipeline.fetch import extract_sdist, fetch_by_hash
from builder.pipeline.sandbox import Sandbox
from builder.pipeline.store import canonical_json

LIBRARY_FORMAT: Final = 1  # raise when libraries start to be built differently
# The prefix the library is configured for; it is installed under DESTDIR and unpacked
# under a job's own directory, whose path is the pkg-config sysroot.
PREFIX: Final = "/ipwhl"


def library_inputs(library: Library, zig: toolchain.Zig, target: str) -> dict[str, object]:
    return {
        "format": LIBRARY_FORMAT,
        "library": library.file_sha256,
        "source": library.sha256,
        "system": str(library.system),
        "configure": list(library.configure),
        "sources": list(library.sources),
        "include-dirs": list(library.include_dirs),
        "headers": list(library.headers),
        "defines": dict(library.defines),
        "archive": library.archive,
        "toolchain": zig.describe(target),
    }


def library_hash(library: Library, zig: toolchain.Zig, target: str) -> str:
    return hashlib.sha256(canonical_json(library_inputs(library, zig, target))).hexdigest()


def provide(
    libraries: list[Library],
    *,
    zig: toolchain.Zig,
    zig_binary: Path,
    target: str,
    cache: Path,
    store: Path,
    sysroot: Path,
    log: Path,
    sandboxed: bool = False,
) -> dict[str, str]:
    """Unpack each library (built first if the store lacks it) under `sysroot`; return
    the flags and pkg-config settings that let a build find them there."""
    reset_dir(sysroot)
    for library in libraries:
        archive = _built(library, zig=zig, zig_binary=zig_binary, target=target,
                         cache=cache, store=store, log=log, sandboxed=sandboxed)  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(sysroot, filter="data")
    prefixes = [sysroot / PREFIX.lstrip("/") / lib.name for lib in libraries]
    return {
        "CPPFLAGS": " ".join(f"-I{p / 'include'}" for p in prefixes),
        "LDFLAGS": " ".join(f"-L{p / 'lib'}" for p in prefixes),
        "PKG_CONFIG_PATH": ":".join(str(p / "lib" / "pkgconfig") for p in prefixes),
        # .pc files name /ipwhl/<name>: pkg-config prepends the sysroot to its flags.
        "PKG_CONFIG_SYSROOT_DIR": str(sysroot),
    }


def _built(
    library: Library,
    *,
    zig: toolchain.Zig,
    zig_binary: Path,
    target: str,
    cache: Path,
    store: Path,
    log: Path,
    sandboxed: bool,
) -> Path:
    key = library_hash(library, zig, target)
    archive = store / "libraries" / f"{key}.tar"
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    # One build per library and target at a time, across jobs and runs.
    with (archive.parent / f".{key}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not archive.is_file():
            work = cache / "library-builds" / key
            try:
                prefix = _build(library, zig_binary=zig_binary, target=target, cache=cache,
                                work=work, log=log, sandboxed=sandboxed)  # fmt: skip
                with atomic_path(archive, mode=0o444) as tmp:
                    tmp.write_bytes(deterministic_tar(prefix, library.name))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return archive


def _build(
    library: Library,
    *,
    zig_binary: Path,
    target: str,
    cache: Path,
    work: Path,
    log: Path,
    sandboxed: bool,
) -> Path:
    reset_dir(work)
    source = fetch_by_hash(
        library.url,
        library.sha256,
        cache / "libraries" / library.sha256 / library.source_filename,
        what=f"{library.path}: source.sha256",
        fix="if upstream really changed the tarball, review it and update source.sha256",
    )
    tree = extract_sdist(source, work / "src")
    toolchain.write_wrappers(work / "toolchain", toolchain.wrapper_scripts(str(zig_binary), target))
    env = {
        **toolchain.compiler_env(work / "toolchain"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "LC_ALL": "C",
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": "0",
        # Position-independent: the archive ends up inside a Python extension.
        "CFLAGS": f"-O2 -fPIC -ffile-prefix-map={tree}=.",
        "CXXFLAGS": f"-O2 -fPIC -ffile-prefix-map={tree}=.",
    }
    confined = Sandbox(writable=work, readable=(cache,)) if sandboxed else None
    if library.system is BuildSystem.SOURCES:
        return _build_sources(library, tree=tree, work=work, env=env, log=log, confined=confined)
    host = target.split(".")[0]  # x86_64-linux-gnu.2.17 -> x86_64-linux-gnu
    steps = [
        ["./configure", f"--prefix={PREFIX}/{library.name}", f"--host={host}",
         *library.configure],
        ["make", f"-j{os.cpu_count() or 1}"],
        ["make", "install", f"DESTDIR={work / 'destdir'}"],
    ]  # fmt: skip
    for step in steps:
        argv = step
        if confined is not None:
            argv = confined.wrap(step, cwd=tree)
        elif network_isolation_works():
            argv = ["unshare", "-n", "--", *step]
        run_logged(argv, log=log, env=env, cwd=tree, timeout=1800,
                   what=f"{library.name}: {' '.join(step[:2])}")  # fmt: skip
    prefix = work / "destdir" / PREFIX.lstrip("/") / library.name
    if not (prefix / "include").is_dir() or not list((prefix / "lib").glob("*.a")):
        raise BuildError(
            f"{library.name} installed no headers or no static library under {prefix}",
            fix=f"check build.configure in {library.path} and the log {log}",
        )
    return prefix


def _build_sources(
    library: Library,
    *,
    tree: Path,
    work: Path,
    env: dict[str, str],
    log: Path,
    confined: Sandbox | None,
) -> Path:
    """Compile each source, in sorted order, and archive the objects: the compiler and
    `ar` are the only tools."""
    prefix = work / "destdir" / PREFIX.lstrip("/") / library.name
    objects = work / "objects"
    objects.mkdir(parents=True)
    sources = sorted({p for pattern in library.sources for p in tree.glob(pattern)})
    if not sources:
        raise BuildError(f"{library.path}: build.sources: no file matches",
                         fix="name the C files relative to the top of the source tree")  # fmt: skip
    flags = [*env["CFLAGS"].split(), *(f"-I{tree / d}" for d in library.include_dirs)]
    flags += [f"-D{name}={value}" for name, value in library.defines]
    built = []
    for source in sources:
        out = objects / (source.relative_to(tree).as_posix().replace("/", "_") + ".o")
        what = f"{library.name}: compiling {source.name}"
        argv = [env["CC"], *flags, "-c", str(source), "-o", str(out)]
        if confined is not None:
            argv = confined.wrap(argv, cwd=tree)
        run_logged(argv, log=log, env=env, cwd=tree, timeout=600, what=what)
        built.append(str(out))
    (prefix / "lib").mkdir(parents=True)
    archive = [env["AR"], "rcsD", str(prefix / "lib" / library.archive), *built]
    if confined is not None:
        archive = confined.wrap(archive, cwd=objects)
    run_logged(archive, log=log, env=env, cwd=objects, timeout=600,
               what=f"{library.name}: archiving")  # fmt: skip
    (prefix / "include").mkdir()
    for pattern in library.headers:
        for header in sorted(tree.glob(pattern)):
            shutil.copyfile(header, prefix / "include" / header.name)
    return prefix


def deterministic_tar(prefix: Path, name: str) -> bytes:
    """include/, lib/*.a and lib/pkgconfig/ of `prefix` as `ipwhl/<name>/...`: sorted,
    no times, no owners, fixed modes."""
    wanted = [p for p in sorted(prefix.rglob("*")) if p.is_file() and not p.is_symlink()]
    wanted = [
        p
        for p in wanted
        if p.relative_to(prefix).parts[0] == "include"
        or p.suffix == ".a"
        or p.parent.name == "pkgconfig"
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in wanted:
            info = tarfile.TarInfo(f"{PREFIX.lstrip('/')}/{name}/{path.relative_to(prefix)}")
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
