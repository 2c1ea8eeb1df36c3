"""`builder/data/pythons.toml`: which interpreter lines are alive on a given day."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache

from builder.errors import DataError
from builder.model.data import data_path, load_data

_NAME = "pythons.toml"
IMPLEMENTATIONS = {"cpython": "cp", "pypy": "pp"}  # the wheel tag's prefix of each


@dataclass(frozen=True, kw_only=True)
class Line:
    implementation: str  # cpython, pypy
    version: str  # X.Y
    released: datetime.date
    end_of_life: datetime.date

    @property
    def tag(self) -> str:
        return IMPLEMENTATIONS[self.implementation] + self.version.replace(".", "")

    def alive(self, today: datetime.date) -> bool:
        return self.released <= today <= self.end_of_life


@cache
def lines() -> tuple[Line, ...]:
    found = []
    for implementation, table in load_data(_NAME).items():
        if implementation not in IMPLEMENTATIONS or not isinstance(table, dict):
            raise _fail(f"[{implementation}]", f"one of {sorted(IMPLEMENTATIONS)}")
        for version, dates in table.items():
            key = f"{implementation}.{version}"
            parts = version.split(".")
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise _fail(key, "named X.Y")
            if not isinstance(dates, dict) or set(dates) != {"released", "end-of-life"}:
                raise _fail(key, "a table of released and end-of-life, nothing else")
            released, ends = dates["released"], dates["end-of-life"]
            if not all(type(d) is datetime.date for d in (released, ends)) or ends <= released:
                raise _fail(key, "two TOML dates (YYYY-MM-DD), the end after the release")
            found.append(Line(implementation=implementation, version=version,
                              released=released, end_of_life=ends))  # fmt: skip
    return tuple(found)


def line_of(tag: str) -> Line | None:
    """The line of a wheel interpreter tag (cp312), None if pythons.toml has none."""
    return next((line for line in lines() if line.tag == tag), None)


def _fail(key: str, wanted: str) -> DataError:
    return DataError(f"{data_path(_NAME)}: {key}: must be {wanted}",
                     fix=f"correct {key} in builder/data/{_NAME}")  # fmt: skip
