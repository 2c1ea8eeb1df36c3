"""Native libraries: `libraries/<name>.toml`, each a source tarball pinned by sha256 and
how to build it. The farm builds them with the pinned toolchain for each target that
needs them; wheels link them statically. Codes L001-L009."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from builder.model.patches import Patch, read_patches
from builder.model.tomlfields import Collector, Fields, read_toml

SECTIONS = {"library", "source", "build"}
LIBRARY_KEYS = {"name", "version", "license"}
SOURCE_KEYS = {"url", "sha256", "subdir", "patches"}
BUILD_KEYS = {
    "system", "configure", "sources", "include-dirs", "headers", "defines", "archive", "depends",
    "make-dirs", "programs", "targets",
}  # fmt: skip
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9+._-]*")


class BuildSystem(StrEnum):
    AUTOTOOLS = "autotools"  # ./configure && make && make install (release tarballs)
    CMAKE = "cmake"  # the pinned cmake configures, builds and installs (Release)
    SOURCES = "sources"  # compile `sources`, archive them: no host tool but the compiler
    # OpenSSL's own perl Configure for linux-<arch>, `make build_libs`, `make install_dev`
    OPENSSL = "openssl"
    # A plain Makefile (OpenBLAS): `make <configure> <targets>`, then `make <configure>
    # install PREFIX=... DESTDIR=...`; configure holds its make variables.
    MAKE = "make"


@dataclass(frozen=True, kw_only=True)
class Library:
    name: str
    version: str
    license: str
    url: str
    sha256: str
    system: BuildSystem
    subdir: str = ""  # the library's directory inside the tarball (a bundled copy)
    patches: tuple[Patch, ...] = ()  # libraries/patches/<name>/, applied to the tarball's tree
    depends: tuple[str, ...] = ()  # libraries it links: built first, found by the build
    configure: tuple[str, ...] = ()  # autotools: ./configure's; cmake: -D; openssl: Configure's
    make_dirs: tuple[str, ...] = ()  # autotools: make and install only these directories
    targets: tuple[str, ...] = ()  # make: what `make` builds before `make install`
    programs: tuple[str, ...] = ()  # bin/ programs a build runs (pg_config): kept, on PATH
    sources: tuple[str, ...] = ()  # sources: globs of C files, from the tree's top
    include_dirs: tuple[str, ...] = ()  # sources: -I directories
    headers: tuple[str, ...] = ()  # sources: globs of headers to install
    defines: tuple[tuple[str, str], ...] = ()  # sources: -D NAME=VALUE
    archive: str = ""  # sources: the static library's file name, e.g. libyaml.a
    path: Path = field(compare=False)
    file_sha256: str

    @property
    def source_filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _load_one(path: Path, collector: Collector) -> Library | None:
    data = read_toml(path, collector, code="L001")
    if data is None:
        return None
    start = len(collector.problems)
    top = Fields(file=path, table=data, prefix="", collector=collector,
                 unknown_code="L002", missing_code="L003", type_code="L004")  # fmt: skip
    top.check_keys(SECTIONS)
    library, source, build = (top.sub(s, required=True) for s in ("library", "source", "build"))
    library.check_keys(LIBRARY_KEYS)
    source.check_keys(SOURCE_KEYS)
    build.check_keys(BUILD_KEYS)
    name = library.get("name", str) or ""
    version = library.get("version", str) or ""
    license_ = library.get("license", str) or ""
    url = source.get("url", str) or ""
    subdir = source.get("subdir", str, default="") or ""
    sha256 = source.get("sha256", str) or ""
    system = build.get("system", str) or ""
    if name and (not _NAME.fullmatch(name) or path.stem != name):
        collector.add(code="L005", file=path, field="library.name",
                      message=f"{name!r} must be lowercase and match the file name",
                      fix=f"name the file libraries/{name.lower()}.toml")  # fmt: skip
    if sha256 and not _SHA256.fullmatch(sha256):
        collector.add(code="L006", file=path, field="source.sha256",
                      message="is not 64 lowercase hex digits",
                      fix="paste the sha256 of the source tarball")  # fmt: skip
    if system and system not in BuildSystem.__members__.values():
        collector.add(code="L004", file=path, field="build.system",
                      message=f"{system!r} is not a known build system",
                      fix=f"use one of: {', '.join(BuildSystem)}")  # fmt: skip
    archive = build.get("archive", str, default="") or ""
    if system == BuildSystem.SOURCES and not (build.str_list("sources") and archive):
        collector.add(code="L003", file=path, field="build.sources",
                      message="a `sources` build needs `sources` and `archive`",
                      fix='list the C files and name the archive, e.g. "libyaml.a"')  # fmt: skip
    if subdir and (subdir.startswith("/") or ".." in Path(subdir).parts):
        collector.add(code="L006", file=path, field="source.subdir",
                      message=f"{subdir!r} leaves the source tree",
                      fix="name a directory in the tarball, e.g. src/libsodium")  # fmt: skip
    patches = read_patches(source, directory=path.parent / "patches" / (name or path.stem),
                           code="L009", collector=collector)  # fmt: skip
    if len(collector.problems) != start:
        return None
    return Library(
        name=name, version=version, license=license_, url=url, sha256=sha256,
        system=BuildSystem(system), subdir=subdir, patches=tuple(patches),
        depends=build.str_list("depends"),
        configure=build.str_list("configure"), make_dirs=build.str_list("make-dirs"),
        targets=build.str_list("targets"),
        programs=build.str_list("programs"),
        sources=build.str_list("sources"), include_dirs=build.str_list("include-dirs"),
        headers=build.str_list("headers"),
        defines=tuple(sorted(build.str_table("defines").items())), archive=archive,
        path=path, file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )  # fmt: skip


def load_libraries(directory: Path, collector: Collector) -> dict[str, Library]:
    """Every library under `directory` (none when it does not exist)."""
    found = {}
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        library = _load_one(path, collector)
        if library is not None:
            found[library.name] = library
    broken = set()
    for library in found.values():
        for i, name in enumerate(library.depends):
            if name not in found:
                broken.add(library.name)
                collector.add(code="L007", file=library.path, field=f"build.depends[{i}]",
                              message=f"no library {name!r}",
                              fix=f"write libraries/{name}.toml, or remove it")  # fmt: skip
            elif library.name in closure(found, [name]):
                broken.add(library.name)
                collector.add(code="L008", file=library.path, field=f"build.depends[{i}]",
                              message=f"{name!r} depends back on {library.name!r}",
                              fix="break the cycle: a library cannot need itself")  # fmt: skip
    return {name: library for name, library in found.items() if name not in broken}


def closure(libraries: Mapping[str, Library], names: Iterable[str]) -> list[str]:
    """`names` and every library they need, directly or not, each once, dependencies
    first (unknown names are skipped: the loader reports them)."""
    order: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in seen or name in order or name not in libraries:
            return
        for dep in libraries[name].depends:
            visit(dep, seen | {name})
        order.append(name)

    for name in names:
        visit(name, frozenset())
    return order
