"""A job's inputs: everything that can change its wheel's bytes, and their hash.

Two runs with equal inputs must give equal wheels; the store skips a job whose input
hash it has a record for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.fetch import newest_mtime
from builder.interpreters import Interpreter
from builder.lock import FRONTEND, Lock, Pin, parse_requirements, sdist_build_requires
from builder.normalize import ZIP_EPOCH
from builder.plan import Job
from builder.store import input_hash
from builder.toolchain import fingerprint


@dataclass(frozen=True, kw_only=True)
class Inputs:
    values: dict[str, Any]
    hash: str
    pins: tuple[Pin, ...] = ()
    source_date_epoch: int = ZIP_EPOCH


def source_date_epoch(job: Job, sdist: Path) -> int:
    """The recipe's, else the newest file time in the sdist: a property of the source."""
    if job.recipe.source_date_epoch is not None:
        return job.recipe.source_date_epoch
    return max(newest_mtime(sdist), ZIP_EPOCH)


def build_inputs(
    job: Job,
    *,
    sdist: Path,
    sdist_sha256: str,
    lock: Lock,
    interpreter: Interpreter,
    depends: dict[str, str],
    build_root: Path,
    isolate_network: bool,
) -> Inputs:
    who = f"{job.recipe.path}"
    requires = sdist_build_requires(sdist) + list(job.recipe.requires) + [FRONTEND]
    env = job.platform.marker_environment()
    wanted = [
        r
        for r in parse_requirements(requires, who=who)
        if r.marker is None or r.marker.evaluate(env)
    ]
    pins = tuple(lock.closure(wanted, who=who))
    epoch = source_date_epoch(job, sdist)
    values: dict[str, Any] = {
        "kind": "build",
        "recipe": job.recipe.file_sha256,
        "patches": {p.path.name: p.sha256 for p in job.recipe.patches},
        "sdist": sdist_sha256,
        "platform": job.platform.file_sha256,
        "interpreter": interpreter.build,
        "interpreter-version": interpreter.version,
        "build-requirements": [pin.line() for pin in pins],
        "build-depends": dict(sorted(depends.items())),
        "build-root": str(build_root),
        "source-date-epoch": epoch,
        "network-isolated": isolate_network,
        "toolchain": fingerprint(),
    }
    return Inputs(values=values, hash=input_hash(values), pins=pins, source_date_epoch=epoch)


def reuse_inputs(job: Job, *, pure_wheel_sha256: str, interpreter: Interpreter) -> Inputs:
    """A pure wheel tested on another platform: the wheel is the input, not its sources."""
    values: dict[str, Any] = {
        "kind": "reuse",
        "recipe": job.recipe.file_sha256,
        "platform": job.platform.file_sha256,
        "wheel": pure_wheel_sha256,
        "interpreter-version": interpreter.version,
    }
    return Inputs(values=values, hash=input_hash(values))
