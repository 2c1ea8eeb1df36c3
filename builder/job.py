"""One job, start to end, in a worker process: build, repair, normalize, test, store.

The parent computes a job's inputs and checks the store; only jobs with no record for
exactly these inputs reach a worker. Workers return outcomes, never raise, so that one
failing job never stops the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from builder import build, cibuildwheel, normalize, repair
from builder.build import dropped_extension_reason
from builder.errors import BuildError, IpwhlError, StoreError, WheelTestError
from builder.fetch import extract_sdist
from builder.interpreters import Interpreter
from builder.lock import Pin
from builder.plan import Job
from builder.platform import Backend
from builder.store import Store


@dataclass(frozen=True, kw_only=True)
class Settings:
    store: Path
    cache: Path
    build_root: Path
    uv: str
    jobs: int


@dataclass(frozen=True, kw_only=True)
class BuildTask:
    job: Job
    sdist: Path
    pins: tuple[Pin, ...]
    depends_wheels: tuple[tuple[str, str], ...]  # (wheel filename, sha256) of the set
    interpreter: Interpreter
    source_date_epoch: int
    isolate_network: bool
    settings: Settings


@dataclass(frozen=True, kw_only=True)
class Built:
    wheel: str
    wheel_sha256: str
    wheel_size: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class TestTask:
    job: Job
    wheel: str
    wheel_sha256: str
    # (wheel filename, sha256) of every other wheel of its runtime closure on this platform
    closure: tuple[tuple[str, str], ...]
    interpreter: Interpreter
    isolate_network: bool
    settings: Settings


@dataclass(frozen=True, kw_only=True)
class Tested:
    tests: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Failed:
    stage: str
    message: str
    fix: str
    seconds: float


def job_dir(settings: Settings, job: Job) -> Path:
    """Fixed per job, so that paths a backend records are the same on every rebuild."""
    return settings.build_root / job.platform.id / job.recipe.name


def _tool_env(settings: Settings) -> dict[str, str]:
    # uv itself needs the network and its cache; the backend it sets up never gets them.
    import os

    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "LANG": "C.UTF-8",
    }
    for key in ("UV_CACHE_DIR", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "SSL_CERT_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


@contextmanager
def _exclusive(job_directory: Path) -> Iterator[None]:
    """One job at a time per fixed path, across processes and across farms.

    Two `ipwhl build` runs sharing a build root (the default one) would otherwise
    build into the same directory at once.
    """
    job_directory.parent.mkdir(parents=True, exist_ok=True)
    with (job_directory.parent / f".{job_directory.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_build(task: BuildTask) -> Built | Failed:
    with _exclusive(job_dir(task.settings, task.job)):
        return _run_build(task)


def _run_build(task: BuildTask) -> Built | Failed:
    start = time.monotonic()
    job, settings = task.job, task.settings
    directory = job_dir(settings, job)
    log = directory.parent / f"{job.recipe.name}.log"
    stage = "build"
    try:
        build.reset_dir(directory)
        log.write_bytes(b"")
        if job.platform.backend is Backend.CIBUILDWHEEL:
            # cibuildwheel builds, repairs and tests in its own image or runner.
            wheel = cibuildwheel.build_wheel(
                job.recipe, job.platform, sdist=task.sdist, pins=task.pins,
                source_date_epoch=task.source_date_epoch, work_dir=directory / "cibw", log=log,
            )  # fmt: skip
            stage = "normalize"
            return _normalize_and_store(task, wheel, directory, start)
        source = extract_sdist(task.sdist, directory / "sdist")
        tool_env = _tool_env(settings)
        build.apply_patches(job.recipe, source, log=log, env=tool_env)
        venv = directory / "env"
        depends = _copy_wheels(
            Store(root=settings.store), task.depends_wheels, directory / "depends"
        )
        build.make_venv(
            uv=settings.uv,
            python=task.interpreter.path,
            venv=venv,
            pins=list(task.pins),
            extra_wheels=[path for path, _sha in depends],
            log=log,
            tool_env=tool_env,
        )
        home = directory / "home"
        home.mkdir()
        env = build.backend_env(
            job.recipe,
            venv=venv,
            source=source,
            home=home,
            source_date_epoch=task.source_date_epoch,
        )
        wheel = build.run_backend(
            job.recipe,
            venv=venv,
            source=source,
            outdir=directory / "dist",
            env=env,
            log=log,
            isolate_network=task.isolate_network,
        )
        _check_purity(job, wheel, log)
        stage = "repair"
        (directory / "repaired").mkdir()
        wheel = repair.repair_wheel(
            wheel,
            platform=job.platform,
            out_dir=directory / "repaired",
            log=log,
            source_date_epoch=task.source_date_epoch,
        )
        stage = "normalize"
        return _normalize_and_store(task, wheel, directory, start)
    except IpwhlError as e:
        return Failed(stage=stage, message=e.message, fix=e.fix, seconds=time.monotonic() - start)
    except Exception as e:  # a bug or an OS error in one job must not stop the others
        return Failed(
            stage=stage,
            message=f"{type(e).__name__}: {e}",
            fix="this looks like a bug in the farm; report it with the log",
            seconds=time.monotonic() - start,
        )
    finally:
        if log.exists():
            Store(root=settings.store).publish_log(
                log, project=job.recipe.name, platform=job.platform.id
            )


def _normalize_and_store(task: BuildTask, wheel: Path, directory: Path, start: float) -> Built:
    (directory / "final").mkdir()
    final = normalize.normalize_wheel(
        wheel, directory / "final", source_date_epoch=task.source_date_epoch
    )
    # Staged, not stored: the wheel enters the store only once it has passed its test.
    sha = Store(root=task.settings.store).stage(final)
    return Built(
        wheel=final.name,
        wheel_sha256=sha,
        wheel_size=final.stat().st_size,
        seconds=time.monotonic() - start,
    )


def _check_purity(job: Job, wheel: Path, log: Path) -> None:
    pure = repair.is_pure(wheel)
    # A platform tag is not proof of an extension: setuptools tags a wheel by the
    # extensions it declares, even when building them failed and was skipped.
    if not job.recipe.pure and (pure or not repair.has_compiled_code(wheel)):
        # Backends with an optional extension fall back to pure Python when they cannot
        # compile it; publishing that wheel would silently ship a slower package.
        why = dropped_extension_reason(log.read_text(errors="replace"))
        raise BuildError(
            f"{job.recipe.name} built {wheel.name} without its compiled extension "
            f"(the recipe says pure = false): {why}",
            fix="give the build what it lacked (a Debian package in build.system-packages "
            f"for a missing header, a compiler); the log is {log}",
        )
    if not pure and job.recipe.pure:
        raise BuildError(
            f"{job.recipe.name} built {wheel.name}, a platform wheel, but its recipe says "
            "pure = true",
            fix=f"set `pure = false` under [build] in {job.recipe.path}",
        )
    abi3 = all(tag.abi == "abi3" for tag in parse_wheel_filename(wheel.name)[3])
    if abi3 != job.recipe.abi3:
        should = "true" if abi3 else "false"
        raise IpwhlError(
            f"{job.recipe.name} built {wheel.name}, but its recipe says abi3 = "
            f"{str(job.recipe.abi3).lower()}",
            fix=f"set `abi3 = {should}` under [build] in {job.recipe.path}: an abi3 wheel "
            "is built once per OS and arch and reused by every later interpreter",
        )


def run_test(task: TestTask) -> Tested | Failed:
    """Install the wheel with its dependencies from the set only, then run the checks."""
    with _exclusive(job_dir(task.settings, task.job)):
        return _run_test(task)


def _run_test(task: TestTask) -> Tested | Failed:
    start = time.monotonic()
    job, settings = task.job, task.settings
    directory = job_dir(settings, job) / "test"
    log = directory.parent.parent / f"{job.recipe.name}.log"
    store = Store(root=settings.store)
    ran: list[str] = []
    if job.platform.backend is Backend.CIBUILDWHEEL:
        # This host cannot run the wheel; cibuildwheel ran the recipe's tests where it can.
        claimed = [f"import {m}" for m in job.recipe.test_imports]
        claimed += [" ".join(argv) for argv in job.recipe.test_commands]
        return Tested(tests=tuple(claimed), seconds=time.monotonic() - start)
    try:
        build.reset_dir(directory)
        if job.reuses:  # no build step ran for this job: start its log here
            log.write_bytes(b"")
        # Exactly these bytes, by path and sha256: never a wheel found by name and
        # version, which could be one an earlier build left in some cache.
        wheels = _copy_wheels(
            store, ((task.wheel, task.wheel_sha256), *task.closure), directory / "wheels"
        )
        requirements = directory / "requirements.txt"
        requirements.write_text(
            "".join(
                f"{parse_wheel_filename(path.name)[0]} @ {path.as_uri()} --hash=sha256:{sha}\n"
                for path, sha in wheels
            )
        )
        venv = directory / "env"
        tool_env = _tool_env(settings)
        build.make_venv(
            uv=settings.uv,
            python=task.interpreter.path,
            venv=venv,
            pins=[],
            extra_wheels=[],
            log=log,
            tool_env=tool_env,
        )
        # No index and no cache: every dependency must be one of the closure's wheels.
        build.uv_install(
            settings.uv,
            venv,
            ["--no-index", "--no-cache", "--require-hashes", "-r", str(requirements)],
            log=log,
            env=tool_env,
            what=f"installing {task.wheel} with its dependencies from the set",
        )
        cwd = directory / "cwd"  # empty: imports must come from the installed wheel
        cwd.mkdir()
        env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(cwd),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        checks = [
            [str(venv / "bin" / "python"), "-c", f"import {module}"]
            for module in job.recipe.test_imports
        ]
        checks += [list(argv) for argv in job.recipe.test_commands]
        for argv in checks:
            if task.isolate_network:
                argv = ["unshare", "-n", "--", *argv]
            build.run_logged(
                argv, log=log, env=env, cwd=cwd, timeout=300, what=f"test `{' '.join(argv[-2:])}`"
            )
            ran.append(" ".join(argv[-1:] if argv[-2] == "-c" else argv))
        return Tested(tests=tuple(ran), seconds=time.monotonic() - start)
    except IpwhlError as e:
        error = WheelTestError(e.message, fix=e.fix or "fix the recipe's [test] section")
        return Failed(
            stage="test", message=error.message, fix=error.fix, seconds=time.monotonic() - start
        )
    except Exception as e:
        return Failed(
            stage="test",
            message=f"{type(e).__name__}: {e}",
            fix="this looks like a bug in the farm; report it with the log",
            seconds=time.monotonic() - start,
        )
    finally:
        if log.exists():
            store.publish_log(log, project=job.recipe.name, platform=job.platform.id)


def _copy_wheels(
    store: Store, wheels: Iterable[tuple[str, str]], directory: Path
) -> list[tuple[Path, str]]:
    """Copies of store wheels under their file names, each checked against its sha256.

    Copies, not links: nothing a build or test does to them can reach the store.
    """
    directory.mkdir(parents=True, exist_ok=True)
    copied = []
    for filename, sha in wheels:
        target = directory / filename
        shutil.copyfile(store.wheel(sha), target)
        with target.open("rb") as f:
            if hashlib.file_digest(f, "sha256").hexdigest() != sha:
                raise StoreError(
                    f"{filename} in the store no longer has sha256 {sha}",
                    fix=f"run `ipwhl store check`, or delete {store.blob(sha)} and rebuild",
                )
        copied.append((target, sha))
    return copied


def wheel_metadata(wheel: Path) -> dict[str, Any]:
    """Name, version, Requires-Dist and Requires-Python from a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return {
        "name": headers["Name"],
        "version": headers["Version"],
        "requires_dist": headers.get_all("Requires-Dist") or [],
        "requires_python": headers.get("Requires-Python"),
    }
