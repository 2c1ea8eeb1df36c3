"""The CI build matrix: entries by platform group and by estimated cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.errors import IpwhlError
from builder.matrix import Limits, MatrixEntry, group_of, matrix, planned_jobs
from builder.model.farm import load_farm
from builder.pipeline.store import read_times
from tests.fixtures.farm_files import make_farm, platform_doc, recipe_doc

P312, P313, P39 = "linux-x86_64-cp312", "linux-x86_64-cp313", "linux-x86_64-cp39"
SMALL = Limits(budget=100, max_entries=256, unknown={"pure": 20, "compiled": 300, "reuse": 10})


@pytest.mark.parametrize(
    ("platform_id", "group"),
    [
        ("linux-x86_64-cp312", "linux-x86_64"),
        ("windows-AMD64-cp39", "windows-AMD64"),
        ("macos-arm64-pp310", "macos-arm64"),
    ],
)
def test_group_of_drops_the_interpreter(platform_id: str, group: str) -> None:
    assert group_of(platform_id) == group


def test_matrix_has_one_entry_per_group_with_work(tmp_path: Path) -> None:
    farm = load_farm(make_farm(tmp_path, {}))  # the repository's own platforms
    ids = ["windows-AMD64-cp312", "linux-x86_64-cp314", "linux-aarch64-cp311",
           "linux-x86_64-cp312", "linux-x86_64-cp311", "linux-x86_64-cp312"]  # fmt: skip
    assert matrix(farm, [("", pid) for pid in ids]) == [
        # Native too, on its arm64 root through qemu.
        MatrixEntry(group="linux-aarch64", runner="ubuntu-24.04", qemu="arm64",
                    backend="native", platforms=("linux-aarch64-cp311",)),
        # All three build natively (cp314 on its root).
        MatrixEntry(group="linux-x86_64", runner="ubuntu-24.04", qemu="",
                    backend="native",
                    platforms=("linux-x86_64-cp311", "linux-x86_64-cp312", "linux-x86_64-cp314")),
        MatrixEntry(group="windows-AMD64", runner="windows-2022", qemu="",
                    backend="cibuildwheel", platforms=("windows-AMD64-cp312",)),
    ]  # fmt: skip
    assert matrix(farm, []) == []


def test_matrix_refuses_a_group_without_a_runner(tmp_path: Path) -> None:
    ids = ["linux-x86_64-cp312", "linux-ppc64le-cp312"]
    platforms: dict[str, str | dict[str, Any]] = {
        pid: platform_doc(pid, pure=pid == ids[0]) for pid in ids
    }
    farm = load_farm(make_farm(tmp_path, {}, platforms))
    with pytest.raises(IpwhlError) as caught:
        matrix(farm, [("", pid) for pid in ids])
    assert caught.value.message == "no CI runner for platform group 'linux-ppc64le'"
    assert "builder/data/ci-runners.toml" in caught.value.fix


def _farm(tmp_path: Path, count: int) -> Any:
    """`count` compiled recipes; r1 builds against r0 (one component), the rest alone."""
    recipes: dict[str, str | dict[str, Any]] = {
        f"r{i}": recipe_doc(f"r{i}", pure=False) for i in range(count)
    }
    recipes["r1"] = recipe_doc("r1", pure=False, depends=["r0"])
    platforms: dict[str, str | dict[str, Any]] = {
        pid: platform_doc(pid, pure=pid == P312) for pid in (P312, P313, P39)
    }
    return load_farm(make_farm(tmp_path, recipes, platforms))


def test_a_group_over_budget_is_split_per_platform_keeping_components_whole(
    tmp_path: Path,
) -> None:
    farm = _farm(tmp_path, 12)
    times = {(f"r{i}", pid): 30.0 for i in range(12) for pid in (P312, P313)}
    jobs = [(f"r{i}", pid) for i in range(12) for pid in (P312, P313, P39)]
    entries = matrix(farm, jobs, times, SMALL)
    # Per platform: 12 jobs of 30 s (cp312, cp313) or 300 s unknown (cp39), budget 100 s.
    assert all(len(e.platforms) == 1 for e in entries)
    assert all(e.estimate <= SMALL.budget or len(e.projects) <= 2 for e in entries)
    covered = sorted((n, e.platforms[0]) for e in entries for n in e.projects)
    assert covered == sorted(jobs)  # every job exactly once
    together = [e for e in entries if "r0" in e.projects]
    assert all("r1" in e.projects for e in together)  # r1 waits on r0: same entry
    by_platform = {pid: [e for e in entries if e.platforms == (pid,)] for pid in (P312, P39)}
    assert len(by_platform[P312]) == 4  # 3 jobs of 30 s per entry (r0+r1 is 60 s)
    assert len(by_platform[P39]) == 11  # unknown times: 300 s each, r0+r1 together
    assert [e.part for e in entries][:2] == [f"1/{len(entries)}", f"2/{len(entries)}"]


def test_a_group_within_budget_is_one_entry_naming_only_the_planned_recipes(
    tmp_path: Path,
) -> None:
    farm = _farm(tmp_path, 4)
    times = {(f"r{i}", pid): 1.0 for i in range(4) for pid in (P312, P313, P39)}
    (entry,) = matrix(farm, [("r1", P313), ("r3", P39)], times, SMALL)
    assert entry.platforms == (P313, P39)
    assert entry.projects == ("r0", "r1", "r3")  # r1's component brings r0
    # The planned jobs only: the rest of the cross product has records (the build job
    # is seeded from the published tree) and costs a lookup.
    assert entry.estimate == 3.0


def test_more_entries_than_github_allows_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    farm = _farm(tmp_path, 8)
    few = Limits(budget=100, max_entries=3, unknown=SMALL.unknown)
    with pytest.raises(IpwhlError) as caught:
        matrix(farm, [(f"r{i}", P39) for i in range(8)], {}, few)
    assert "GitHub allows 3" in caught.value.message
    assert "budget-seconds" in caught.value.fix


def test_recorded_times_are_read_from_a_stores_times_directory(tmp_path: Path) -> None:
    (tmp_path / P312).mkdir()
    (tmp_path / P312 / "six").write_text("7.5\n")
    (tmp_path / P312 / "broken").write_text("half")
    assert read_times(tmp_path) == {("six", P312): 7.5}
    assert read_times(tmp_path / "absent") == {}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ({"changed_since": "HEAD", "jobs": [{"platform": "a-b-cp39"}, {"platform": "c-d-cp312"}]},
         [("", "a-b-cp39"), ("", "c-d-cp312")]),
        ([{"project": "x", "platform": "a-b-cp39"}, {"project": "y"}, "junk",
          {"platform": 3}, {"platform": "a-b-cp39"}], [("x", "a-b-cp39"), ("", "a-b-cp39")]),
        ({"include": []}, []),
    ],
)  # fmt: skip
def test_planned_jobs_read_both_plan_shapes(plan: Any, expected: list[tuple[str, str]]) -> None:
    assert planned_jobs(plan) == expected


@pytest.mark.parametrize("plan", [{"jobs": {"platform": "x"}}, "not a plan", 3])
def test_planned_jobs_refuse_what_is_not_a_plan(plan: Any) -> None:
    with pytest.raises(IpwhlError) as caught:
        planned_jobs(plan)
    assert caught.value.message == "the plan is not a list of jobs"
    assert "ipwhl plan --json" in caught.value.fix
