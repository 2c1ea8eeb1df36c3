"""Jobs whose interpreter runs on a pinned root (`roots/<name>.toml`), not on this host.

The interpreter can only run inside the sandbox, on its root's /usr; uv runs on the host
and cannot start it. So the venv is made inside (`python -m venv --without-pip`), and uv
installs into its site-packages from outside with `--target`, told the interpreter's
version and platform instead of asking it. Only wheels are installed (`--only-binary`):
no build requirement's own build runs with the network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from builder.errors import SandboxError
from builder.model.platform import Platform
from builder.model.root import Root, load_root
from builder.pipeline import roots
from builder.pipeline.build import run_logged
from builder.pipeline.sandbox import Sandbox

# The newest manylinux uv's --python-platform names; a root's glibc may be newer.
_NEWEST_MANYLINUX = 40


@cache
def root_of(platform: Platform) -> Root:
    return load_root(platform.path.parent.parent, platform.root)


def home(platform: Platform, cache_dir: Path) -> Path:
    """The unpacked root, installed on first use."""
    return roots.install(root_of(platform), cache_dir)


def python(platform: Platform) -> Path:
    """The interpreter as a job inside the root sees it."""
    if platform.interpreter.startswith("pp"):
        return Path("/usr/bin/pypy3")
    return Path(f"/usr/bin/python{platform.python_version}")


def describe(platform: Platform) -> dict[str, str]:
    """What a job's inputs say of its interpreter: the root by sha256 and the package
    that ships the interpreter, by version (nothing needs to run for it)."""
    root = root_of(platform)
    package = "pypy3" if platform.interpreter.startswith("pp") else (
        f"python{platform.python_version}-minimal"
    )  # fmt: skip
    version = next((d.version for d in root.debs if d.name == package), "")
    return {"version": version,
            "build": f"{package} {version} on roots/{root.name}.toml {root.sha256}"}  # fmt: skip


def wheel_policy(platform: Platform) -> str:
    """The manylinux wheels the root's interpreter takes: those its glibc can load."""
    libc = next((d.version for d in root_of(platform).debs if d.name == "libc6"), "2.17")
    minor = int(libc.split(".")[1].split("-")[0])
    return f"manylinux_2_{min(minor, _NEWEST_MANYLINUX)}"


def site_packages(platform: Platform, venv: Path) -> Path:
    lib = "pypy" if platform.interpreter.startswith("pp") else "python"
    return venv / "lib" / f"{lib}{platform.python_version}" / "site-packages"


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
    site = site_packages(platform, venv)
    target = ["--python-version", platform.python_version,
              "--python-platform", f"{platform.arch}-{wheel_policy(platform)}"]  # fmt: skip
    for args in requirements:
        run_logged(
            [uv, "pip", "install", "--quiet", "--target", str(site), *target,
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
