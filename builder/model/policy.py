"""`policy.toml`: a set's own departures from the official policy, as data.

The official set has none: its license allowlist is `builder/data/licenses.toml`, free
software only. A derived set may widen or narrow it in its own `policy.toml`, which is
published with the tree (`_sources/_farm/policy.toml`) and comes back with `derive`:

    [licenses]
    allow = ["LicenseRef-Acme-Internal"]   # added to the allowlist, for this set only
    deny = ["AGPL-3.0-only"]               # taken off it

    [python]
    keep = ["3.10"]                        # still built after its end of life

The platforms (and so the interpreters) a set builds are its `platforms/` files;
`builder/data/pythons.toml` says which lines are alive, and `keep` departs from it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from builder.errors import InputError, Problem

POLICY: Final = "policy.toml"
_KEYS: Final = {"licenses": {"allow", "deny"}, "python": {"keep"}}


@dataclass(frozen=True, kw_only=True)
class Policy:
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()  # interpreter lines (X.Y) built past their end of life
    path: Path | None = None  # None: the official policy, unchanged


def _problem(path: Path, field: str, message: str) -> InputError:
    return InputError(
        [Problem(code="P001", file=path, field=field, message=message,
                 fix='write it as [licenses] allow = ["SPDX-ID", ...], deny = [...], '
                     'and [python] keep = ["X.Y", ...]')]
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
            raise _problem(path, table, "unknown table; a policy has [licenses] and [python]")
        for key in set(value) - _KEYS[table]:
            raise _problem(path, f"{table}.{key}", "unknown key")
    licenses = data.get("licenses", {})
    found: dict[str, frozenset[str]] = {}
    for key in ("allow", "deny"):
        value = licenses.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _problem(path, f"licenses.{key}", "must be a list of SPDX ids")
        found[key] = frozenset(value)
    keep = data.get("python", {}).get("keep", [])
    if not isinstance(keep, list) or not all(
        isinstance(v, str) and len(v.split(".")) == 2 and v.replace(".", "").isdigit() for v in keep
    ):
        raise _problem(path, "python.keep", 'must be a list of interpreter lines, e.g. ["3.10"]')
    return Policy(allow=found["allow"], deny=found["deny"], keep=frozenset(keep), path=path)
