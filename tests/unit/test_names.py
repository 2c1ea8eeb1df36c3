"""Confusable names: edit distance, look-alikes, and who must acknowledge whom."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from builder.curation.names import Clash, clashes, confusable, distance, skeleton, well_known

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=0, max_size=12)


def test_distance_counts_a_swap_as_one_edit() -> None:
    assert distance("requests", "reqeusts") == 1
    assert distance("requests", "request") == 1
    assert distance("requests", "requests") == 0
    assert distance("flask", "flake8", limit=9) == 3
    assert distance("abc", "xyzxyz", limit=3) == 3  # capped


@given(NAMES, NAMES)
def test_distance_is_symmetric_and_bounded(a: str, b: str) -> None:
    d = distance(a, b, limit=99)
    assert d == distance(b, a, limit=99)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


def test_look_alikes_fold_to_one_skeleton() -> None:
    assert skeleton("co1orama") == skeleton("colorama")
    assert skeleton("pyrnysql") == skeleton("pymysql")
    assert skeleton("python-dateutil") == skeleton("pythondateutil")


def test_short_names_need_a_look_alike_not_an_edit() -> None:
    assert not confusable("six", "sip")  # too short for an edit to mean anything
    assert confusable("six", "s1x")  # but a look-alike still counts
    assert confusable("attrs", "attr")
    assert confusable("typing-extensions", "typing-extension5")
    assert confusable("sortedcontainers", "sortedcontianer")  # two edits, long name
    assert not confusable("flask", "flake8")


def test_well_known_projects_are_not_asked_about_each_other() -> None:
    assert {"tomli", "toml"} <= well_known()
    assert clashes({"tomli": ()}) == []


def test_the_newcomer_is_asked_not_the_established_project() -> None:
    found = clashes({"colorama": (), "colourama": ()}, known=frozenset({"colorama"}))
    assert found == [Clash(name="colourama", other="colorama", well_known=False)]


def test_two_unknown_lookalikes_are_both_asked_until_one_acknowledges() -> None:
    found = clashes({"foobar": (), "fooba": ()}, known=frozenset())
    assert {c.name for c in found} == {"foobar", "fooba"}
    assert clashes({"foobar": ("fooba",), "fooba": ()}, known=frozenset()) == []


def test_a_typosquat_of_a_well_known_project() -> None:
    assert clashes({"reqeusts": ()}) == [Clash(name="reqeusts", other="requests", well_known=True)]
    assert clashes({"reqeusts": ("requests",)}) == []
