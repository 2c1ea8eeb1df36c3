"""The set against PyPI's most downloaded projects: the list and the count."""

from __future__ import annotations

from pathlib import Path

from builder.curation.catalogue import coverage
from builder.model.farm import load_farm

ROOT = Path(__file__).resolve().parents[2]


def test_the_list_is_a_hundred_projects_and_exceptions_are_apart() -> None:
    empty = coverage([])
    assert empty.total == 100 and not empty.held
    assert empty.missing[:3] == ("boto3", "urllib3", "setuptools")  # download order
    assert "pyarrow" in empty.excepted and "pyarrow" not in empty.missing
    assert len(empty.missing) + len(empty.excepted) == 100
    # A held exception is no longer one.
    some = coverage(["boto3", "pyarrow", "not-on-the-list"])
    assert some.held == ("boto3", "pyarrow") and "pyarrow" not in some.excepted
    assert some.lines()[0].startswith("PyPI's top 100 (hugovk/top-pypi-packages")
    assert "2 in the set" in some.lines()[0]


def test_the_sets_count_is_what_its_recipes_say() -> None:
    recipes = load_farm(ROOT).recipes
    found = coverage(recipes)
    assert set(found.held) <= set(recipes)
    assert all(name not in recipes for name in found.missing)
