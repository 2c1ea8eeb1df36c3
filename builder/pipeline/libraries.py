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
import platform as platform_module
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.atomic import atomic_path
from builder.errors import BuildError
from builder.model.library import BuildSystem, Library
from builder.pipeline import toolchain
from builder.pipeline.build import (
    apply_patches,
    network_isolation_works,
    reset_dir,
    run_logged,
)
from builder.pipeline.fetch import extract_sdist, fetch_by_hash
from builder.pipeline.sandbox import Sandbox
from builder.pipeline.store import canonical_json

LIBRARY_FORMAT: Final = 2  # raise when libraries start to be built differently
# The prefix the library is configured for; it is installed under DESTDIR and unpacked
# under a job's own directory, whose path is the pkg-config sysroot.
PREFIX: Final = "/ipwhl"


@dataclass(frozen=True, kw_only=True)
class Tools:
    """The pinned tools a library build may use, for one target."""

    zig: toolchain.Zig
    zig_binary: Path
    target: str
    cmake: toolchain.Tool | None = None  # fetched only when a cmake library is built


def library_inputs(
    library: Library, zig: toolchain.Zig, target: str, depends: Mapping[str, str]
) -> dict[str, object]:
    """`depends`: the input hash of each library it links (they are inputs too)."""
    found: dict[str, object] = {
        "format": LIBRARY_FORMAT,
        "library": library.file_sha256,
        "source": library.sha256,
        "subdir": library.subdir,
        "system": str(library.system),
        "configure": list(library.configure),
        "make-dirs": list(library.make_dirs),
        "programs": list(library.programs),
        "sources": list(library.sources),
        "include-dirs": list(library.include_dirs),
        "headers": list(library.headers),
        "defines": dict(library.defines),
        "archive": library.archive,
        "depends": {name: depends[name] for name in library.depends},
        "toolchain": zig.describe(target),
        # The wrappers' text, zig's path left out: a change to them rebuilds the library.
        # The build machine's arch neither: its helpers never reach the archive.
        "wrappers": library_scripts("$ZIG", target, "$BUILD_MACHINE"),
    }
    if library.system is BuildSystem.CMAKE:
        found["cmake"] = toolchain.pinned_cmake().describe()
    if library.patches:  # absent, not empty, without: no unpatched library's hash moves
        found["patches"] = {p.path.name: p.sha256 for p in library.patches}
    return found


def library_scripts(zig_binary: str, target: str, machine: str) -> dict[str, str]:
    """The wrappers a library's build runs: the compilers' and archivers', zig's ld, and
    a compiler for the build machine's own helper programs."""
    return (
        toolchain.wrapper_scripts(zig_binary, target)
        | toolchain.linker_script(zig_binary)
        | toolchain.build_machine_script(zig_binary, machine)
    )


def library_hash(
    libraries: Mapping[str, Library], name: str, zig: toolchain.Zig, target: str
) -> str:
    """A library's input hash: its file, source and tools, and its dependencies' hashes."""
    library = libraries[name]
    depends = {dep: library_hash(libraries, dep, zig, target) for dep in library.depends}
    return hashlib.sha256(canonical_json(library_inputs(library, zig, target, depends))).hexdigest()


def provide(
    libraries: list[Library],
    *,
    tools: Tools,
    cache: Path,
    store: Path,
    sysroot: Path,
    log: Path,
    sandboxed: bool = False,
    timeout: float = 1800,
) -> dict[str, str]:
    """Unpack each library (built first if the store lacks it) under `sysroot`; return
    the flags and pkg-config settings that let a build find them there. `libraries`
    holds every dependency before what needs it (`model.library.closure`). A library is
    built within the job that first needs it, each step within that recipe's
    `build.timeout` (OpenBLAS's make took more than 1800 s on a busy machine)."""
    known = {library.name: library for library in libraries}
    reset_dir(sysroot)
    for library in libraries:
        archive = _built(library, known, tools=tools, cache=cache, store=store, log=log,
                         sandboxed=sandboxed, timeout=timeout)  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(sysroot, filter="data")
    # The .pc files name /ipwhl/<name>: pointed at this sysroot here, not through
    # PKG_CONFIG_SYSROOT_DIR, which would also prefix the interpreter's own python.pc
    # (meson looks for Python.h through it).
    for pc in sorted((sysroot / PREFIX.lstrip("/")).glob("*/lib/pkgconfig/*.pc")):
        pc.write_text(pc.read_text().replace(f"{PREFIX}/", f"{sysroot}{PREFIX}/"))
    found = finding(sysroot, [library.name for library in libraries])
    del found["PKG_CONFIG_SYSROOT_DIR"]
    # Every archive, dependents first: a static library needs its own dependencies at
    # the link (freetype's libpng, libpq's libpgcommon), which pkg-config and a
    # backend's own -l do not name. Only the members a link needs are taken.
    libdirs = [sysroot / PREFIX.lstrip("/") / library.name / "lib" for library in libraries]
    archives = [a.name.removeprefix("lib").removesuffix(".a")
                for libdir in reversed(libdirs) for a in sorted(libdir.glob("*.a"))]  # fmt: skip
    found["LDFLAGS"] += "".join(f" -l{stem}" for stem in archives)
    programs = [lib for lib in libraries if lib.programs]
    if programs:  # before the system's: a host pg_config must not answer for ours
        found["PATH"] = ":".join(str(sysroot / PREFIX.lstrip("/") / lib.name / "bin")
                                 for lib in programs)  # fmt: skip
    return found


def finding(sysroot: Path, names: list[str]) -> dict[str, str]:
    """How compilers, pkg-config and cmake find the libraries unpacked under `sysroot`:
    there and nowhere else (PKG_CONFIG_LIBDIR replaces the host's own .pc search)."""
    prefixes = [sysroot / PREFIX.lstrip("/") / name for name in names]
    pkgconfig = ":".join(str(p / "lib" / "pkgconfig") for p in prefixes)
    return {
        "CPPFLAGS": " ".join(f"-I{p / 'include'}" for p in prefixes),
        "LDFLAGS": " ".join(f"-L{p / 'lib'}" for p in prefixes),
        "PKG_CONFIG_PATH": pkgconfig,
        "PKG_CONFIG_LIBDIR": pkgconfig,
        # .pc files name /ipwhl/<name>: pkg-config prepends the sysroot to its flags.
        "PKG_CONFIG_SYSROOT_DIR": str(sysroot),
    }


def _built(
    library: Library,
    known: Mapping[str, Library],
    *,
    tools: Tools,
    cache: Path,
    store: Path,
    log: Path,
    sandboxed: bool,
    timeout: float,
) -> Path:
    key = library_hash(known, library.name, tools.zig, tools.target)
    archive = store / "libraries" / f"{key}.tar"
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    builds = cache / "library-builds"
    builds.mkdir(parents=True, exist_ok=True)
    # One build per library and target at a time, across jobs, runs and stores: the
    # work directory is the cache's, at a fixed path (seen: a second farm sharing the
    # cache removed it under a running build).
    with (builds / f".{key}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not archive.is_file():
            work = builds / key
            try:
                reset_dir(work)
                # Its dependencies, already built (they come first), unpacked for it.
                for dep in library.depends:
                    dep_key = library_hash(known, dep, tools.zig, tools.target)
                    with tarfile.open(store / "libraries" / f"{dep_key}.tar") as tar:
                        tar.extractall(work / "sysroot", filter="data")
                prefix = _build(library, tools=tools, cache=cache, work=work, log=log,
                                sandboxed=sandboxed, timeout=timeout)  # fmt: skip
                with atomic_path(archive, mode=0o444) as tmp:
                    tmp.write_bytes(deterministic_tar(prefix, library.name, library.programs))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return archive


def _build(
    library: Library,
    *,
    tools: Tools,
    cache: Path,
    work: Path,
    log: Path,
    sandboxed: bool,
    timeout: float,
) -> Path:
    source = fetch_by_hash(
        library.url,
        library.sha256,
        cache / "libraries" / library.sha256 / library.source_filename,
        what=f"{library.path}: source.sha256",
        fix="if upstream really changed the tarball, review it and update source.sha256",
    )
    tree = extract_sdist(source, work / "src")
    apply_patches(library.patches, tree, log=log, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    if library.subdir:
        tree = tree / library.subdir
        if not tree.is_dir():
            raise BuildError(f"{library.path}: source.subdir: no {library.subdir} in it",
                             fix="name its directory under the tarball's top")  # fmt: skip
    scripts = library_scripts(str(tools.zig_binary), tools.target, platform_module.machine())
    toolchain.write_wrappers(work / "toolchain", scripts)
    build_cc = str(work / "toolchain" / "bin" / "zig-build-cc")
    flags = f"-O2 -fPIC -ffile-prefix-map={tree}=."  # PIC: it ends up inside an extension
    env = {
        **toolchain.compiler_env(work / "toolchain"),
        "LD": str(work / "toolchain" / "bin" / "zig-ld"),
        # autoconf's name, and the two freetype's and others' makefiles read.
        "CC_FOR_BUILD": build_cc,
        "BUILD_CC": build_cc,
        "CC_BUILD": build_cc,
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "LC_ALL": "C",
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": "0",
        "CFLAGS": flags,
        "CXXFLAGS": flags,
    }
    found = finding(work / "sysroot", list(library.depends))
    if library.depends:
        env |= found
    else:  # no .pc file of the host, ever
        env |= {"PKG_CONFIG_PATH": "", "PKG_CONFIG_LIBDIR": ""}
    confined = None
    if sandboxed:
        confined = Sandbox(writable=work, readable=(cache,), hide_host_headers=True)
    if library.system is BuildSystem.SOURCES:
        return _build_sources(library, tree=tree, work=work, env=env, log=log, confined=confined)
    host = tools.target.split(".")[0]  # x86_64-linux-gnu.2.17 -> x86_64-linux-gnu
    jobs = f"-j{os.cpu_count() or 1}"
    destdir = work / "destdir"
    if library.system is BuildSystem.CMAKE:
        cmake = str(toolchain.install_tool(tools.cmake or toolchain.pinned_cmake(), cache))
        roots = ";".join(f"{PREFIX}/{dep}" for dep in library.depends)
        steps = [
            [cmake, "-S", ".", "-B", "_build", "-G", "Unix Makefiles",
             "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={PREFIX}/{library.name}",
             f"-DCMAKE_INSTALL_LIBDIR={PREFIX}/{library.name}/lib", "-DBUILD_SHARED_LIBS=OFF",
             "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
             # A cross build, even for this machine's arch: cmake then looks for the
             # dependencies under the job's sysroot only, never in /usr.
             "-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_SYSTEM_PROCESSOR={host.split('-')[0]}",
             f"-DCMAKE_C_COMPILER={env['CC']}", f"-DCMAKE_CXX_COMPILER={env['CXX']}",
             f"-DCMAKE_AR={env['AR']}", f"-DCMAKE_RANLIB={env['RANLIB']}",
             f"-DCMAKE_FIND_ROOT_PATH={work / 'sysroot'}", f"-DCMAKE_PREFIX_PATH={roots}",
             "-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER",
             "-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY",
             "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY",
             "-DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY", *library.configure],
            [cmake, "--build", "_build", jobs],
            [cmake, "--install", "_build"],
        ]  # fmt: skip
        env["DESTDIR"] = str(destdir)
    elif library.system is BuildSystem.OPENSSL:
        # Configure's own target names; --libdir=lib, not lib64, where finding() looks.
        target = f"linux-{host.split('-')[0]}"
        steps = [["perl", "./Configure", target, f"--prefix={PREFIX}/{library.name}",
                  "--libdir=lib", "no-shared", *library.configure],
                 # OpenSSL_version(OPENSSL_CFLAGS) would hold the compiler's and the
                 # tree's paths in every wheel that links it: written first, with none.
                 ["sh", "-c", f"perl util/mkbuildinf.pl 'zig cc' {target} > crypto/buildinf.h"],
                 ["make", jobs, "build_libs"],
                 ["make", "install_dev", f"DESTDIR={destdir}"]]  # fmt: skip
    elif library.system is BuildSystem.MAKE:
        # On the command line: a Makefile's own `CC = cc` would beat the environment.
        tools_ = [f"CC={env['CC']}", f"HOSTCC={build_cc}", f"AR={env['AR']}",
                  f"RANLIB={env['RANLIB']}"]  # fmt: skip
        steps = [["make", jobs, *tools_, *library.configure, *library.targets],
                 ["make", *tools_, *library.configure, "install",
                  f"PREFIX={PREFIX}/{library.name}", f"DESTDIR={destdir}"]]  # fmt: skip
    else:
        steps = [["./configure", f"--prefix={PREFIX}/{library.name}", f"--host={host}",
                  *library.configure]]  # fmt: skip
        for directory in library.make_dirs or (".",):
            steps += [["make", "-C", directory, jobs],
                      ["make", "-C", directory, "install", f"DESTDIR={destdir}"]]  # fmt: skip
    for step in steps:
        argv = step
        if confined is not None:
            argv = confined.wrap(step, cwd=tree)
        elif network_isolation_works():
            argv = ["unshare", "-n", "--", *step]
        run_logged(argv, log=log, env=env, cwd=tree, timeout=timeout,
                   what=f"{library.name}: {' '.join(Path(a).name for a in step[:2])}")  # fmt: skip
    prefix = destdir / PREFIX.lstrip("/") / library.name
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
    # What its Makefile would have installed: other libraries ask pkg-config for it
    # (libpng's .pc requires zlib's).
    (prefix / "lib" / "pkgconfig").mkdir()
    (prefix / "lib" / "pkgconfig" / f"{library.name}.pc").write_text(pkg_config_file(library))
    return prefix


def pkg_config_file(library: Library) -> str:
    stem = library.archive.removeprefix("lib").removesuffix(".a")
    return (
        f"prefix={PREFIX}/{library.name}\nlibdir=${{prefix}}/lib\nincludedir=${{prefix}}/include\n\n"
        f"Name: {library.name}\nDescription: {library.name}, built by ipwhl\n"
        f"Version: {library.version}\nLibs: -L${{libdir}} -l{stem}\nCflags: -I${{includedir}}\n"
    )


def deterministic_tar(prefix: Path, name: str, programs: tuple[str, ...] = ()) -> bytes:
    """include/, lib/*.a, lib/pkgconfig/ and the named bin/ programs of `prefix` as
    `ipwhl/<name>/...`: sorted, no times, no owners, fixed modes."""
    # A link inside the prefix (libpng.pc -> libpng16.pc) becomes a copy of its file;
    # one that leads out of it is left out.
    inside = prefix.resolve()
    wanted = [p for p in sorted(prefix.rglob("*"))
              if p.is_file() and p.resolve().is_relative_to(inside)]  # fmt: skip
    wanted = [
        p
        for p in wanted
        if p.relative_to(prefix).parts[0] == "include"
        or p.suffix == ".a"
        or p.parent.name == "pkgconfig"
        or p.relative_to(prefix).as_posix() in {f"bin/{name}" for name in programs}
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in wanted:
            info = tarfile.TarInfo(f"{PREFIX.lstrip('/')}/{name}/{path.relative_to(prefix)}")
            data = path.read_bytes()
            program = path.parent.name == "bin"
            info.size, info.mode, info.mtime = len(data), 0o755 if program else 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
