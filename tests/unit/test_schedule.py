"""The schedule over generated job graphs: every job ends once, dependencies first."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ScheduleError
from builder.pipeline.schedule import BuildWork, Node, Schedule, Status, TestWork, priority

PLATFORMS = ("p1", "p2", "p3")
OUTSIDE_PROJECTS = ("ext-a", "ext-b")  # current set wheels this run does not build
STAGES = ("prepare", "build", "test", "record")


@dataclass(frozen=True)
class Case:
    nodes: dict[str, Node]
    requires: dict[str, tuple[str, ...]]  # project -> runtime requirement names
    fails: dict[str, str]  # key -> the stage at which it fails
    cached: frozenset[str]
    slots: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    count = draw(st.integers(1, 7))
    projects = [f"proj{i}" for i in range(count)]
    nodes: dict[str, Node] = {}
    for index, project in enumerate(projects):
        platforms = draw(st.lists(st.sampled_from(PLATFORMS), min_size=1, unique=True))
        # pure or abi3: one job builds the wheel, the others on other platforms reuse it
        shared = draw(st.booleans()) and len(platforms) > 1
        base = f"{project}@{platforms[0]}"
        deps = draw(st.lists(st.sampled_from(projects[:index]), unique=True)) if index else []
        for platform in platforms:
            key = f"{project}@{platform}"
            needs: set[str] = set()
            if shared and key != base:
                needs.add(base)
            else:
                for dep in deps:
                    same = f"{dep}@{platform}"
                    builders = [k for k, n in nodes.items() if n.project == dep and not n.reuses]
                    needs |= {same} if same in nodes else set(builders)
            nodes[key] = Node(
                key=key,
                project=project,
                platform=platform,
                needs=frozenset(needs),
                reuses=shared and key != base,
                priority=(-draw(st.floats(0, 600)),),
            )
    names = [*projects, *OUTSIDE_PROJECTS, "absent"]
    # Runtime requirements may form cycles and name projects nobody builds.
    requires = {
        p: tuple(draw(st.lists(st.sampled_from(names), max_size=3, unique=True)))
        for p in [*projects, *OUTSIDE_PROJECTS]
    }
    fails = {}
    for key, node in nodes.items():
        stages = [s for s in STAGES if not (node.reuses and s == "build")]  # reuses never build
        if (stage := draw(st.sampled_from([None, None, None, *stages]))) is not None:
            fails[key] = stage
    cached = frozenset(k for k in nodes if draw(st.integers(0, 3)) == 0)
    return Case(nodes=nodes, requires=requires, fails=fails, cached=cached, slots=draw(
        st.integers(1, 4)))  # fmt: skip


def _unsatisfiable(case: Case, key: str) -> bool:
    """A runtime requirement with no wheel on the job's platform: its test must fail."""
    platform = case.nodes[key].platform
    return any(
        f"{name}@{platform}" not in case.nodes and name not in OUTSIDE_PROJECTS
        for name in _closure(case, key)
    )


def _closure(case: Case, key: str) -> set[str]:
    """Project names in the runtime closure of `key`'s project."""
    seen, todo = set(), [case.nodes[key].project]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(case.requires.get(name, ()))
    return seen


@settings(max_examples=600, deadline=None)
@given(case=cases(), data=st.data())
def test_every_job_ends_once_and_dependencies_come_first(case: Case, data: st.DataObject) -> None:
    outside = {(p, pl): case.requires[p] for p in OUTSIDE_PROJECTS for pl in PLATFORMS}
    schedule = Schedule(
        nodes=case.nodes, outside=outside, recipes=frozenset(n.project for n in case.nodes.values())
    )
    with_wheel: set[str] = set()
    running: list[TestWork | BuildWork] = []
    seen = 0  # endings already looked at
    for _step in range(50 * len(case.nodes) + 10):
        if schedule.finished:
            break
        for key in schedule.to_prepare():
            assert case.nodes[key].needs <= with_wheel, key  # build deps have wheels
            if case.fails.get(key) == "prepare":
                schedule.failed(key, "prepare failed")
            elif key in case.cached:
                schedule.cached(key, case.requires[case.nodes[key].project])
                with_wheel.add(key)
            elif case.nodes[key].reuses:
                schedule.needs_test(key, case.requires[case.nodes[key].project])
                with_wheel.add(key)
            else:
                schedule.needs_build(key)
        for key in schedule.to_record():
            if case.fails.get(key) == "record":
                schedule.failed(key, "record failed")
            else:
                schedule.passed(key)
        taken = schedule.take(case.slots - len(running))
        assert len(running) + len(taken) <= case.slots
        for work in taken:
            node = case.nodes[work.key]
            if isinstance(work, TestWork):
                # every wheel of the closure exists, on the job's own platform
                assert set(work.run_keys) <= with_wheel
                names = {case.nodes[k].project for k in work.run_keys} | set(work.outside)
                assert names == _closure(case, work.key)
                assert all(case.nodes[k].platform == node.platform for k in work.run_keys)
            else:
                assert node.needs <= with_wheel and not node.reuses
        running += taken
        for ending in schedule.endings[seen:]:
            if ending.status in (Status.FAILED, Status.SKIPPED):
                with_wheel.discard(ending.key)
        seen = len(schedule.endings)
        if not running:
            continue
        work = running.pop(data.draw(st.integers(0, len(running) - 1)))
        stage = "test" if isinstance(work, TestWork) else "build"
        if case.fails.get(work.key) == stage:
            schedule.failed(work.key, f"{stage} failed")
        elif stage == "build":
            schedule.built(work.key, case.requires[case.nodes[work.key].project])
            with_wheel.add(work.key)
        else:
            schedule.tested(work.key)
    assert schedule.finished, schedule.phase

    endings = {e.key: e for e in schedule.endings}
    assert len(schedule.endings) == len(endings) == len(case.nodes)  # exactly one each
    ended_at = {e.key: i for i, e in enumerate(schedule.endings)}
    passed = {Status.BUILT, Status.REUSED, Status.CACHED}
    for key, ending in endings.items():
        node = case.nodes[key]
        stage = case.fails.get(key)
        if ending.status in (Status.BUILT, Status.REUSED):
            # passed only after every build dependency passed
            for need in node.needs:
                assert endings[need].status in passed
                assert ended_at[need] < ended_at[key]
            assert stage is None and key not in case.cached
            assert (ending.status is Status.REUSED) == node.reuses
        elif ending.status is Status.CACHED:
            assert key in case.cached and stage != "prepare"
        elif ending.status is Status.FAILED:
            assert stage is not None or _unsatisfiable(case, key), ending
        else:  # skipped: something it needs did not pass
            assert ending.message
    if not case.fails and not any(_unsatisfiable(case, k) for k in case.nodes):
        assert all(e.status in passed for e in schedule.endings)


def test_a_cycle_of_build_dependencies_is_refused() -> None:
    nodes = {
        "a@p1": Node(key="a@p1", project="a", platform="p1", needs=frozenset({"b@p1"})),
        "b@p1": Node(key="b@p1", project="b", platform="p1", needs=frozenset({"a@p1"})),
    }
    with pytest.raises(Exception, match="cycle"):
        Schedule(nodes=nodes)


def test_telling_it_the_impossible_is_a_bug_not_a_verdict() -> None:
    schedule = Schedule(nodes={"a@p1": Node(key="a@p1", project="a", platform="p1")})
    with pytest.raises(ScheduleError, match="not building"):
        schedule.built("a@p1", [])


def test_a_test_that_needs_its_own_build_dependent_does_not_deadlock() -> None:
    # b is built with a; a's wheel needs b at run time. a's test waits for b's wheel,
    # b's build waits only for a's wheel (not its test): both pass.
    nodes = {
        "a@p1": Node(key="a@p1", project="a", platform="p1"),
        "b@p1": Node(key="b@p1", project="b", platform="p1", needs=frozenset({"a@p1"})),
    }
    schedule = Schedule(nodes=nodes, recipes=frozenset({"a", "b"}))
    assert schedule.to_prepare() == ["a@p1"]
    schedule.needs_build("a@p1")
    assert schedule.take(2) == [BuildWork(key="a@p1")]
    schedule.built("a@p1", ["b"])
    assert schedule.take(2) == []  # a's test waits for b
    assert schedule.to_prepare() == ["b@p1"]
    schedule.needs_build("b@p1")
    assert schedule.take(2) == [BuildWork(key="b@p1")]
    schedule.built("b@p1", [])
    tests = schedule.take(2)
    assert [w.key for w in tests] == ["a@p1", "b@p1"]
    schedule.tested("b@p1")
    assert schedule.to_record() == []  # b waits for a to pass
    schedule.tested("a@p1")
    assert schedule.to_record() == ["a@p1"]
    schedule.passed("a@p1")
    assert schedule.to_record() == ["b@p1"]
    schedule.passed("b@p1")
    assert [e.status for e in schedule.endings] == [Status.BUILT, Status.BUILT]


def test_a_wheel_reusing_one_that_failed_its_test_is_skipped() -> None:
    nodes = {
        "a@p1": Node(key="a@p1", project="a", platform="p1"),
        "a@p2": Node(key="a@p2", project="a", platform="p2", needs=frozenset({"a@p1"}),
                     reuses=True),
    }  # fmt: skip
    schedule = Schedule(nodes=nodes, recipes=frozenset({"a"}))
    schedule.to_prepare()
    schedule.needs_build("a@p1")
    schedule.take(1)
    schedule.built("a@p1", [])
    assert schedule.to_prepare() == ["a@p2"]
    schedule.needs_test("a@p2", [])
    assert {w.key for w in schedule.take(2)} == {"a@p1", "a@p2"}
    schedule.tested("a@p2")
    schedule.failed("a@p1", "test: boom")
    assert schedule.to_record() == []
    assert [(e.key, e.status) for e in schedule.endings] == [
        ("a@p1", Status.FAILED),
        ("a@p2", Status.SKIPPED),
    ]
    assert "reuses the wheel of a@p1" in schedule.endings[1].message


def test_a_build_that_fails_after_its_dependency_failed_its_test_is_skipped() -> None:
    # b builds with a's wheel while a's test runs; a fails, its wheel is dropped, and
    # b's build fails for want of it: that is a's failure, said as such.
    nodes = {
        "a@p1": Node(key="a@p1", project="a", platform="p1"),
        "b@p1": Node(key="b@p1", project="b", platform="p1", needs=frozenset({"a@p1"})),
    }
    schedule = Schedule(nodes=nodes, recipes=frozenset({"a", "b"}))
    schedule.to_prepare()
    schedule.needs_build("a@p1")
    schedule.take(2)
    schedule.built("a@p1", [])
    assert schedule.to_prepare() == ["b@p1"]
    schedule.needs_build("b@p1")
    assert [w.key for w in schedule.take(2)] == ["a@p1", "b@p1"]  # a's test, b's build
    schedule.failed("a@p1", "test: boom")
    schedule.failed("b@p1", "build: wheel 1234 is neither staged nor in the store")
    assert [(e.key, e.status) for e in schedule.endings] == [
        ("a@p1", Status.FAILED),
        ("b@p1", Status.SKIPPED),
    ]
    assert schedule.endings[1].message.startswith("needs a@p1, which did not pass")


def test_ready_builds_start_by_the_longest_chain() -> None:
    # A quick pure build whose wheel every platform reuses has their tests in its
    # chain; a long compiled build still goes before it.
    chains = {"slow": 300.0, "quick": 10.0, "new": 0.0, "pure": 25.0}
    nodes = {
        f"{name}@{pid}": Node(key=f"{name}@{pid}", project=name, platform=pid,
                              priority=priority(chain))
        for name, chain in chains.items() for pid in ("p1", "p3")
    }  # fmt: skip
    schedule = Schedule(nodes=nodes, recipes=frozenset(chains))
    for key in schedule.to_prepare():
        schedule.needs_build(key)
    assert [w.key for w in schedule.take(8)] == [
        "slow@p1", "slow@p3", "pure@p1", "pure@p3", "quick@p1", "quick@p3", "new@p1",
        "new@p3",
    ]  # fmt: skip
