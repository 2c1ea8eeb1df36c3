"""Jobs whose interpreter runs on a pinned root (`roots/<name>.toml`), not on this host.

The interpreter can only run inside the sandbox, on its root's /usr. uv runs on the host
(it needs the network and its cache) and is given, as its `--python`, a small script
that starts the venv's interpreter in the sandbox: uv asks the real interpreter for its
version, markers and wheel tags (PyPy's `pypy311_pp80` among them), and writes into its
site-packages, which is the same path inside and out. Only wheels are installed
(`--only-binary`): no build requirement's own build runs with the network.
"""

from __future__ import annotations

import platform as host
import shlex
import subprocess
from dataclasses import replace
from functools import cache
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from builder.errors import SandboxError
from builder.model.platform import Platform
from builder.model.root import Root, load_root
from builder.pipeline import emulation, roots
from builder.pipeline.build import run_logged
from builder.pipeline.sandbox import Sandbox


@cache
def root_of(platform: Platform) -> Root:
    return load_root(platform.path.parent.parent, platform.root)


def home(platform: Platform, cache_dir: Path) -> Path:
    """The unpacked root, installed on first use."""
    return roots.install(root_of(platform), cache_dir)


def sandbox(
    platform: Platform, directory: Path, cache: Path, *, python_headers_only: bool = False
) -> Sandbox:
    """A sandbox on the platform's root: `directory` writable, the download cache (the
    pinned toolchain lives there) readable. With `python_headers_only`, the root's
    /usr/include shows its interpreters' headers and nothing else: a build that adds
    -I/usr/include itself (pillow does) must not find the root's glibc headers, which
    are not the pinned toolchain's."""
    system = home(platform, cache)
    keep: tuple[str, ...] = ()
    if python_headers_only:
        include = system / "usr" / "include"
        found = [*include.glob("python*"), *include.glob("pypy*"), *include.glob("*/python*")]
        keep = tuple(sorted(f"/{p.relative_to(system)}" for p in found if p.is_dir()))
    return Sandbox(writable=directory, readable=(cache,), system=system,
                   hide_host_headers=python_headers_only, keep_headers=keep)  # fmt: skip


def python(platform: Platform) -> Path:
    """The interpreter as a job inside the root sees it."""
    if platform.implementation == "pypy":
        return Path("/usr/bin/pypy3")
    return Path(f"/usr/bin/python{platform.python_version}")


def python_full_version(platform: Platform) -> str | None:
    """The CPython version the root ships, from its package's version (Debian's
    3.11.2-6+deb12u6 is CPython 3.11.2); None for PyPy, whose package names PyPy's
    own release."""
    if platform.implementation != "cpython":
        return None
    upstream = describe(platform)["version"].split(":")[-1].split("-")[0].split("~")[0]
    return upstream if upstream.startswith(f"{platform.python_version}.") else None


def describe(platform: Platform) -> dict[str, str]:
    """What a job's inputs say of its interpreter: the root by sha256 and the package
    that ships the interpreter, by version (nothing needs to run for it)."""
    root = root_of(platform)
    package = "pypy3" if platform.implementation == "pypy" else (
        f"python{platform.python_version}-minimal"
    )  # fmt: skip
    version = next((d.version for d in root.debs if d.name == package), "")
    found = {"version": version,
             "build": f"{package} {version} on roots/{root.name}.toml {root.sha256}"}  # fmt: skip
    if platform.arch != host.machine():  # its Python code runs emulated
        found["build"] += f" under {emulation.describe(platform.arch)}"
    return found


def runner(python: Path, *, sandbox: Sandbox, script: Path, uv: str, env: dict[str, str]) -> Path:
    """A script at `script` that runs `python` (a path on the root) in `sandbox`, with
    uv's cache readable: uv starts interpreters with its query code kept there."""
    confined = replace(
        sandbox, readable=(*sandbox.readable, _uv_cache(uv, env.get("UV_CACHE_DIR")))
    )
    argv = confined.wrap([str(python)], cwd=sandbox.writable)
    script.write_text(f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n')
    script.chmod(0o755)
    return script


@cache
def _uv_cache(uv: str, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    found = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=False)
    return Path(found.stdout.strip() or Path.home() / ".cache" / "uv")


def make_venv(
    *,
    platform: Platform,
    uv: str,
    venv: Path,
    requirements: list[list[str]],
    sandbox: Sandbox | None,
    log: Path,
    tool_env: dict[str, str],
) -> None:
    """A fresh venv of the root's interpreter holding what each `uv pip install`
    argument list in `requirements` names (hash-checked pins, or local wheel files)."""
    if sandbox is None:
        raise SandboxError(
            f"{platform.id}'s interpreter runs on roots/{platform.root}.toml, only in the sandbox",
            fix="drop --no-sandbox for this platform (bubblewrap is needed)",
        )
    run_logged(
        sandbox.wrap([str(python(platform)), "-m", "venv", "--without-pip", str(venv)],
                     cwd=venv.parent),
        log=log, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd=venv.parent,
        timeout=300, what="creating the venv on the root",
    )  # fmt: skip
    script = venv.parent / f"{venv.name}-python"
    inside = runner(venv / "bin" / "python", sandbox=sandbox, script=script, uv=uv,
                    env=tool_env)  # fmt: skip
    for args in requirements:
        run_logged(
            [uv, "pip", "install", "--quiet", "--python", str(inside),
             "--only-binary", ":all:", "--link-mode", "copy", *args],
            log=log, env=tool_env, cwd=venv.parent, timeout=600,
            what=f"installing into the venv on the root ({' '.join(args[-2:])})",
        )  # fmt: skip


def compiler_flags(platform: Platform, toolchain_dir: Path) -> dict[str, str]:
    """What the pinned compiler needs to find the root's Python headers: Debian's
    `pyconfig.h` includes `<TRIPLET/pythonX.Y/pyconfig.h>` from /usr/include, which zig
    never searches (and must not: the root's glibc headers are there). One directory
    holding only that path, searched last."""
    return {"CPPFLAGS": f"-idirafter {toolchain_dir / 'include'}"}


def link_headers(platform: Platform, toolchain_dir: Path) -> None:
    triplet = f"{platform.arch}-linux-gnu"
    link = toolchain_dir / "include" / triplet / f"python{platform.python_version}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(f"/usr/include/{triplet}/python{platform.python_version}")


def unmet_needs(platform: Platform, system: Path, binary: Path) -> list[str]:
    """What `binary` needs to start that the platform's root (unpacked at `system`)
    lacks: its program interpreter and the shared libraries it names, looked up where
    the root's loader looks. PyPI's ninja and cmake need libstdc++, which a minimal root
    does not hold; the build would stop at "error while loading shared libraries"."""
    with binary.open("rb") as stream:
        elf = ELFFile(stream)
        wanted = [s.get_interp_name() for s in elf.iter_segments() if isinstance(s, InterpSegment)]
        dynamic = elf.get_section_by_name(".dynamic")
        if isinstance(dynamic, DynamicSection):
            tags = dynamic.iter_tags()
            wanted += [str(getattr(t, "needed", "")) for t in tags if t.entry.d_tag == "DT_NEEDED"]
    triplet = f"{platform.arch}-linux-gnu"
    where = [system / d for d in ("lib", "usr/lib", f"lib/{triplet}", f"usr/lib/{triplet}")]
    return [
        name
        for name in wanted
        if not ((system / name.lstrip("/")).exists() if name.startswith("/")
                else any((d / name).exists() for d in where))
    ]  # fmt: skip
