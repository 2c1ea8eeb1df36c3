"""The cibuildwheel backend: one recipe on one platform, built by cibuildwheel in CI.

Platforms this machine cannot build natively (macOS, Windows, aarch64 and musl
containers) are built on CI runners by cibuildwheel. For a job this module writes a
cibuildwheel configuration (a TOML file with a `[tool.cibuildwheel]` table) that
carries everything the native backend controls itself: the exact build identifier,
the recipe's environment and config-settings, its system packages, our locked build
requirements, SOURCE_DATE_EPOCH, the repair command for the OS and the recipe's tests.
Then it runs `cibuildwheel` on the verified sdist (or on the patched tree) and returns
the one repaired wheel; normalizing and storing it stays the job's business.

The configuration is a pure function of its inputs (`make_config`, `render`), so it
is tested without cibuildwheel, and checked against cibuildwheel's own reading of it
with `--print-build-identifiers`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
import platform as host
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from builder.errors import CibuildwheelError
from builder.logged import run_into_log, tail
from builder.model.data import tables
from builder.model.library import Library
from builder.model.lock import Pin
from builder.model.platform import OS, BackendName, Platform
from builder.model.recipe import Recipe
from builder.pipeline.build import apply_patches, reset_dir
from builder.pipeline.fetch import unpack
from builder.pipeline.tasks import BuildTask, TestTask
from builder.tomlwrite import TomlValue, inline

CIBW_PLATFORM = {OS.LINUX: "linux", OS.MACOS: "macos", OS.WINDOWS: "windows"}
# Windows wheel tags do not follow the arch names (platform.py has the same table).
_WINDOWS_TAGS = {"AMD64": "win_amd64", "x86": "win32", "ARM64": "win_arm64"}
# Which package manager the image of each (OS, libc) has, for before-all.
_INSTALLERS = {
    (OS.LINUX, "glibc"): ("yum", "yum install -y {packages}"),
    (OS.LINUX, "musl"): ("apk", "apk add --no-cache {packages}"),
    (OS.MACOS, "glibc"): ("brew", "brew install {packages}"),
}
# The build frontend: pypa/build as the native backend uses, with uv installing the
# isolated build environment (it honours UV_CONSTRAINT for every build requirement).
FRONTEND = "build[uv]"
# Inside cibuildwheel's Linux containers the host's root is mounted here, and
# cibuildwheel copies the dependency-versions file to this path.
_HOST_MOUNT = PurePosixPath("/host")
_CONTAINER_CONSTRAINTS = "/constraints.txt"


@dataclass(frozen=True, kw_only=True)
class Config:
    """One cibuildwheel run: one identifier, everything the build may depend on."""

    platform: str  # cibuildwheel's --platform: linux, macos, windows
    identifier: str  # cp312-manylinux_x86_64
    archs: str
    image_option: str  # e.g. manylinux-x86_64-image; "" off Linux
    image: str
    environment: tuple[tuple[str, str], ...]
    test_environment: tuple[tuple[str, str], ...]
    config_settings: tuple[tuple[str, str], ...]
    dependency_versions: str  # absolute path of the constraints file
    before_all: str
    repair_wheel_command: str
    test_command: str

    def options(self) -> dict[str, TomlValue]:
        """The `[tool.cibuildwheel]` table, in cibuildwheel's option names."""
        table: dict[str, TomlValue] = {
            "build": self.identifier,
            "archs": [self.archs],
            "build-frontend": FRONTEND,
            "dependency-versions": self.dependency_versions,
            "environment": dict(self.environment),
            "config-settings": _grouped(self.config_settings),
            "before-all": self.before_all,
            "repair-wheel-command": self.repair_wheel_command,
            "test-command": self.test_command,
            "test-environment": dict(self.test_environment),
            # The job is one identifier; anything else selected is a bug, not a build.
            "build-verbosity": 1,
        }
        if self.image_option:
            table[self.image_option] = self.image
        return table


def identifier(platform: Platform) -> str:
    """cibuildwheel's build identifier for a platform, e.g. cp312-macosx_arm64."""
    if platform.os is OS.WINDOWS:
        return f"{platform.interpreter}-{_WINDOWS_TAGS[platform.arch]}"
    if platform.os is OS.MACOS:
        return f"{platform.interpreter}-macosx_{platform.arch}"
    family = "musllinux" if platform.libc == "musl" else "manylinux"
    return f"{platform.interpreter}-{family}_{platform.arch}"


def image(platform: Platform) -> tuple[str, str]:
    """(option name, image name) for Linux: the image whose glibc the policy names."""
    if platform.os is not OS.LINUX:
        return "", ""
    family = "musllinux" if platform.libc == "musl" else "manylinux"
    suffix = f"_{platform.arch}"
    name = platform.policy[: -len(suffix)] if platform.policy.endswith(suffix) else ""
    if not name.startswith(family):
        raise CibuildwheelError(
            f"{platform.path}: policy {platform.policy!r} is not a {family} policy",
            fix=f"use e.g. '{family}_{'1_2' if family == 'musllinux' else '2_28'}{suffix}'",
        )
    return f"{family}-{platform.arch}-image", name


@cache
def _system_package_names() -> dict[str, dict[str, str]]:
    return tables("system-packages.toml")


def before_all(recipe: Recipe, platform: Platform) -> str:
    """Install the recipe's system packages (named as Debian does) in the build image."""
    if not recipe.system_packages:
        return ""
    installer = _INSTALLERS.get((platform.os, platform.libc))
    table = _system_package_names()
    names = []
    for package in recipe.system_packages:
        name = table.get(package, {}).get(installer[0]) if installer else None
        if not name:
            where = installer[0] if installer else f"{platform.os} images"
            raise CibuildwheelError(
                f"{recipe.path}: build.system-packages: no {where} name for {package!r} "
                f"(needed on {platform.id})",
                fix="add it to builder/data/system-packages.toml, or leave this platform "
                "out of the recipe's build.platforms",
            )
        names.append(name)
    assert installer is not None
    return installer[1].format(packages=" ".join(sorted(set(names))))


def repair_command(platform: Platform) -> str:
    """auditwheel on Linux (to the platform's own policy), delocate, delvewheel."""
    if platform.os is OS.LINUX:
        return f"auditwheel repair --plat {platform.policy} -w {{dest_dir}} {{wheel}}"
    if platform.os is OS.MACOS:
        return "delocate-wheel --require-archs {delocate_archs} -w {dest_dir} -v {wheel}"
    return "delvewheel repair -w {dest_dir} {wheel}"


def _command_line(argv: Sequence[str], os_: OS) -> str:
    # cibuildwheel runs test-command through the shell: sh on Linux and macOS, cmd.exe
    # on Windows, which knows no single quotes.
    return subprocess.list2cmdline(argv) if os_ is OS.WINDOWS else shlex.join(argv)


def test_command(recipe: Recipe, platform: Platform) -> str:
    """The recipe's import checks and commands, run in cibuildwheel's test venv."""
    imports = recipe.imports_on(platform.implementation)
    checks = [["python", "-c", f"import {module}"] for module in imports]
    checks += [list(argv) for argv in recipe.test_commands]
    return " && ".join(_command_line(argv, platform.os) for argv in checks)


def _flags(platform: Platform, policy_target: str) -> dict[str, str]:
    """What REPRODUCIBILITY.md found necessary, in each OS's toolchain's words."""
    if platform.os is OS.LINUX:
        # Backends may compile in random temporary directories; no debug info and no
        # build-id means no path of theirs reaches the .so.
        return {"LDFLAGS": "-Wl,--strip-debug -Wl,--build-id=none"}
    if platform.os is OS.MACOS:
        return {
            "LDFLAGS": "-Wl,-S",  # no debug symbols, so no build paths
            "ZERO_AR_DATE": "1",  # Apple's ld and ar: no timestamps in archives
            "MACOSX_DEPLOYMENT_TARGET": policy_target,
        }
    # MSVC: /Brepro makes cl and link write no timestamps and no GUIDs.
    return {"CL": "/Brepro", "_LINK_": "/Brepro"}


def _macos_target(policy: str) -> str:
    # macosx_11_0_arm64 -> 11.0
    parts = policy.split("_")
    return f"{parts[1]}.{parts[2]}" if len(parts) >= 4 else ""


def _escape(value: str) -> str:
    """cibuildwheel puts table values in double quotes and evaluates them like bash."""
    for char in ("\\", '"', "$", "`"):
        value = value.replace(char, "\\" + char)
    return value


def make_config(
    recipe: Recipe,
    platform: Platform,
    *,
    constraints: Path,
    source_date_epoch: int,
    find_links: Path | None = None,
) -> Config:
    """The cibuildwheel configuration of one job. Pure: no disk, no cibuildwheel."""
    if not constraints.is_absolute():
        raise CibuildwheelError(
            f"the constraints file {constraints} is not an absolute path",
            fix="pass an absolute path: cibuildwheel resolves paths from another directory",
        )
    if recipe.overrides:
        # Its isolated environment is installed from what the sdist asks, constrained by
        # the lock: an override would contradict it. Not built or tested here yet.
        raise CibuildwheelError(
            f"{recipe.path}: build.overrides is not supported on {platform.id} "
            "(the cibuildwheel backend)",
            fix="patch the sdist's [build-system] requires (source.patches) instead, or "
            "leave this platform out with build.platforms",
        )
    linux = platform.os is OS.LINUX
    # On Linux the build runs in a container: cibuildwheel copies the dependency-versions
    # file in for us, and the host's files are under /host.
    in_build = _CONTAINER_CONSTRAINTS if linux else str(constraints)
    environment = {
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "PYTHONHASHSEED": "0",
        "LC_ALL": "C.UTF-8" if linux else "",
        "TZ": "UTC",
        # Every build requirement, transitive ones too, at the lock's version: pypa/build
        # installs the isolated build environment with uv, which reads UV_CONSTRAINT.
        "UV_CONSTRAINT": in_build,
        "PIP_CONSTRAINT": in_build,
        **_flags(platform, _macos_target(platform.policy)),
    }
    environment = {k: v for k, v in environment.items() if v}
    environment.update(dict(recipe.env))
    test_environment: dict[str, str] = {}
    if find_links is not None:
        # Dependencies of the wheel under test come from the set first.
        links = str(_HOST_MOUNT / find_links.relative_to("/")) if linux else str(find_links)
        test_environment = {"PIP_FIND_LINKS": links, "UV_FIND_LINKS": links}
    image_option, image_name = image(platform)
    return Config(
        platform=CIBW_PLATFORM[platform.os],
        identifier=identifier(platform),
        archs=platform.arch,
        image_option=image_option,
        image=image_name,
        environment=tuple(sorted((k, _escape(v)) for k, v in environment.items())),
        test_environment=tuple(sorted((k, _escape(v)) for k, v in test_environment.items())),
        config_settings=recipe.config_settings,
        dependency_versions=str(constraints),
        before_all=before_all(recipe, platform),
        repair_wheel_command=repair_command(platform),
        test_command=test_command(recipe, platform),
    )


def render(config: Config) -> str:
    """The configuration file: `[tool.cibuildwheel]`, read with --config-file."""
    lines = [
        "# Written by `ipwhl` for one job; `ipwhl ci-config RECIPE PLATFORM` prints it.",
        f"# cibuildwheel --platform {config.platform} --config-file <this file> <sdist>",
        "[tool.cibuildwheel]",
    ]
    lines += [f"{key} = {inline(value)}" for key, value in config.options().items()]
    return "\n".join(lines) + "\n"


def constraints_text(pins: Iterable[Pin], cibuildwheel_pins: str = "") -> str:
    """Version pins for the build environment and cibuildwheel's own tools.

    cibuildwheel uses one file both to pin its tools (build, virtualenv, delocate,
    delvewheel) and, through UV_CONSTRAINT, we use it for the project's build
    requirements. Our lock wins where both name a package. Constraint files carry no
    hashes (pip refuses them there), so the versions, not the bytes, are pinned.
    """
    ours = {pin.name: f"{pin.name}=={pin.version}" for pin in pins}
    theirs: dict[str, str] = {}
    for raw in cibuildwheel_pins.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-") and "==" in line:
            theirs[canonicalize_name(line.split("==", 1)[0].split("[", 1)[0])] = line
    merged = {**theirs, **ours}
    header = "# Build constraints written by ipwhl: the job's locked build requirements\n"
    return header + "".join(merged[name] + "\n" for name in sorted(merged))


def cibuildwheel_version() -> str | None:
    try:
        return importlib.metadata.version("cibuildwheel")
    except importlib.metadata.PackageNotFoundError:
        return None


def cibuildwheel_pins(python_version: str) -> str:
    """cibuildwheel's own pinned tool versions for one interpreter."""
    if cibuildwheel_version() is None:
        raise CibuildwheelError(
            "cibuildwheel is not installed",
            fix="install the farm with its CI tools: pip install -e '.[test]'",
        )
    name = f"constraints-python{python_version.replace('.', '')}.txt"
    resource = importlib.resources.files("cibuildwheel").joinpath("resources", name)
    return resource.read_text() if resource.is_file() else ""


def toolchain(platform: Platform) -> str:
    """What builds the wheel, for the job's inputs: cibuildwheel pins its images."""
    option, name = image(platform)
    return f"cibuildwheel {cibuildwheel_version()} {identifier(platform)} {option}={name}".strip()


def _docker_reachable() -> bool:
    engine = shutil.which("docker")
    if engine is None:
        return False
    try:
        result = subprocess.run(
            [engine, "info"], capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def why_not_buildable(platform: Platform) -> str | None:
    """None if cibuildwheel can build `platform` here, else the reason in plain words."""
    wanted = {OS.LINUX: "Linux", OS.MACOS: "Darwin", OS.WINDOWS: "Windows"}[platform.os]
    if host.system() != wanted:
        return f"cibuildwheel builds {platform.os} wheels on a {platform.os} runner"
    if cibuildwheel_version() is None:
        return "cibuildwheel is not installed"
    if platform.os is OS.LINUX:
        if not _docker_reachable():
            return "cibuildwheel needs a container engine (no Docker daemon here)"
        machine = host.machine().replace("arm64", "aarch64")
        emulated = Path(f"/proc/sys/fs/binfmt_misc/qemu-{platform.arch}").exists()
        if platform.arch != machine and not emulated:
            return f"needs an {platform.arch} host or QEMU (docker/setup-qemu-action)"
    return None


def build_wheel(
    recipe: Recipe,
    platform: Platform,
    *,
    sdist: Path,
    pins: Sequence[Pin],
    source_date_epoch: int,
    work_dir: Path,
    log: Path,
    find_links: Path | None = None,
) -> Path:
    """Build, repair and test one wheel with cibuildwheel; return the repaired wheel.

    `work_dir` is the job's fixed directory (emptied first). The sdist has been
    verified by fetch; with patches, cibuildwheel gets the patched tree instead.
    """
    work_dir = work_dir.absolute()
    reset_dir(work_dir)
    constraints = work_dir / "constraints.txt"
    constraints.write_text(constraints_text(pins, cibuildwheel_pins(platform.python_version)))
    config = make_config(
        recipe,
        platform,
        constraints=constraints,
        source_date_epoch=source_date_epoch,
        find_links=find_links,
    )
    # Absolute: in sdist mode cibuildwheel reads a relative --config-file from its own
    # temporary directory and fails.
    config_file = work_dir / "cibuildwheel.toml"
    config_file.write_text(render(config))
    package = sdist.absolute()
    if recipe.patches:
        package = unpack(recipe, sdist, work_dir / "sdist")
        apply_patches(recipe.patches, package, log=log, env=dict(os.environ))
    out = work_dir / "wheelhouse"
    argv = [
        sys.executable,
        "-m",
        "cibuildwheel",
        "--platform",
        config.platform,
        "--config-file",
        str(config_file),
        "--output-dir",
        str(out),
        str(package),
    ]
    _run(argv, log=log, cwd=work_dir, timeout=recipe.timeout + 1800, what=recipe.name)
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise CibuildwheelError(
            f"cibuildwheel made {len(wheels)} wheels for {recipe.name} on {platform.id}, "
            f"expected 1; log: {log}",
            fix="check the build selector in the generated config (`ipwhl ci-config`)",
        )
    return wheels[0]


def _run(argv: list[str], *, log: Path, cwd: Path, timeout: float, what: str) -> None:
    # cibuildwheel reads CIBW_* from the environment; ours is in the file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    code = run_into_log(argv, log=log, env=env, cwd=cwd, timeout=timeout)
    if code is None:
        raise CibuildwheelError(
            f"cibuildwheel timed out building {what}; log: {log}",
            fix="raise build.timeout in the recipe if the build is just slow",
        )
    if code == 0:
        return
    text = log.read_text(errors="replace")
    if "Cannot connect to the Docker daemon" in text or "docker: not found" in text.lower():
        raise CibuildwheelError(
            f"cibuildwheel cannot build {what}: no container engine (Docker daemon)",
            fix="Linux platforms with backend cibuildwheel build in CI, or on a host "
            "with a running Docker daemon",
        )
    raise CibuildwheelError(
        f"cibuildwheel failed building {what} (exit {code}); last lines of {log}:\n{tail(log)}",
        fix="read the log; `ipwhl ci-config` prints the configuration it ran with",
    )


class CibuildwheelBackend:
    """Platforms built on CI runners: cibuildwheel builds, repairs and tests in its
    pinned image or on the runner, so the interpreter and toolchain are its own."""

    name = BackendName.CIBUILDWHEEL
    host_packages = False  # installed in its images by before-all
    # Its build environments install from an index (PIP_CONSTRAINT): PyPI's backends.
    installs_set_wheels = False

    def why_not_buildable(self, platform: Platform) -> str | None:
        return why_not_buildable(platform)

    def interpreter(self, platform: Platform) -> dict[str, str]:
        return {"version": platform.python_version, "build": toolchain(platform)}

    def toolchain(
        self, recipe: Recipe, platform: Platform, libraries: Mapping[str, Library]
    ) -> dict[str, str]:
        return {} if recipe.pure else {"cibuildwheel": toolchain(platform)}

    def shaping(self, recipe: Recipe, platform: Platform) -> dict[str, Any]:
        """The generated configuration, with the job's paths as placeholders."""
        config = make_config(recipe, platform, constraints=Path("/$JOB/constraints.txt"),
                             source_date_epoch=0)  # fmt: skip
        options = config.options()
        options["environment"] = {
            k: v for k, v in config.environment if k != "SOURCE_DATE_EPOCH"
        }  # an input of its own
        return {"cibuildwheel": options}

    def build(self, task: BuildTask, directory: Path, log: Path) -> Path:
        return build_wheel(
            task.job.recipe, task.job.platform, sdist=task.sdist, pins=task.pins,
            source_date_epoch=task.source_date_epoch, work_dir=directory / "cibw", log=log,
        )  # fmt: skip

    def test(self, task: TestTask, directory: Path, log: Path) -> tuple[str, ...]:
        """This host cannot run the wheel; cibuildwheel ran the recipe's tests where it
        can, as part of its build."""
        job = task.job
        claimed = [f"import {m}" for m in job.recipe.imports_on(job.platform.implementation)]
        claimed += [" ".join(argv) for argv in job.recipe.test_commands]
        return tuple(claimed)


def _grouped(pairs: tuple[tuple[str, str], ...]) -> dict[str, TomlValue]:
    """Settings given more than once become a list, as cibuildwheel's TOML takes them."""
    found: dict[str, list[str]] = {}
    for key, value in pairs:
        found.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else list(values) for key, values in found.items()}
