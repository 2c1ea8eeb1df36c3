"""The farm's inputs loaded together: recipes, platforms and where things live."""

from __future__ import annotations

import fnmatch
import graphlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import InputError
from builder.model.library import Library, load_libraries
from builder.model.platform import OS, BackendName, Platform, ToolchainName, load_platforms
from builder.model.recipe import Recipe, load_recipes
from builder.model.root import ROOTS_DIR, debian_arch, load_root
from builder.model.tomlfields import Collector


@dataclass(frozen=True, kw_only=True)
class Farm:
    root: Path
    recipes: dict[str, Recipe]
    platforms: dict[str, Platform]
    libraries: dict[str, Library] = field(default_factory=dict)

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def lock_path(self, recipe: str, interpreter: str) -> Path:
        """The build lock of one recipe for one interpreter: each recipe resolves its
        own build environment, so two recipes may need conflicting versions."""
        return self.locks / recipe / f"{interpreter}.txt"

    def lock_interpreters(self, recipe: Recipe) -> dict[str, Platform]:
        """interpreter tag -> the Linux platform its lock is compiled for, for every
        interpreter `recipe` is built with (a pure recipe: the pure platform's alone).
        A rooted platform speaks first: uv asks its interpreter for markers, since uv
        cannot pretend to be PyPy; macOS and Windows builds use the same lock."""
        chosen = [self.pure_platform] if recipe.pure else [
            p for p in self.platforms.values() if recipe.selects(p.id)
        ]  # fmt: skip
        interpreters = {p.interpreter for p in chosen}
        found: dict[str, Platform] = {}
        for platform in sorted(self.platforms.values(), key=lambda p: (not p.root, p.id)):
            if platform.os is OS.LINUX and platform.interpreter in interpreters:
                found.setdefault(platform.interpreter, platform)
        return dict(sorted(found.items()))

    def host_packages(self, platforms: Iterable[Platform] | None = None) -> list[str]:
        """The Debian packages the host toolchain's builds need: those of every recipe
        built on a native platform with `toolchain = "host"` (the pinned zig links the
        farm's own libraries instead)."""
        chosen = self.platforms.values() if platforms is None else platforms
        native = [p for p in chosen if p.backend is BackendName.NATIVE]
        hosts = [p for p in native if p.toolchain is ToolchainName.HOST]
        return sorted({package for recipe in self.recipes.values()
                       if any(recipe.selects(p.id) for p in hosts)
                       for package in recipe.system_packages})  # fmt: skip

    @property
    def pure_platform(self) -> Platform:
        return next(p for p in self.platforms.values() if p.builds_pure)


def load_farm(root: Path) -> Farm:
    """Load and validate every recipe and platform; raise once with every problem."""
    collector = Collector()
    recipes = load_recipes(root / "recipes", collector)
    platforms = load_platforms(root / "platforms", collector)
    libraries = load_libraries(root / "libraries", collector)
    pure = [p for p in platforms.values() if p.builds_pure]
    for recipe in recipes.values():
        for i, pattern in enumerate(recipe.platforms):
            glob = pattern.removeprefix("!")
            if platforms and not any(fnmatch.fnmatchcase(pid, glob) for pid in platforms):
                collector.add(
                    code="R013",
                    file=recipe.path,
                    field=f"build.platforms[{i}]",
                    message=f"{pattern!r} {'excludes' if glob != pattern else 'selects'} "
                    "no platform",
                    fix="use a glob over ids in platforms/, e.g. 'linux-*' (or '!*-pp*' to "
                    "leave some out)",
                )
        for i, name in enumerate(recipe.libraries):
            if name not in libraries:
                collector.add(
                    code="R019",
                    file=recipe.path,
                    field=f"build.libraries[{i}]",
                    message=f"no library {name!r}",
                    fix=f"write libraries/{name}.toml, or remove it",
                )
        for i, tool in enumerate(recipe.tools):
            own = recipes.get(tool)
            if own is not None and own.program and tool != recipe.name:
                # PyPI's binary may need what a platform's root lacks (its ninja needs
                # libstdc++); the set's program is built for the platforms it serves.
                collector.add(
                    code="R027",
                    file=recipe.path,
                    field=f"build.tools[{i}]",
                    message=f"{tool!r} is a program the set builds (recipes/{tool}.toml)",
                    fix=f"take the set's own: move {tool!r} from build.tools to "
                    f"build.requires, then run `ipwhl build-lock {recipe.name}`",
                )
        if recipe.pure and len(pure) == 1 and not recipe.selects(pure[0].id):
            collector.add(
                code="R017",
                file=recipe.path,
                field="build.platforms",
                message=f"a pure recipe must select {pure[0].id}, where pure wheels are built",
                fix=f"add {pure[0].id!r} to build.platforms or remove the key",
            )
    for platform in platforms.values():
        if platform.root and (root / ROOTS_DIR / f"{platform.root}.toml").is_file():
            arch = load_root(root, platform.root).arch
            if arch != debian_arch(platform.arch):
                collector.add(
                    code="P011",
                    file=platform.path,
                    field="root",
                    message=f"roots/{platform.root}.toml holds {arch} packages, not "
                    f"{debian_arch(platform.arch)}",
                    fix="name a root of this platform's arch (ipwhl root-lock NAME PACKAGE... "
                    f"--arch {debian_arch(platform.arch)})",
                )
        if platform.root and not (root / ROOTS_DIR / f"{platform.root}.toml").is_file():
            collector.add(
                code="P009",
                file=platform.path,
                field="root",
                message=f"no roots/{platform.root}.toml",
                fix="write it with `ipwhl root-lock NAME PACKAGE...`, or remove the key",
            )
    _check_depends(recipes, collector)
    if collector.problems:
        raise InputError(collector.problems)
    return Farm(root=root, recipes=recipes, platforms=platforms, libraries=libraries)


def _check_depends(recipes: dict[str, Recipe], collector: Collector) -> None:
    """No cycle in `build.depends`: such builds could never start (the recipe loader
    already refuses a name with no recipe, R016)."""
    graph = {name: {d for d in r.depends if d in recipes} for name, r in recipes.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        cycle = list(e.args[1])  # the first node is repeated at the end
        collector.add(
            code="R020",
            file=recipes[cycle[0]].path,
            field="build.depends",
            message=f"build dependencies form a cycle: {' -> '.join(reversed(cycle))}",
            fix="a project cannot need itself to be built; remove one of these depends",
        )
