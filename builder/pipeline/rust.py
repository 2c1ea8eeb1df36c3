"""The pinned Rust, and the crates of a recipe, fetched by checksum before the build.

rustc, cargo and each target's standard library come from the Rust project's dist
server by sha256 (builder/data/toolchains.toml), never from the host's rustup; the
pinned zig links what rustc compiles, for the platform's glibc, so Rust and C code of
one wheel share one linker and one libc. The crates a build needs are the registry
packages of the sdist's Cargo.lock: each is fetched from crates.io by the checksum the
lock names, kept in the cache beside the sdists, and handed to cargo as a vendored
directory source; the build itself has no network.
"""

from __future__ import annotations

import hashlib
import json
import platform as host
import shutil
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from builder.errors import BuildError, DataError
from builder.model.data import data_path, load_data
from builder.pipeline.fetch import fetch_by_hash
from builder.pipeline.repair import rewrite_members

_REGISTRIES = (
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)
_CRATES = "https://static.crates.io/crates"


@dataclass(frozen=True, kw_only=True)
class Component:
    """One tarball of the Rust distribution (rustc, cargo, rust-std-<target>)."""

    name: str
    url: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Rust:
    version: str
    components: tuple[Component, ...]  # rustc and cargo of the build machine, the target's std
    triple: str  # the target, e.g. aarch64-unknown-linux-gnu

    def describe(self) -> dict[str, str]:
        """The toolchain by meaning, for a job's inputs."""
        found = {"rust": self.version, "rust-target": self.triple}
        found |= {f"{c.name}-sha256": c.sha256 for c in self.components}
        return found

    @property
    def key(self) -> str:
        """One name for this set of tarballs: where they are unpacked together."""
        joined = " ".join(sorted(c.sha256 for c in self.components))
        return hashlib.sha256(joined.encode()).hexdigest()[:24]


def triple(arch: str) -> str:
    return f"{arch}-unknown-linux-gnu"


def pinned_rust(arch: str, machine: str | None = None) -> Rust:
    """The Rust of builder/data/toolchains.toml that runs on `machine` (this one) and
    builds for `arch`."""
    machine = machine or host.machine()
    where = data_path("toolchains.toml")
    table = load_data("toolchains.toml").get("rust")
    if not isinstance(table, dict) or not isinstance(table.get("version"), str):
        raise DataError(f"{where}: rust.version: missing", fix="name the pinned Rust version")
    tools = table.get(machine)
    std = table.get("std", {}).get(arch) if isinstance(table.get("std"), dict) else None
    if not isinstance(tools, dict) or not isinstance(std, dict):
        raise DataError(
            f"{where}: no pinned Rust for a {machine} build machine targeting {arch}",
            fix=f"add rustc and cargo under [rust.{machine}] and {arch} under [rust.std], "
            "with the url and sha256 of the channel manifest",
        )
    components = []
    for name, entry in (("rustc", tools.get("rustc")), ("cargo", tools.get("cargo")),
                        ("rust-std", std)):  # fmt: skip
        if not isinstance(entry, dict) or not {"url", "sha256"} <= entry.keys():
            raise DataError(f"{where}: rust: {name} needs url and sha256",
                            fix="copy both from the channel manifest")  # fmt: skip
        components.append(Component(name=name, url=str(entry["url"]),
                                    sha256=str(entry["sha256"])))  # fmt: skip
    return Rust(version=table["version"], components=tuple(components), triple=triple(arch))


def install(rust: Rust, cache: Path) -> Path:
    """The toolchain's home (bin/rustc, bin/cargo, lib/rustlib/<triple>/), unpacked once
    per set of tarballs under `<cache>/toolchains/`."""
    home = cache / "toolchains" / f"rust-{rust.version}-{rust.key}"
    if (home / "bin" / "cargo").is_file():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}."))
    try:
        for component in rust.components:
            tarball = fetch_by_hash(
                component.url, component.sha256,
                cache / "toolchains" / component.url.rsplit("/", 1)[-1],
                what=f"builder/data/toolchains.toml: rust {component.name}",
                fix="the pinned tarball changed upstream or was tampered with; check the pin",
            )  # fmt: skip
            _unpack_component(tarball, staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would shut out the sandbox's user
        staging.rename(home)
    except OSError:
        if not (home / "bin" / "cargo").is_file():  # another run may have unpacked it first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _unpack_component(tarball: Path, into: Path) -> None:
    """`<top>/<component>/{bin,lib,...}` of a dist tarball merged into `into`; the
    installer's own files (install.sh, manifest.in) left out."""
    with tarfile.open(tarball) as archive:
        for member in archive:
            parts = member.name.split("/")
            if len(parts) < 3 or parts[-1] == "manifest.in":
                continue
            member.name = "/".join(parts[2:])
            archive.extract(member, into, filter="data")


@dataclass(frozen=True, kw_only=True, order=True)
class Crate:
    name: str
    version: str
    sha256: str

    @property
    def url(self) -> str:
        return f"{_CRATES}/{self.name}/{self.name}-{self.version}.crate"


def locked_crates(source: Path) -> tuple[Crate, ...]:
    """Every registry package of every Cargo.lock in an unpacked sdist."""
    locks = sorted(p for p in source.rglob("Cargo.lock") if "target" not in p.parts)
    return crates_of({str(p.relative_to(source)): p.read_bytes() for p in locks}, source.name)


def require_rust_version(source: Path, pinned: str, *, project: str) -> None:
    """Refuse, before any crate is fetched, an sdist whose Cargo.toml asks for a newer
    rustc than the pinned one (`rust-version`, of a package or a workspace): cargo would
    refuse it only after the crates and the build environment were made."""
    newest: tuple[Version, str, str, str] | None = None
    for manifest in sorted(source.rglob("Cargo.toml")):
        rel = manifest.relative_to(source)
        if "target" in rel.parts:
            continue
        try:
            doc = tomllib.loads(manifest.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue  # cargo says what is wrong with it, with the build's log
        workspace = doc.get("workspace") or {}
        tables = (("package", doc.get("package")), ("workspace.package", workspace.get("package")))
        for field, table in tables:
            asked = table.get("rust-version") if isinstance(table, dict) else None
            if not isinstance(asked, str):
                continue  # absent, or `{ workspace = true }`: the workspace's says it
            try:
                wanted = Version(asked)
            except InvalidVersion:
                continue
            if wanted > Version(pinned) and (newest is None or wanted > newest[0]):
                newest = (wanted, asked, str(rel), f"{field}.rust-version")
    if newest is not None:
        _, asked, where, field = newest
        raise BuildError(
            f"recipes/{project}.toml: the sdist's {where}: {field} = {asked!r} is newer than "
            f"the pinned rustc {pinned}",
            fix=f"choose a release of {project} whose Cargo.toml asks for rustc {pinned} or "
            "older (`ipwhl bump NAME VERSION`), or raise [rust] in builder/data/"
            "toolchains.toml (every Rust wheel of the set is rebuilt)",
        )


def sdist_crates(sdist: Path) -> tuple[Crate, ...]:
    """The same, read from the sdist archive itself (for the published tree)."""
    locks: dict[str, bytes] = {}
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            for name in archive.namelist():
                if name.endswith("/Cargo.lock"):
                    locks[name.split("/", 1)[-1]] = archive.read(name)
    else:
        with tarfile.open(sdist) as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.name.endswith("/Cargo.lock") else None
                if handle is not None:
                    locks[member.name.split("/", 1)[-1]] = handle.read()
    return crates_of(locks, sdist.name)


def crates_of(locks: dict[str, bytes], where: str) -> tuple[Crate, ...]:
    """The registry packages of these Cargo.lock files (relative path -> bytes); a lock
    naming a source the farm cannot fetch by checksum (git) is refused."""
    locks = {rel: data for rel, data in locks.items() if "target" not in rel.split("/")}
    if not locks:
        raise BuildError(
            f"{where} has no Cargo.lock: its crates cannot be fetched by checksum",
            fix="build a release whose sdist ships Cargo.lock, or add one with a patch",
        )
    found: set[Crate] = set()
    for rel, data in sorted(locks.items()):
        try:
            packages = tomllib.loads(data.decode()).get("package", [])
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise BuildError(f"{rel}: not a Cargo.lock: {e}", fix="check the sdist") from e
        for package in packages:
            origin = package.get("source")
            if origin is None:
                continue  # a crate of the sdist itself
            if origin not in _REGISTRIES:
                raise BuildError(
                    f"{rel}: package {package.get('name')} {package.get('version')} comes "
                    f"from {origin}, which has no checksum to fetch it by",
                    fix="patch Cargo.toml and Cargo.lock to a crates.io release",
                )
            if "checksum" not in package:
                raise BuildError(
                    f"{rel}: package {package.get('name')} has no checksum (an old lock format)",
                    fix="regenerate the lock with a current cargo in a patch",
                )
            found.add(Crate(name=package["name"], version=package["version"],
                            sha256=package["checksum"]))  # fmt: skip
    return tuple(sorted(found))


def cached(crate: Crate, cache: Path) -> Path:
    """Where a crate is kept: by sha256, like sdists (`_sources/_farm/crates/` mirrors it)."""
    return cache / "crates" / crate.sha256 / f"{crate.name}-{crate.version}.crate"


def vendor(crates: tuple[Crate, ...], cache: Path, into: Path) -> None:
    """Each crate fetched by checksum into `<cache>/crates/` and unpacked as a cargo
    directory source in `into`."""
    into.mkdir(parents=True, exist_ok=True)
    for crate in crates:
        archive = fetch_by_hash(
            crate.url, crate.sha256, cached(crate, cache),
            what=f"crate {crate.name} {crate.version} (Cargo.lock)",
            fix="the sdist's Cargo.lock and crates.io disagree: check the sdist",
        )  # fmt: skip
        directory = into / f"{crate.name}-{crate.version}"
        with tarfile.open(archive) as tar:
            for member in tar:
                top, _, rest = member.name.partition("/")
                if top != directory.name or not rest:
                    continue
                member.name = rest
                tar.extract(member, directory, filter="data")
        # No per-file sums: the package's sha256 (checked on download) is what cargo
        # compares with Cargo.lock.
        (directory / ".cargo-checksum.json").write_text(
            json.dumps({"files": {}, "package": crate.sha256})
        )


def cargo_config(vendored: Path) -> str:
    """CARGO_HOME/config.toml: crates.io replaced by the vendored directory, offline."""
    return (
        "# Written by ipwhl: every crate from the vendored directory, none from the network.\n"
        "[source.crates-io]\n"
        'replace-with = "ipwhl-vendored"\n\n'
        "[source.ipwhl-vendored]\n"
        f'directory = "{vendored}"\n\n'
        "[net]\n"
        "offline = true\n"
    )


def wrapper_scripts(zig_binary: str, zig_target: str) -> dict[str, str]:
    """`cargo-cc` and `cargo-c++`: the pinned zig for rustc's link and for the cc crate
    of build scripts (pure: a job's inputs use it). The cc crate passes clang's
    `--target=<rust triple>`, which zig would read as its own target and refuse; the
    wrappers drop it, their -target says the same with the glibc version."""
    scripts = {}
    for name, tool in (("cargo-cc", "cc"), ("cargo-c++", "c++")):
        scripts[name] = (
            "#!/bin/sh\n"
            "# Written by ipwhl: the pinned zig, for cargo, for one target.\n"
            'for a do shift; case "$a" in --target=*) ;; *) set -- "$@" "$a" ;; esac; done\n'
            f'exec "{zig_binary}" {tool} -target {zig_target} -mcpu=baseline "$@"\n'
        )
    return scripts


def cargo_env(
    rust_home: Path, job: Path, *, target: str, linker: Path, build_linker: Path, source: Path
) -> dict[str, str]:
    """The environment of a Rust build (pure: a job's inputs use it with placeholders).

    The target is always explicit, so that build scripts and proc-macros (built for
    this machine) and the extension (built for the platform) each get their linker;
    paths of the job are remapped so that no wheel names the build machine.
    """
    env_name = target.upper().replace("-", "_")
    machine = triple(host.machine())
    # The last matching prefix wins: the source, inside the job, comes last.
    remap = [f"--remap-path-prefix={job}=/job", f"--remap-path-prefix={rust_home}=/rust",
             f"--remap-path-prefix={source}=/src"]  # fmt: skip
    env = {
        "PATH": str(rust_home / "bin"),
        "CARGO": str(rust_home / "bin" / "cargo"),
        "RUSTC": str(rust_home / "bin" / "rustc"),
        "CARGO_HOME": str(job / "cargo-home"),
        "CARGO_NET_OFFLINE": "true",
        "CARGO_BUILD_TARGET": target,
        "CARGO_INCREMENTAL": "0",
        "CARGO_TERM_COLOR": "never",
        f"CARGO_TARGET_{env_name}_LINKER": str(linker),
        # The cc crate's compilers for the target, before CC and CXX.
        f"CC_{target.replace('-', '_')}": str(linker),
        f"CXX_{target.replace('-', '_')}": str(linker.with_name("cargo-c++")),
        "CARGO_ENCODED_RUSTFLAGS": "\x1f".join([*remap, "-Cstrip=debuginfo"]),
    }
    if target != machine:
        env[f"CARGO_TARGET_{machine.upper().replace('-', '_')}_LINKER"] = str(build_linker)
    return env


def remap_sboms(wheel: Path, out_dir: Path, prefixes: dict[str, str]) -> Path:
    """The wheel with each path prefix replaced in its SBOMs (`.dist-info/sboms/`, PEP
    770), as rustc's --remap-path-prefix does in the code: maturin's names the source
    directory, under the build root, which would make the wheel differ from a rebuild
    elsewhere. The same wheel when there is nothing to replace."""
    with zipfile.ZipFile(wheel) as source:
        sboms = {n: source.read(n) for n in source.namelist()
                 if "/sboms/" in n and n.split("/", 1)[0].endswith(".dist-info")}  # fmt: skip
    changed = {}
    for name, data in sboms.items():
        new = data
        for old, replacement in sorted(prefixes.items(), key=lambda p: -len(p[0])):
            new = new.replace(old.encode(), replacement.encode())
        if new != data:
            changed[name] = new
    if not changed:
        return wheel
    return rewrite_members(wheel, out_dir / wheel.name, changed)
