"""The backends, behind one Protocol and one table (as cibuildwheel keeps its platforms).

A platform file names its backend; everything that depends on how a platform is
built (whether it can be built here, its interpreter, its toolchain, what shapes its
wheels, the build and the test) is asked of the backend, never decided by an `if`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from builder.model.library import Library
from builder.model.platform import BackendName, Platform
from builder.model.recipe import Recipe
from builder.pipeline.backends.cibuildwheel import CibuildwheelBackend
from builder.pipeline.backends.native import NativeBackend
from builder.pipeline.tasks import BuildTask, TestTask


class Backend(Protocol):
    @property
    def name(self) -> BackendName: ...

    @property
    def host_packages(self) -> bool:
        """Whether builds need the recipes' system packages on the machine running the
        farm (rather than in the backend's own image)."""

    @property
    def installs_set_wheels(self) -> bool:
        """Whether a build environment can hold the set's own wheels (its own build
        backends, `build.depends`) rather than only what an index serves."""

    def why_not_buildable(self, platform: Platform) -> str | None:
        """None if this machine can build `platform`, else why not, in plain words."""

    def interpreter(self, platform: Platform) -> dict[str, str]:
        """The interpreter that builds `platform`'s wheels: its version and build."""

    def toolchain(
        self, recipe: Recipe, platform: Platform, libraries: Mapping[str, Library]
    ) -> dict[str, str]:
        """What compiles and links `recipe` for `platform`, the native libraries it links
        included (`libraries`: the farm's); empty for a pure recipe."""

    def shaping(self, recipe: Recipe, platform: Platform) -> dict[str, Any]:
        """Everything else of the backend that shapes a wheel's bytes, by meaning."""

    def build(self, task: BuildTask, directory: Path, log: Path) -> Path:
        """Build and repair in `directory`; return the repaired wheel."""

    def test(self, task: TestTask, directory: Path, log: Path) -> tuple[str, ...]:
        """Test the wheel; return what ran. Raises on a failed test."""


BACKENDS: dict[BackendName, Backend] = {
    BackendName.NATIVE: NativeBackend(),
    BackendName.CIBUILDWHEEL: CibuildwheelBackend(),
}


def backend_for(platform: Platform) -> Backend:
    return BACKENDS[platform.backend]


def why_not_buildable(platform: Platform) -> str | None:
    return backend_for(platform).why_not_buildable(platform)
