"""One job's work in a worker process: its backend builds or tests, then normalize, stage.

The parent computes a job's inputs and checks the store; only jobs with no record for
exactly these inputs reach a worker. Workers return outcomes, never raise, so that one
failing job never stops the others.
"""

from __future__ import annotations

import fcntl
import os
import select
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from builder.errors import IpwhlError, RepairError, WheelTestError
from builder.pipeline import build, buildroot, normalize
from builder.pipeline.backends import backend_for
from builder.pipeline.store import Store
from builder.pipeline.tasks import BuildTask, Built, Failed, Tested, TestTask, job_dir


def end_with(run: int) -> None:
    """A worker's first step: end when the run's process does, however it ends.

    A run killed with SIGKILL tells no one; its workers would wait on their queue for
    ever. The worker's exit takes its job along: bubblewrap dies with its parent, and
    the job's PID namespace with it.
    """
    try:
        watched = os.pidfd_open(run)
    except ProcessLookupError:
        os._exit(1)
    except OSError:  # a kernel before 5.3 has no pidfd: the worker ends as it always did
        return

    def watch() -> None:
        select.select([watched], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-the-run", daemon=True).start()


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


def _failed(stage: str, error: Exception, start: float, log: Path | None = None) -> Failed:
    seconds = time.monotonic() - start
    if isinstance(error, IpwhlError):
        return Failed(stage=stage, message=error.message, fix=error.fix, seconds=seconds)
    # A bug or an OS error in one job must not stop the others; its traceback goes to
    # the log the message asks to be reported with.
    if log is not None and log.parent.is_dir():
        with log.open("a") as handle:
            handle.write("".join(traceback.format_exception(error)))
    return Failed(
        stage=stage,
        message=f"{type(error).__name__}: {error}",
        fix="this looks like a bug in the farm; report it with the log",
        seconds=seconds,
    )


def run_build(task: BuildTask) -> Built | Failed:
    with _exclusive(job_dir(task.settings, task.job)):
        return _run_build(task)


def _run_build(task: BuildTask) -> Built | Failed:
    start = time.monotonic()
    job, settings = task.job, task.settings
    directory = job_dir(settings, job)
    log = directory.parent / f"{job.recipe.name}.log"
    store = Store(root=settings.store, run=settings.run)
    stage = "build"
    try:
        build.reset_dir(directory)
        log.write_bytes(b"")
        wheel = backend_for(job.platform).build(task, directory, log)
        stage = "normalize"
        (directory / "final").mkdir()
        final = normalize.normalize_wheel(
            wheel, directory / "final", source_date_epoch=task.source_date_epoch
        )
        # Staged, not stored: the wheel enters the store only once it has passed its test.
        sha = store.stage(final)
        return Built(
            wheel=final.name,
            wheel_sha256=sha,
            wheel_size=final.stat().st_size,
            seconds=time.monotonic() - start,
        )
    except Exception as e:
        return _failed("repair" if isinstance(e, RepairError) else stage, e, start, log)
    finally:
        if log.exists():
            store.publish_log(log, project=job.recipe.name, platform=job.platform.id)


def run_test(task: TestTask) -> Tested | Failed:
    """Install the wheel with its dependencies from the set only, then run the checks."""
    with _exclusive(job_dir(task.settings, task.job)):
        return _run_test(task)


def _run_test(task: TestTask) -> Tested | Failed:
    start = time.monotonic()
    job, settings = task.job, task.settings
    directory = job_dir(settings, job) / "test"
    log = directory.parent.parent / f"{job.recipe.name}.log"
    store = Store(root=settings.store, run=settings.run)
    try:
        build.reset_dir(directory)
        if job.reuses:  # no build step ran for this job: start its log here
            log.write_bytes(b"")
        ran = backend_for(job.platform).test(task, directory, log)
        if not settings.keep:
            buildroot.remove_job(directory.parent)
        return Tested(tests=ran, seconds=time.monotonic() - start)
    except IpwhlError as e:
        error = WheelTestError(e.message, fix=e.fix or "fix the recipe's [test] section")
        return _failed("test", error, start)
    except Exception as e:
        return _failed("test", e, start, log)
    finally:
        if log.exists():
            store.publish_log(log, project=job.recipe.name, platform=job.platform.id)
