"""The free-software allowlist (data in `builder/data/licenses.toml`) and SPDX ids.

`ipwhl check` passes a license expression when every license id and exception in it is
on the allowlist; `ipwhl new` maps trove classifiers to SPDX ids with the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.model.data import data_path, string_table, strings
from builder.model.policy import Policy

_FILE = "licenses.toml"


@dataclass(frozen=True, kw_only=True)
class Allowlist:
    licenses: frozenset[str]
    exceptions: frozenset[str]
    path: Path = field(compare=False)


def load_allowlist(policy: Policy | None = None) -> Allowlist:
    """The official allowlist, with a derived set's own additions and removals."""
    policy = policy or Policy()
    return Allowlist(
        licenses=(frozenset(strings(_FILE, "allowed")) | policy.allow) - policy.deny,
        exceptions=frozenset(strings(_FILE, "exceptions")),
        path=policy.path or data_path(_FILE),
    )


def license_classifiers() -> dict[str, str]:
    return string_table(_FILE, "classifiers")


_LICENSE_TOKEN = re.compile(r"[^\s()]+")


def license_ids(expression: str) -> tuple[list[str], list[str]]:
    """(license ids, exception ids) of a canonical SPDX expression."""
    ids: list[str] = []
    exceptions: list[str] = []
    after_with = False
    for token in _LICENSE_TOKEN.findall(expression):
        if token in ("AND", "OR"):
            continue
        if token == "WITH":  # noqa: S105 (an SPDX operator, not a password)
            after_with = True
            continue
        (exceptions if after_with else ids).append(token.rstrip("+"))
        after_with = False
    return ids, exceptions
