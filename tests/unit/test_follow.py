"""The three-way update of a derived farm: take theirs, keep yours, report conflicts."""

from __future__ import annotations

from builder.curation.follow import Action, Conflict, merge

BASE = {"six": "s1", "idna": "i1", "flask": "f1", "gone": "g1", "both": "b1"}


def test_each_side_of_the_three_way_merge() -> None:
    yours = {"six": "s1", "idna": "i2", "flask": "f2", "both": "b2", "mine": "m1"}
    theirs = {"six": "s2", "idna": "i1", "flask": "f3", "both": "b2", "new": "n1"}
    result = merge(BASE, yours, theirs)
    assert result.actions == {
        "six": Action.TAKE,  # untouched by you: bumped upstream
        "idna": Action.KEEP,  # your override, upstream did not move
        "both": Action.SAME,  # the same change on both sides
        "gone": Action.SAME,  # removed by both
        "mine": Action.KEEP,  # your addition
        "new": Action.TAKE,  # upstream's addition
    }
    assert result.changes == {"six": "s2", "new": "n1"}
    assert result.conflicts == (Conflict(name="flask", base="f1", yours="f2", theirs="f3"),)


def test_a_removal_meets_a_change_as_a_conflict_until_a_side_is_chosen() -> None:
    yours = {k: v for k, v in BASE.items() if k != "flask"}  # you dropped flask
    theirs = {**BASE, "flask": "f2"}  # upstream bumped it
    (conflict,) = merge(BASE, yours, theirs).conflicts
    text = conflict.describe({"base": {"flask": "3.0"}, "theirs": {"flask": "3.1"}})
    assert text == ("flask: changed by you and by upstream; base: 3.0 (f1), yours: absent, "
                    "theirs: 3.1 (f2)")  # fmt: skip
    assert merge(BASE, yours, theirs, ours=["flask"]).actions["flask"] is Action.KEEP
    chosen = merge(BASE, yours, theirs, take=["flask"])
    assert chosen.actions["flask"] is Action.TAKE and chosen.changes == {"flask": "f2"}
