"""The set against PyPI's most downloaded projects (builder/data/top-pypi.toml)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from builder.errors import DataError
from builder.model.data import data_path, load_data, string_table, strings

_FILE = "top-pypi.toml"


@dataclass(frozen=True, kw_only=True)
class Coverage:
    source: str
    total: int
    held: tuple[str, ...]
    missing: tuple[str, ...]  # not yet in the set, in download order
    excepted: dict[str, str]  # left out on purpose: project -> why

    def lines(self) -> list[str]:
        found = [f"PyPI's top {self.total} ({self.source}): {len(self.held)} in the set"]
        if self.missing:
            found.append(f"  not yet: {', '.join(self.missing)}")
        found += [f"  left out: {name}: {why}" for name, why in sorted(self.excepted.items())]
        return found


def coverage(recipes: Iterable[str]) -> Coverage:
    """Which of the listed projects the set holds a recipe for."""
    projects = strings(_FILE, "projects")
    excepted = string_table(_FILE, "exceptions")
    source = load_data(_FILE).get("source")
    names = [canonicalize_name(p) for p in projects]
    if len(set(names)) != len(names) or names != list(projects):
        raise DataError(
            f"{data_path(_FILE)}: projects: names must be normalized and listed once",
            fix="write each name as packaging.utils.canonicalize_name gives it, once",
        )
    if stray := sorted(set(excepted) - set(names)):
        raise DataError(
            f"{data_path(_FILE)}: exceptions: {', '.join(stray)} is not in the list",
            fix="remove it from [exceptions], or correct its name",
        )
    held = set(recipes)
    return Coverage(
        source=str(source),
        total=len(names),
        held=tuple(n for n in names if n in held),
        missing=tuple(n for n in names if n not in held and n not in excepted),
        excepted={n: why for n, why in excepted.items() if n not in held},
    )
