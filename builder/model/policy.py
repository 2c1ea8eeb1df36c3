"""`policy.toml`: a set's own departures from the official policy, as data.

The official set has none: its license allowlist is `builder/data/licenses.toml`, free
software only. A derived set may widen or narrow it in its own `policy.toml`, which is
published with the tree (`_sources/_farm/policy.toml`) and comes back with `derive`:

    [licenses]
    allow = ["LicenseRef-Acme-Internal"]   # added to the allowlist, for this set only
    deny = ["AGPL-3.0-only"]               # taken off it

The platforms (and so the interpreters) a set builds are its `platforms/` files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.errors import InputError, Problem

POLICY: Final = "policy.toml"
_KEYS: Final = {"licenses": {"allow", "deny"}}


@dataclass(frozen=True, kw_only=True)
class Policy:
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    path: Path | None = None  # None: the official policy, unchanged


def _problem(path: Path, field: str, message: str) -> InputError:
    return InputError(
        [Problem(code="P001", file=path, field=field, message=message,
                 fix='write it as [licenses] allow = ["SPDX-ID", ...], deny = [...]')]
    )  # fmt: skip


def load_policy(root: Path) -> Policy:
    path = root / POLICY
    if not path.is_file():
        return Policy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise _problem(path, "(file)", f"not valid TOML: {e}") from e
    for table, value in data.items():
        if table not in _KEYS or not isinstance(value, dict):
            raise _problem(path, table, "unknown table; a policy has [licenses] only")
        for key in set(value) - _KEYS[table]:
            raise _problem(path, f"{table}.{key}", "unknown key")
    licenses = data.get("licenses", {})
    found: dict[str, frozenset[str]] = {}
    for key in ("allow", "deny"):
        value = licenses.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _problem(path, f"licenses.{key}", "must be a list of SPDX ids")
        found[key] = frozenset(value)
    return Policy(allow=found["allow"], deny=found["deny"], path=path)
