"""Which releases fit the set's interpreters, on the Requires-Python real projects use."""

from __future__ import annotations

import pytest

from builder.curation.pypi import File

LINES = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def _file(requires_python: str | None) -> File:
    return File(filename="x-1.tar.gz", url="https://example.invalid/x-1.tar.gz",
                sha256="0" * 64, requires_python=requires_python, yanked=False,
                has_metadata=False)  # fmt: skip


@pytest.mark.parametrize(
    ("requires_python", "admitted"),
    [
        (None, True),
        ("", True),
        (">=3.9", True),
        # cryptography 44-46: `!=3.9.0, !=3.9.1` excludes broken early patch releases,
        # not the 3.9 line a platform runs (3.9.18 here)
        (">=3.7,!=3.9.0,!=3.9.1", True),
        (">=3.9,!=3.9.0", True),
        ("~=3.9", True),
        (">=3.8.1,<4", True),
        (">=3.10", False),  # numpy 2.1: drops 3.9
        ("<3.13", False),  # does not admit the 3.13 line
        ("!=3.9.*", False),
        (">=3.9, <3.13.0", False),
        ("not a specifier", False),
    ],
)
def test_requires_python_is_read_per_interpreter_line(
    requires_python: str | None, admitted: bool
) -> None:
    assert _file(requires_python).admits(LINES) is admitted


def test_a_line_is_judged_by_its_current_release_not_its_first() -> None:
    assert _file("!=3.13.0").admits(["3.13"])
    assert not _file("<3.13.1").admits(["3.13"])  # only 3.13.0 fits: not a running line
