"""A set's own policy (`policy.toml`): the deriver widens or narrows the allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.curation.licenses import load_allowlist
from builder.errors import InputError
from builder.model.policy import Policy, load_policy


def test_no_policy_file_is_the_official_policy(tmp_path: Path) -> None:
    assert load_policy(tmp_path) == Policy()
    official = load_allowlist()
    assert load_allowlist(load_policy(tmp_path)) == official
    assert "MIT" in official.licenses and "LicenseRef-Acme" not in official.licenses


def test_a_derived_set_widens_and_narrows_the_allowlist(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        '[licenses]\nallow = ["LicenseRef-Acme"]\ndeny = ["AGPL-3.0-only"]\n'
    )
    allow = load_allowlist(load_policy(tmp_path))
    assert "LicenseRef-Acme" in allow.licenses
    assert "AGPL-3.0-only" not in allow.licenses
    assert "MIT" in allow.licenses
    assert allow.path == tmp_path / "policy.toml"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[licenses]\nallow = 'MIT'\n", "licenses.allow"),
        ("[licenses]\nallowed = []\n", "licenses.allowed"),
        ("[interpreters]\nsupported = []\n", "interpreters"),
        ("[licenses\n", "(file)"),
        ('[python]\nkeep = "3.10"\n', "python.keep"),
        ('[python]\nkeep = ["3.10.1"]\n', "python.keep"),
        ('[python]\nkeep = ["cp310"]\n', "python.keep"),
        ('[python]\ndrop = ["3.11"]\n', "python.drop"),
    ],
)
def test_a_malformed_policy_is_an_input_error_naming_the_field(
    tmp_path: Path, text: str, field: str
) -> None:
    (tmp_path / "policy.toml").write_text(text)
    with pytest.raises(InputError) as caught:
        load_policy(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.code, problem.file, problem.field) == ("P001", tmp_path / "policy.toml", field)
    assert "[licenses] allow" in problem.fix


def test_a_derived_set_keeps_an_ended_interpreter_line(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('[python]\nkeep = ["3.10"]\n')
    assert load_policy(tmp_path).keep == frozenset({"3.10"})
