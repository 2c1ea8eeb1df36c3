"""Typed field access over parsed TOML that records problems instead of raising.

Loaders read every field through a `Fields` so that one pass reports every problem in
every file at once (the way packaging's `_ErrorCollector` does), each with its file,
its dotted field name, a stable code and a fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from builder.errors import Problem

T = TypeVar("T")

_MISSING = object()


@dataclass(kw_only=True)
class Collector:
    """Gathers problems across many files; the loaders raise once, at the end."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, *, code: str, file: Path, field: str, message: str, fix: str) -> None:
        self.problems.append(Problem(code=code, file=file, field=field, message=message, fix=fix))


def read_toml(path: Path, collector: Collector, *, code: str) -> dict[str, Any] | None:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        collector.add(
            code=code,
            file=path,
            field="(file)",
            message=f"is not valid TOML: {e}",
            fix="fix the TOML syntax at the position shown",
        )
    except OSError as e:
        collector.add(
            code=code,
            file=path,
            field="(file)",
            message=f"cannot be read: {e}",
            fix="check the file exists and is readable",
        )
    return None


@dataclass(kw_only=True)
class Fields:
    """One table of one file: typed getters that note problems and return defaults."""

    file: Path
    table: dict[str, Any]
    prefix: str
    collector: Collector
    unknown_code: str
    missing_code: str
    type_code: str

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def check_keys(self, allowed: set[str]) -> None:
        for key in sorted(set(self.table) - allowed):
            self.collector.add(
                code=self.unknown_code,
                file=self.file,
                field=self._name(key),
                message="is not a known key",
                fix=f"remove it or use one of: {', '.join(sorted(allowed))}",
            )

    def get(self, key: str, kind: type[T], default: Any = _MISSING) -> T | None:
        value = self.table.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.collector.add(
                    code=self.missing_code,
                    file=self.file,
                    field=self._name(key),
                    message="is required but missing",
                    fix=f"add `{key} = ...` ({kind.__name__})",
                )
                return None
            return default  # type: ignore[no-any-return]
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if isinstance(value, str) and kind is str and not value.strip():
            self.collector.add(
                code=self.type_code,
                file=self.file,
                field=self._name(key),
                message="must not be empty",
                fix=f"give `{key}` a value or remove the key if it is optional",
            )
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.collector.add(
                code=self.type_code,
                file=self.file,
                field=self._name(key),
                message=f"must be a {kind.__name__}, not {type(value).__name__}",
                fix=f"write it as a TOML {kind.__name__}",
            )
            return None
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, default=[])
        if value is None:
            return ()
        bad = [v for v in value if not isinstance(v, str)]
        if bad:
            self.collector.add(
                code=self.type_code,
                file=self.file,
                field=self._name(key),
                message=f"must be a list of strings, found {bad[0]!r}",
                fix="quote every item",
            )
            return ()
        return tuple(value)

    def str_table(self, key: str) -> dict[str, str]:
        value = self.get(key, dict, default={})
        if value is None:
            return {}
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            self.collector.add(
                code=self.type_code,
                file=self.file,
                field=self._name(f"{key}.{bad[0]}"),
                message="must be a string",
                fix="quote the value",
            )
            return {}
        return dict(value)

    def sub(self, key: str, *, required: bool) -> Fields:
        value = self.get(key, dict, default=None if not required else _MISSING)
        return Fields(
            file=self.file,
            table=value or {},
            prefix=self._name(key),
            collector=self.collector,
            unknown_code=self.unknown_code,
            missing_code=self.missing_code,
            type_code=self.type_code,
        )
