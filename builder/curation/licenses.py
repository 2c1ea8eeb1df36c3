"""The free-software allowlist (data in `builder/data/licenses.toml`) and SPDX ids.

`ipwhl check` passes a license expression when every license id and exception in it is
on the allowlist; `ipwhl new` maps trove classifiers to SPDX ids with the same file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Allowlist:
    licenses: frozenset[str]
    exceptions: frozenset[str]
    path: Path = field(compare=False)


def load_allowlist() -> Allowlist:
    ref = resources.files("builder").joinpath("data/licenses.toml")
    data = tomllib.loads(ref.read_text())
    return Allowlist(
        licenses=frozenset(data["allowed"]),
        exceptions=frozenset(data["exceptions"]),
        path=Path(str(ref)),
    )


def license_classifiers() -> dict[str, str]:
    text = resources.files("builder").joinpath("data/licenses.toml").read_text()
    classifiers: dict[str, str] = tomllib.loads(text)["classifiers"]
    return classifiers


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
