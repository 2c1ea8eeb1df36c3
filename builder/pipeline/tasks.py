"""What the parent hands a worker and what comes back: plain, picklable values.

Kept apart from the worker's code (`job`) and the backends, which all read them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.model.library import Library
from builder.model.lock import Pin
from builder.pipeline.plan import Job
from builder.pipeline.sandbox import NONE


@dataclass(frozen=True, kw_only=True)
class Settings:
    store: Path
    cache: Path
    build_root: Path
    uv: str
    jobs: int
    run: int = field(default_factory=os.getpid)  # the run's process: its staging directory
    sandbox: str = NONE  # what `sandbox.describe` said: the bubblewrap version, or none
    keep: bool = False  # keep a job's directory after its wheel passed (`--keep-build-dirs`)
    backends_from: str = "set"  # bootstrap.BackendsFrom: the set's own backends, or PyPI's
    # Longest chains first by measured times (estimates.py); False: by name, the peer
    # of `nox -s bench_full`.
    longest_first: bool = True


@dataclass(frozen=True, kw_only=True)
class BuildTask:
    job: Job
    sdist: Path
    pins: tuple[Pin, ...]
    depends_wheels: tuple[tuple[str, str], ...]  # (wheel filename, sha256) of the set
    source_date_epoch: int
    isolate_network: bool
    settings: Settings
    libraries: tuple[Library, ...] = ()  # native libraries it links, for the toolchain


@dataclass(frozen=True, kw_only=True)
class Built:
    wheel: str
    wheel_sha256: str
    wheel_size: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class TestTask:
    __test__ = False  # not a pytest class

    job: Job
    wheel: str
    wheel_sha256: str
    # (wheel filename, sha256) of every other wheel of its runtime closure on this platform
    closure: tuple[tuple[str, str], ...]
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
