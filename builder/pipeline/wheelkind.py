"""Whether a build gave the kind of wheel its recipe promises: pure, compiled for one
interpreter, abi3, or a program for every interpreter. The plan builds and reuses a
wheel by that promise, so a wheel of another kind would be published where it does not
install, or silently without its extension.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import parse_wheel_filename

from builder.curation.facts import supported_tags
from builder.errors import BuildError
from builder.pipeline import elfcheck, repair
from builder.pipeline.build import dropped_extension_reason
from builder.pipeline.plan import Job


def refuse_a_mislabelled_wheel(job: Job, wheel: Path, log: Path) -> None:
    pure = repair.is_pure(wheel)
    # A platform tag is not proof of an extension: setuptools tags a wheel by the
    # extensions it declares, even when building them failed and was skipped.
    compiled = job.recipe.expects_extension(job.platform.implementation)
    if not job.recipe.pure and not compiled:
        if not pure:
            raise BuildError(
                f"{job.recipe.name} built {wheel.name}, a platform wheel, on PyPy, but its "
                "recipe says pure-on-pypy = true",
                fix=f"remove pure-on-pypy from [build] in {job.recipe.path}",
            )
        return
    if compiled and (pure or not repair.has_compiled_code(wheel)):
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
    tags = parse_wheel_filename(wheel.name)[3]
    if not pure and not tags & supported_tags(job.platform):
        raise BuildError(
            f"{job.recipe.name} built {wheel.name}, which {job.platform.id}'s interpreter "
            f"would not install (its abi is {job.platform.abi})",
            fix=f"correct interpreter (or abi, for PyPy) in {job.platform.path}",
        )
    abi3 = all(tag.abi == "abi3" for tag in tags)
    # PyPy has no stable ABI: an abi3 recipe builds a wheel for the interpreter there.
    if abi3 != (job.recipe.abi3 and job.platform.implementation == "cpython"):
        should = "true" if abi3 else "false"
        raise BuildError(
            f"{job.recipe.name} built {wheel.name}, but its recipe says abi3 = "
            f"{str(job.recipe.abi3).lower()}",
            fix=f"set `abi3 = {should}` under [build] in {job.recipe.path}: an abi3 wheel "
            "is built once per OS and arch and reused by every later interpreter",
        )
    if job.recipe.program and (bound := elfcheck.interpreter_bound(wheel)):
        raise BuildError(
            f"{job.recipe.name} built {wheel.name}, which an interpreter loads "
            f"({'; '.join(bound[:3])}), but its recipe says program = true",
            fix=f"remove `program = true` from [build] in {job.recipe.path}: only a wheel "
            "of programs and their libraries serves every interpreter",
        )
    if (
        not pure
        and not job.recipe.program
        and all(tag.abi == "none" and tag.interpreter.startswith("py") for tag in tags)
    ):
        raise BuildError(
            f"{job.recipe.name} built {wheel.name}, a compiled wheel for every interpreter, "
            "but its recipe does not say program = true",
            fix=f"set `program = true` under [build] in {job.recipe.path}: a program's wheel "
            "is built once per OS and arch and reused by every interpreter there",
        )
