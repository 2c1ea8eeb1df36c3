"""Run one recipe's build backend for one interpreter, isolated and reproducible.

The build happens at a fixed path, in a fresh environment holding exactly the locked
build requirements, with a scrubbed environment (nothing of the caller's reaches the
backend), SOURCE_DATE_EPOCH, umask 022, the flags REPRODUCIBILITY.md found necessary,
and no network where `unshare -n` works.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from builder.errors import BuildError
from builder.logged import run_into_log, tail
from builder.model.lock import Pin
from builder.model.patches import Patch
from builder.model.recipe import Recipe
from builder.pipeline.sandbox import Sandbox


@dataclass(frozen=True, kw_only=True)
class BuildEnv:
    """The environment variables a backend sees: this and nothing else."""

    variables: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, str]:
        return dict(self.variables)


def backend_env(
    recipe: Recipe,
    *,
    venv: Path,
    source: Path,
    home: Path,
    source_date_epoch: int,
    compilers: Mapping[str, str] | None = None,
) -> BuildEnv:
    """`compilers`: the toolchain's CC, CXX, LDSHARED, ... (none: the interpreter's own)."""
    prefix_map = f"-ffile-prefix-map={source}=."
    variables = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        # CPPFLAGS, not CFLAGS: setuptools >= 75.7 lets CFLAGS replace the
        # interpreter's own -O3 -g -DNDEBUG, but appends CPPFLAGS.
        "CPPFLAGS": prefix_map,
        # Some backends compile in a random temporary directory; stripping debug info
        # removes every path it would leave behind, and the build-id derived from them.
        "LDFLAGS": "-Wl,--strip-debug -Wl,--build-id=none",
        "PIP_NO_INDEX": "1",
        "UV_OFFLINE": "1",
    }
    for key, value in (compilers or {}).items():
        # Flags add to the reproducibility flags above; everything else is the toolchain's.
        merge = key in ("CPPFLAGS", "LDFLAGS") and value
        variables[key] = f"{variables[key]} {value}" if merge else value
        if key == "PATH":  # the libraries' programs, after the venv's, before the system's
            variables[key] = f"{venv / 'bin'}:{value}:/usr/local/bin:/usr/bin:/bin"
    for key, value in recipe.env:
        # A recipe's flags add to the reproducibility flags; they never replace them.
        flag = key in ("CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS")
        variables[key] = f"{variables[key]} {value}" if flag and key in variables else value
    return BuildEnv(variables=tuple(sorted(variables.items())))


@cache
def network_isolation_works() -> bool:
    """`unshare -n` needs root or user namespaces; say so instead of pretending."""
    if shutil.which("unshare") is None:
        return False
    try:
        return (
            subprocess.run(
                ["unshare", "-n", "true"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def run_logged(
    argv: list[str],
    *,
    log: Path,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    what: str,
) -> None:
    """Run `argv`, appending its output to `log`; raise with the log's tail on failure."""
    code = run_into_log(argv, log=log, env=env, cwd=cwd, timeout=timeout)
    if code is None:
        raise BuildError(
            f"{what} timed out after {timeout:.0f} s; log: {log}",
            fix="raise build.timeout in the recipe if the build is just slow",
        )
    if code != 0:
        raise BuildError(
            f"{what} failed (exit {code}); last lines of {log}:\n{tail(log)}",
            fix="read the log; patch the recipe (source.patches, build.env) or its lock",
        )


def make_venv(
    *,
    uv: str,
    python: Path,
    venv: Path,
    pins: list[Pin],
    extra_wheels: list[Path],
    log: Path,
    tool_env: dict[str, str],
) -> None:
    """A fresh venv holding exactly `pins` (hash-checked) and `extra_wheels`."""
    run_logged(
        [uv, "venv", "--quiet", "--no-project", "--python", str(python), str(venv)],
        log=log,
        env=tool_env,
        cwd=venv.parent,
        timeout=300,
        what="creating the venv",
    )
    if pins:
        requirements = venv.parent / f"{venv.name}-requirements.txt"
        requirements.write_text("".join(pin.line() + "\n" for pin in pins))
        uv_install(
            uv,
            venv,
            ["--require-hashes", "--no-deps", "-r", str(requirements)],
            log=log,
            env=tool_env,
            what="installing the locked build requirements",
        )
    if extra_wheels:
        uv_install(
            uv,
            venv,
            ["--no-deps", "--offline", "--no-cache", *map(str, extra_wheels)],
            log=log,
            env=tool_env,
            what="installing the set's build dependencies",
        )


def uv_install(
    uv: str, venv: Path, args: list[str], *, log: Path, env: dict[str, str], what: str
) -> None:
    """`uv pip install` into `venv`, copying files so that no venv shares uv's cache."""
    argv = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    run_logged(
        [*argv, "--link-mode", "copy", *args],
        log=log,
        env=env,
        cwd=venv.parent,
        timeout=600,
        what=what,
    )


def apply_patches(
    patches: Iterable[Patch], source: Path, *, log: Path, env: dict[str, str]
) -> None:
    for patch in patches:
        run_logged(
            ["patch", "-p1", "--forward", "--batch", "-i", str(patch.path)],
            log=log,
            env=env,
            cwd=source,
            timeout=60,
            what=f"applying {patch.path.name}",
        )


def frontend_argv(recipe: Recipe) -> list[str]:
    """pypa/build's arguments, in the build venv's interpreter, without the paths."""
    argv = ["-m", "build", "--wheel", "--no-isolation"]
    if recipe.overrides:
        # The environment is the lock's, overrides applied; build would hold it against
        # what the sdist asks for and refuse exactly what the recipe replaced.
        argv.append("--skip-dependency-check")
    return argv + [f"--config-setting={key}={value}" for key, value in recipe.config_settings]


def run_backend(
    recipe: Recipe,
    *,
    venv: Path,
    source: Path,
    outdir: Path,
    env: BuildEnv,
    log: Path,
    isolate_network: bool,
    sandbox: Sandbox | None = None,
) -> Path:
    """Run the PEP 517 backend through pypa/build; return the one wheel it made."""
    argv = [str(venv / "bin" / "python"), *frontend_argv(recipe), "--outdir", str(outdir)]
    argv.append(str(source))
    if sandbox is not None:
        argv = sandbox.wrap(argv, cwd=source)
    elif isolate_network:
        argv = ["unshare", "-n", "--", *argv]
    run_logged(
        argv,
        log=log,
        env=env.as_dict(),
        cwd=source,
        timeout=recipe.timeout,
        what=f"building {recipe.name} {recipe.version}",
    )
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(
            f"the backend made {len(wheels)} wheels for {recipe.name}, expected 1; log: {log}",
            fix="check the project's build configuration",
        )
    return wheels[0]


def reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


# What backends print when they give up on an optional extension, most telling first.
_DROP_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    # gcc's words, then clang's (the pinned zig).
    (re.compile(r"fatal error: ([\w./+-]+\.h): No such file"), "the header {0} is missing"),
    (re.compile(r"fatal error: '([\w./+-]+\.h)' file not found"), "the header {0} is missing"),
    (
        re.compile(r"(?:unable to execute|command) '([^']+)'(?: failed)?: No such file"),
        "no compiler: {0} was not found",
    ),
    (re.compile(r"error: command '([^']+)' failed"), "the compiler command {0} failed"),
    (
        re.compile(
            r"^.*(?:extension|speedups?)\b.*\b(?:could not|couldn't|cannot|failed to)\b"
            r".*$|^.*\b(?:falling back|fall back)\b.*pure[- ]python.*$",
            re.IGNORECASE | re.MULTILINE,
        ),
        "the backend said: {0}",
    ),
)


def dropped_extension_reason(log: str) -> str:
    """Why a build fell back to a pure wheel, as the build log tells it."""
    for pattern, reason in _DROP_CAUSES:
        if found := pattern.search(log):
            return reason.format((found.group(1) if found.groups() else found.group(0)).strip())
    return "the log does not say why; read it for the compiler's output"
