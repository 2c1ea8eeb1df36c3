"""A job's inputs: everything that can change its wheel's bytes, named by meaning.

Two runs with equal inputs must give equal wheels; the store skips a job whose input
hash it has a record for. Inputs are values (versions, hashes, flags, the commands a
backend runs), never the bytes of the farm's own source files: a refactor keeps every
cached build, and a changed flag rebuilds exactly the jobs it touches.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from builder.model.library import Library
from builder.model.lock import FRONTEND, Lock, Pin, apply_overrides, parse_requirements
from builder.pipeline import bootstrap, normalize
from builder.pipeline.backends import Backend
from builder.pipeline.normalize import ZIP_EPOCH
from builder.pipeline.plan import Job
from builder.pipeline.sdistfacts import SdistFacts
from builder.pipeline.store import input_hash

# The version of what this module hashes. Raise it when the farm starts to build
# differently in a way no other input says (a new normalization rule, a new flag that
# every backend passes): every job is then rebuilt, once.
BUILD_FORMAT: Final = 2


@dataclass(frozen=True, kw_only=True)
class Inputs:
    values: dict[str, Any]
    hash: str
    pins: tuple[Pin, ...] = ()  # installed from PyPI's wheels, by hash
    uses: tuple[str, ...] = ()  # the set's recipes whose wheels are installed
    source_date_epoch: int = ZIP_EPOCH


def source_date_epoch(job: Job, facts: SdistFacts) -> int:
    """The recipe's, else the newest file time in the sdist: a property of the source."""
    if job.recipe.source_date_epoch is not None:
        return job.recipe.source_date_epoch
    return max(facts.newest_mtime, ZIP_EPOCH)


def locked_pins(job: Job, facts: SdistFacts, lock: Lock) -> tuple[Pin, ...]:
    """The lock's pins a job builds with: what its sdist and recipe ask for (markers
    evaluated for its platform) and the frontend, with everything they need."""
    who = f"{job.recipe.path}"
    requires = [*facts.build_requires, *job.recipe.requires, FRONTEND]
    overrides = parse_requirements(list(job.recipe.overrides), who=who)
    env = job.platform.marker_environment()
    wanted = [
        r
        for r in apply_overrides(parse_requirements(requires, who=who), overrides)
        if r.marker is None or r.marker.evaluate(env)
    ]
    return tuple(lock.closure(wanted, who=who))


def build_inputs(
    job: Job,
    *,
    backend: Backend,
    sdist: SdistFacts,
    sdist_sha256: str,
    lock: Lock,
    depends: dict[str, str],
    build_root: Path,
    isolate_network: bool,
    libraries: Mapping[str, Library],
    sandbox: str,
) -> Inputs:
    recipe, platform = job.recipe, job.platform
    closure = locked_pins(job, sdist, lock)
    # The set's own wheels replace the pins they stand for; the planner may offer one
    # this build's closure does not hold (a pin of another platform's markers).
    held = {pin.name for pin in closure} | set(recipe.depends)
    depends = {name: sha for name, sha in depends.items() if name in held}
    pins = bootstrap.split(closure, depends)
    epoch = source_date_epoch(job, sdist)
    interpreter = backend.interpreter(platform)
    values: dict[str, Any] = {
        "format": BUILD_FORMAT,
        "kind": "build",
        "recipe": recipe.file_sha256,
        "patches": {p.path.name: p.sha256 for p in recipe.patches},
        "sdist": sdist_sha256,
        "platform": platform.file_sha256,
        "backend": str(backend.name),
        # A pure wheel needs an interpreter of this version, not this build of it.
        "interpreter": "" if recipe.pure else interpreter["build"],
        "interpreter-version": interpreter["version"],
        "build-requirements": [pin.line() for pin in pins],
        # Only when set: a recipe without overrides keeps the inputs it always had.
        **({"build-overrides": list(recipe.overrides)} if recipe.overrides else {}),
        "build-depends": dict(sorted(depends.items())),
        "build-root": str(build_root),
        "source-date-epoch": epoch,
        "network-isolated": isolate_network,
        "sandbox": sandbox,
        "shaping": backend.shaping(recipe, platform),
        "normalize": normalize.describe(),
        "tools": {"uv": importlib.metadata.version("uv")},
        "toolchain": backend.toolchain(recipe, platform, libraries),
    }
    return Inputs(
        values=values,
        hash=input_hash(values),
        pins=pins,
        uses=tuple(sorted(depends)),
        source_date_epoch=epoch,
    )


def reuse_inputs(job: Job, *, pure_wheel_sha256: str, interpreter: dict[str, str]) -> Inputs:
    """A pure wheel tested on another platform: the wheel is the input, not its sources,
    and the interpreter it is tested on (on a root, the root by sha256)."""
    values: dict[str, Any] = {
        "format": BUILD_FORMAT,
        "kind": "reuse",
        "recipe": job.recipe.file_sha256,
        "platform": job.platform.file_sha256,
        "wheel": pure_wheel_sha256,
        "interpreter": interpreter["build"],
        "interpreter-version": interpreter["version"],
    }
    return Inputs(values=values, hash=input_hash(values))
