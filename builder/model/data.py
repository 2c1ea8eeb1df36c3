"""The farm's own data files (`builder/data/*.toml`): one reader, each file checked on load.

A derived repository edits these files (its license allowlist, its runners), so a
malformed one is an input error naming the file, the key and the fix, never a KeyError.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from builder.errors import DataError


def data_path(name: str) -> Path:
    return Path(str(resources.files("builder").joinpath("data", name)))


@cache
def load_data(name: str) -> dict[str, Any]:
    path = data_path(name)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{path}: {e}", fix=f"restore {path.name} from the repository") from e


def build_tools() -> tuple[str, ...]:
    """The pinned build tools of toolchains.toml (those with a `binary`): what a recipe's
    `build.tools` may name."""
    return tuple(sorted(name for name, table in load_data("toolchains.toml").items()
                        if isinstance(table, dict) and "binary" in table))  # fmt: skip


def _fail(name: str, key: str, wanted: str) -> DataError:
    return DataError(
        f"{data_path(name)}: {key}: must be {wanted}",
        fix=f"correct {key} in builder/data/{name}",
    )


def strings(name: str, key: str) -> tuple[str, ...]:
    """`key = ["...", ...]` of a data file."""
    found = load_data(name).get(key)
    if not isinstance(found, list) or not all(isinstance(v, str) for v in found):
        raise _fail(name, key, "a list of strings")
    return tuple(found)


def string_table(name: str, key: str) -> dict[str, str]:
    """`[key]` of a data file, every value a string."""
    found = load_data(name).get(key)
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise _fail(name, key, "a table of strings")
    return dict(found)


def tables(name: str, *, required: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """Every top-level table of a data file, each a table of strings holding `required`."""
    found: dict[str, dict[str, str]] = {}
    for key, table in load_data(name).items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise _fail(name, f"[{key}]", "a table of strings")
        if missing := [k for k in required if k not in table]:
            raise _fail(name, f"[{key}]", f"a table with {', '.join(missing)}")
        found[key] = dict(table)
    return found
