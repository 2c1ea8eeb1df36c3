"""Refreshing the build locks: each recipe's build requirements, compiled with hashes for
every Linux interpreter it is built with, on its own (locks/<recipe>/)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from builder.atomic import write_atomic
from builder.errors import InputError, LockError, Problem
from builder.model.farm import Farm
from builder.model.lock import FRONTEND, compile_lock, read_lock, sdist_build_requires
from builder.model.platform import Platform
from builder.model.recipe import Recipe
from builder.paths import uv_binary
from builder.pipeline import rooted
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.sandbox import bubblewrap
from builder.report import Reporter

# uv spends its time on the index and the cache: a few compiles at once keep it busy.
_PARALLEL = 4


@dataclass(frozen=True, kw_only=True)
class Refreshed:
    recipes: int
    files: int
    removed: tuple[Path, ...]


def refresh_locks(
    farm: Farm, cache: Path, reporter: Reporter, names: Sequence[str] = ()
) -> Refreshed:
    """Write locks/<recipe>/requirements.in and one locks/<recipe>/<interpreter>.txt per
    interpreter, for `names` (default: every recipe), and remove the locks of recipes
    and interpreters the set no longer has. A compile that fails keeps that file's old
    lock; the failures are raised together at the end."""
    unknown = sorted(set(names) - set(farm.recipes))
    if unknown:
        raise InputError([
            Problem(code="A001", file=farm.root / "recipes", field=name,
                    message="no such recipe", fix=f"write recipes/{name}.toml")
            for name in unknown
        ])  # fmt: skip
    chosen = [farm.recipes[n] for n in sorted(names or farm.recipes)]
    with reporter.stage(f"read the build requirements of {len(chosen)} sdists"):
        sources = {r.name: _requirements_in(r, fetch_sdist(r, cache)) for r in chosen}
    removed = _remove_stale(farm)
    uv = uv_binary()
    work = [(r, i, p) for r in chosen for i, p in farm.lock_interpreters(r).items()]
    for platform in {p.id: p for _, _, p in work if p.root and bubblewrap()}.values():
        rooted.home(platform, cache)  # unpacked once, before the compiles share it
    failures: list[str] = []
    with (
        reporter.stage(f"compile {len(work)} locks for {len(chosen)} recipes"),
        tempfile.TemporaryDirectory(dir=farm.root) as tmp,
        ThreadPoolExecutor(_PARALLEL) as pool,
    ):
        futures = [
            pool.submit(
                _compile,
                farm,
                recipe,
                interpreter,
                platform,
                sources[recipe.name],
                Path(tmp) / f"{recipe.name}-{interpreter}",
                cache,
                uv,
            )
            for recipe, interpreter, platform in work
        ]
        for future in futures:
            error = future.exception()
            if isinstance(error, LockError):
                failures.append(error.message)
            elif error is not None:
                raise error
    if failures:
        raise LockError(
            "\n".join(failures),
            fix="replace a conflicting requirement with the recipe's build.overrides, or "
            "pin a version that fits in build.requires; the other locks were written",
        )
    return Refreshed(recipes=len(chosen), files=len(work), removed=removed)


def _requirements_in(recipe: Recipe, sdist: Path) -> str:
    """What the recipe's build asks for, each line saying who asks."""
    lines = [
        f"# The build requirements of {recipe.name} {recipe.version}; written by",
        "# `ipwhl build-lock` from its sdist and recipe. Do not edit: change the recipe.",
    ]
    asked = [(t, "sdist") for t in sdist_build_requires(sdist)]
    asked += [(t, "recipe build.requires") for t in recipe.requires]
    asked.append((FRONTEND, "the build frontend"))
    for text, who in asked:
        lines.append(f"{Requirement(text)}  # {who}")
    return "\n".join(lines) + "\n"


def _compile(
    farm: Farm,
    recipe: Recipe,
    interpreter: str,
    platform: Platform,
    requirements_in: str,
    directory: Path,
    cache: Path,
    uv: str,
) -> None:
    target = farm.lock_path(recipe.name, interpreter)
    directory.mkdir()
    source = directory / "requirements.in"
    source.write_text(requirements_in)
    overrides = None
    if recipe.overrides:
        overrides = directory / "overrides.txt"
        overrides.write_text("".join(f"{Requirement(t)}\n" for t in recipe.overrides))
    out = directory / target.name
    out.write_text(_preferences(farm, target))
    python = _interpreter(platform, directory, cache, uv)
    try:
        compile_lock(source, out, python_version=platform.python_version, uv=uv,
                     python=python, overrides=overrides)  # fmt: skip
    except LockError as e:
        raise LockError(f"{recipe.path} ({interpreter}): {e.message}", fix=e.fix) from e
    target.parent.mkdir(parents=True, exist_ok=True)
    for made in (source, overrides):
        if made is not None:
            write_atomic(target.parent / made.name, made.read_bytes())
    if overrides is None:
        (target.parent / "overrides.txt").unlink(missing_ok=True)
    out.replace(target)


def _preferences(farm: Farm, target: Path) -> str:
    """What uv keeps where it still fits (it reads them from the output file): the
    set's own version of every project it holds, since a build installs the set's
    wheel where the lock pins that version; the old lock's pins for the rest."""
    pins = {}
    with contextlib.suppress(LockError):  # none yet, or unreadable: compiled afresh
        pins = {name: str(pin.version) for name, pin in read_lock(target).pins.items()}
    pins |= {name: str(recipe.version) for name, recipe in farm.recipes.items()}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def _remove_stale(farm: Farm) -> tuple[Path, ...]:
    """Lock files of recipes the set dropped, of interpreters a recipe is no longer
    built with, and the shared per-interpreter locks of old."""
    if not farm.locks.is_dir():
        return ()
    stale: list[Path] = []
    for path in sorted(farm.locks.iterdir()):
        recipe = farm.recipes.get(path.name)
        if path.is_file():
            stale.append(path)  # locks/<cpXY>.txt, locks/build-requirements.in
        elif recipe is None:
            stale.append(path)
        else:
            wanted = set(farm.lock_interpreters(recipe))
            stale += [f for f in sorted(path.glob("*.txt"))
                      if f.name != "overrides.txt" and f.stem not in wanted]  # fmt: skip
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return tuple(stale)


def _interpreter(platform: Platform, directory: Path, cache: Path, uv: str) -> Path | None:
    """What uv should ask for markers and tags: a rooted interpreter, started in the
    sandbox; None for uv's own idea of a CPython of that version."""
    if platform.root and bubblewrap() is not None:
        job = directory / "job"
        job.mkdir()
        return rooted.runner(rooted.python(platform), script=job / "python", uv=uv, env={},
                             sandbox=rooted.sandbox(platform, job, cache))  # fmt: skip
    if platform.implementation != "cpython":
        raise LockError(
            f"{platform.path}: cannot lock for {platform.interpreter} without running it",
            fix="install bubblewrap: the interpreter runs on its root, in the sandbox",
        )
    return None
