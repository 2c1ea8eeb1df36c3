"""The set builds its own build backends: which of a build's requirements are its own.

A build installs its lock's closure. The seed, pypa/build and what it needs, comes from
the lock's hash-pinned PyPI wheels: something must run the backend that builds the
first backend. Every other pin whose project the set holds at the pinned version is
installed from the set's own wheel, built earlier in the same run. setuptools and
flit-core build from their own trees on the seed alone, and the rest follows from
them (wheel and pathspec on flit-core, pluggy and trove-classifiers on setuptools,
hatchling on those). A pin the set does not hold at that version still comes from
PyPI, by hash, and `ipwhl check` counts the builds that needed one.

`--backends-from pypi` builds with PyPI's wheels throughout, as the farm did before:
the fixed point (`nox -s bootstrap`) compares the two, byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from builder.model.farm import Farm
from builder.model.lock import FRONTEND, Lock, Pin, read_lock_once
from builder.model.platform import Platform
from builder.model.recipe import Recipe
from builder.pipeline.backends import backend_for
from builder.pipeline.plan import Job
from builder.pipeline.store import Record


class BackendsFrom(StrEnum):
    SET = "set"  # the set's own wheels wherever it holds the pinned version
    PYPI = "pypi"  # the lock's PyPI wheels throughout (the fixed point's other side)


def seed(lock: Lock) -> frozenset[str]:
    """The frontend and what it needs: always the lock's PyPI wheels."""
    return frozenset(p.name for p in lock.closure([Requirement(FRONTEND)], who=str(lock.path)))


def own_backends(recipe: Recipe, lock: Lock, recipes: Mapping[str, Recipe]) -> tuple[str, ...]:
    """The pins of `lock` the set builds itself, at the pinned version. Never the
    recipe itself: a backend that needs itself builds from its own tree."""
    kept = seed(lock)
    return tuple(
        sorted(
            name
            for name, pin in lock.pins.items()
            if name not in kept
            and name != recipe.name
            and (own := recipes.get(name)) is not None
            and own.version == pin.version
        )
    )


def installs_own(platform: Platform, backends_from: BackendsFrom) -> bool:
    """Whether `platform`'s builds take the set's own wheels: cibuildwheel's
    environments install from an index, so its platforms build with PyPI's."""
    return backends_from is BackendsFrom.SET and backend_for(platform).installs_set_wheels


Locks = dict[Path, Lock | None]  # read_lock_once's cache: each lock read once per caller


def _lock_of(farm: Farm, job: Job, locks: Locks) -> Lock | None:
    # None: the job's preparation fails, naming the lock.
    return read_lock_once(farm.lock_path(job.recipe.name, job.platform.interpreter), locks)


def attach(
    farm: Farm, jobs: Iterable[Job], backends_from: BackendsFrom, locks: Locks | None = None
) -> list[Job]:
    """`jobs`, each with the set's recipes its build environment takes from the set."""
    locks = {} if locks is None else locks
    attached = []
    for job in jobs:
        lock = None
        if not job.reuses and installs_own(job.platform, backends_from):
            lock = _lock_of(farm, job, locks)
        backends = own_backends(job.recipe, lock, farm.recipes) if lock else ()
        attached.append(dataclasses.replace(job, backends=backends))
    return attached


def held(farm: Farm, job: Job, locks: Locks) -> tuple[str, ...]:
    """The set's recipes a job's build environment holds, its own backends and what
    they need at run time (the lock resolved both): a run that builds the backends
    tests them, and their tests install those."""
    lock = _lock_of(farm, job, locks) if job.backends else None
    if lock is None:
        return job.uses
    return tuple(sorted({*job.uses, *(name for name in lock.pins if name in farm.recipes)}))


def split(pins: Iterable[Pin], own: Iterable[str]) -> tuple[Pin, ...]:
    """The pins still installed from PyPI once `own` come from the set."""
    taken = set(own)
    return tuple(pin for pin in pins if pin.name not in taken)


def from_pypi(farm: Farm, record: Record, locks: Locks) -> tuple[str, ...]:
    """The pins a stored build installed from PyPI beyond its seed ("name==version"):
    none for a wheel built with the set's own backends alone."""
    lines = [str(line).split(" ", 1)[0] for line in record.inputs.get("build-requirements", [])]
    recipe = farm.recipes.get(record.project)
    platform = farm.platforms.get(record.built_on)
    lock = None
    if recipe is not None and platform is not None:
        lock = read_lock_once(farm.lock_path(recipe.name, platform.interpreter), locks)
    kept = seed(lock) if lock is not None else frozenset()
    return tuple(line for line in lines if canonicalize_name(line.split("==")[0]) not in kept)


def build_uses(farm: Farm) -> dict[str, set[str]]:
    """recipe -> the set's recipes its builds install on some interpreter: its
    `build.depends` and its own backends. What a change to one of them rebuilds."""
    uses: dict[str, set[str]] = {}
    for recipe in farm.recipes.values():
        found = set(recipe.depends)
        for interpreter in farm.lock_interpreters(recipe):
            lock = read_lock_once(farm.lock_path(recipe.name, interpreter), {})
            if lock is not None:
                found.update(own_backends(recipe, lock, farm.recipes))
        uses[recipe.name] = found
    return uses
