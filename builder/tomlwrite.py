"""Writing TOML: one small deterministic writer for every file the farm writes in TOML
(pylock.toml, cibuildwheel configurations, drafted recipes). Strings are TOML basic
strings with TOML's own escapes; keys are bare when they can be."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

TomlScalar = str | int | bool
TomlValue = TomlScalar | list["TomlValue"] | dict[str, "TomlValue"]
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_ESCAPES.update({"\f": "\\f", "\r": "\\r"})


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def inline(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {inline(v)}" for k, v in value.items()) + "}"


def _is_table_array(value: TomlValue) -> bool:
    """Arrays of tables holding tables (a wheel's `hashes`) get `[[...]]` headers."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) for v in value)
        and any(
            isinstance(x, dict | list) for v in value if isinstance(v, dict) for x in v.values()
        )
    )


def _table(table: Mapping[str, TomlValue], path: str, lines: list[str], top: bool) -> None:
    deferred: list[tuple[str, TomlValue]] = []
    for key, value in table.items():
        tables = isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
        if (top and (isinstance(value, dict) or tables)) or _is_table_array(value):
            deferred.append((key, value))
        else:
            lines.append(f"{_key(key)} = {inline(value)}")
    for key, value in deferred:
        name = f"{path}.{_key(key)}" if path else _key(key)
        if isinstance(value, dict):
            body: list[str] = []
            _table(value, name, body, top=True)
            # A table holding only sub-tables needs no header of its own (`[tool]`).
            if not body or body[0] != "":
                lines.extend(["", f"[{name}]"])
            lines.extend(body)
            continue
        assert isinstance(value, list)
        for item in value:
            assert isinstance(item, dict)
            lines.extend(["", f"[[{name}]]"])
            _table(item, name, lines, top=False)


def dumps(document: Mapping[str, TomlValue]) -> str:
    """TOML for `document`: plain tables at the top, inline tables inside array items."""
    lines: list[str] = []
    _table(document, "", lines, top=True)
    return "\n".join(lines).lstrip("\n") + "\n"
