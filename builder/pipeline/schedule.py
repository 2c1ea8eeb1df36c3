"""The order a run's jobs go through their stages, as a pure state machine.

The executor asks what may start and says what happened; this module decides the rest
and runs nothing. Three rules make a run honest:

- A job is *prepared* (its inputs computed, the store asked) once every job it needs
  at build time has a wheel, tested or not: a build never waits on a test, so a test
  that needs its own build dependent at run time cannot deadlock the run.
- A job's *test* starts once every wheel of its runtime closure on its platform
  exists (from this run, or the set's current wheels outside it).
- A job *passes* (its record is written, its wheel enters the store) only when its
  own test passed and every job it needed at build time passed: a wheel built
  against, or reusing, a wheel that failed its test is skipped, never published.

Every job ends exactly once, with one `Ending`.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from builder.errors import ScheduleError


class Phase(StrEnum):
    WAITING = "waiting"  # for its build dependencies' wheels
    PREPARING = "preparing"  # the executor computes its inputs and asks the store
    BUILD_QUEUED = "build-queued"
    BUILDING = "building"
    AWAITING_TEST = "awaiting-test"  # has a wheel; waits for its runtime closure
    TESTING = "testing"
    TESTED = "tested"  # waits for its build dependencies to pass
    RECORDING = "recording"  # the executor writes its record
    DONE = "done"


class Status(StrEnum):
    BUILT = "built"
    REUSED = "reused"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"


def priority(chain: float) -> tuple[float, ...]:
    """Where a build goes among the ready ones: the longest chain it starts first
    (`estimates.longest_chains`); a long chain started last keeps one worker busy while
    the others idle. A pure build every other platform reuses needs no rule of its own:
    the reuses wait on it, so they are in its chain."""
    return (-chain,)


@dataclass(frozen=True, kw_only=True)
class Node:
    """One job as the schedule sees it."""

    key: str
    project: str
    platform: str
    needs: frozenset[str] = frozenset()  # keys whose wheels its build (or reuse) needs
    reuses: bool = False  # serves another job's wheel: it is tested, never built
    priority: tuple[float, ...] = (1,)  # lower starts first among ready builds


@dataclass(frozen=True, kw_only=True)
class Ending:
    key: str
    status: Status
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class TestWork:
    """A test to run: the wheels of its closure, as run keys and outside projects."""

    __test__ = False  # not a pytest class

    key: str
    run_keys: tuple[str, ...]  # jobs of this run whose wheels the test installs
    outside: tuple[str, ...]  # projects whose current set wheel the test installs


@dataclass(frozen=True, kw_only=True)
class BuildWork:
    key: str


@dataclass(kw_only=True)
class Schedule:
    nodes: Mapping[str, Node]
    # (project, platform) -> runtime requirement names of the set's current wheels
    # that this run does not build
    outside: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    recipes: frozenset[str] = frozenset()  # every project with a recipe
    phase: dict[str, Phase] = field(init=False)
    endings: list[Ending] = field(init=False, default_factory=list)
    _requires: dict[tuple[str, str], tuple[str, ...]] = field(init=False)
    _with_wheel: set[str] = field(init=False, default_factory=set)
    _passed: set[str] = field(init=False, default_factory=set)
    _ended_bad: dict[str, Status] = field(init=False, default_factory=dict)
    _on_platform: dict[tuple[str, str], str] = field(init=False)
    _dependents: dict[str, set[str]] = field(init=False)

    def __post_init__(self) -> None:
        for node in self.nodes.values():
            unknown = node.needs - self.nodes.keys()
            if unknown:
                raise ScheduleError(f"{node.key} needs jobs not in the run: {sorted(unknown)}")
        # A cycle of build dependencies can never start; the loader and `ipwhl check`
        # report it, and this refuses it rather than hang.
        graphlib.TopologicalSorter({k: n.needs for k, n in self.nodes.items()}).prepare()
        self.phase = dict.fromkeys(self.nodes, Phase.WAITING)
        self._requires = {key: tuple(names) for key, names in self.outside.items()}
        self._on_platform = {(n.project, n.platform): k for k, n in self.nodes.items()}
        self._dependents = {key: set() for key in self.nodes}
        for node in self.nodes.values():
            for need in node.needs:
                self._dependents[need].add(node.key)

    # --- what the executor asks ---------------------------------------------------

    @property
    def finished(self) -> bool:
        return all(p is Phase.DONE for p in self.phase.values())

    def to_prepare(self) -> list[str]:
        """Jobs whose build dependencies all have wheels; they move to PREPARING.

        Jobs a failed dependency blocks end as skipped on the way.
        """
        ready = []
        for key in sorted(self.nodes):
            if self.phase[key] is not Phase.WAITING:
                continue
            node = self.nodes[key]
            if blocked := self._blocked(key):
                self._end(key, Status.SKIPPED, f"needs {blocked}, which did not pass")
            elif node.needs <= self._with_wheel:
                self.phase[key] = Phase.PREPARING
                ready.append(key)
        return ready

    def take(self, slots: int) -> list[TestWork | BuildWork]:
        """Up to `slots` pieces of work for workers: tests first (a finished job is
        reported as soon as it is done), then builds by priority."""
        work: list[TestWork | BuildWork] = []
        waiting = (Phase.AWAITING_TEST, Phase.BUILD_QUEUED)
        for key in sorted(k for k, p in self.phase.items() if p in waiting):
            # Its build dependency failed after it was prepared: its work is moot.
            if blocked := self._blocked(key):
                self._end(key, Status.SKIPPED, f"needs {blocked}, which did not pass")
        for key in sorted(k for k, p in self.phase.items() if p is Phase.AWAITING_TEST):
            if len(work) >= slots:
                break
            test = self._test_work(key)
            if test is not None:
                self.phase[key] = Phase.TESTING
                work.append(test)
        queued = sorted(
            (k for k, p in self.phase.items() if p is Phase.BUILD_QUEUED),
            key=lambda k: (self.nodes[k].priority, k),
        )
        for key in queued[: max(0, slots - len(work))]:
            self.phase[key] = Phase.BUILDING
            work.append(BuildWork(key=key))
        return work

    def to_record(self) -> list[str]:
        """Tested jobs whose build dependencies all passed; they move to RECORDING.

        Tested jobs a failed dependency blocks end as skipped on the way.
        """
        ready = []
        for key in sorted(k for k, p in self.phase.items() if p is Phase.TESTED):
            node = self.nodes[key]
            if blocked := self._blocked(key):
                what = "reuses the wheel of" if node.reuses else "was built with"
                self._end(
                    key,
                    Status.SKIPPED,
                    f"passed its test, but {what} {blocked}, which did not pass",
                )
            elif node.needs <= self._passed:
                self.phase[key] = Phase.RECORDING
                ready.append(key)
        return ready

    # --- what the executor says ---------------------------------------------------

    def cached(self, key: str, requires: Iterable[str]) -> None:
        """The store has a record for exactly these inputs: done, with its wheel."""
        self._expect(key, Phase.PREPARING)
        self._wheel(key, requires)
        self._passed.add(key)
        self._end(key, Status.CACHED)

    def needs_build(self, key: str) -> None:
        self._expect(key, Phase.PREPARING)
        self.phase[key] = Phase.BUILD_QUEUED

    def needs_test(self, key: str, requires: Iterable[str]) -> None:
        """A reuse job: its wheel exists (another job's); only its test is left."""
        self._expect(key, Phase.PREPARING)
        self._wheel(key, requires)
        self.phase[key] = Phase.AWAITING_TEST

    def built(self, key: str, requires: Iterable[str]) -> None:
        self._expect(key, Phase.BUILDING)
        self._wheel(key, requires)
        self.phase[key] = Phase.AWAITING_TEST

    def tested(self, key: str) -> None:
        self._expect(key, Phase.TESTING)
        self.phase[key] = Phase.TESTED

    def passed(self, key: str) -> None:
        self._expect(key, Phase.RECORDING)
        self._passed.add(key)
        self._end(key, Status.REUSED if self.nodes[key].reuses else Status.BUILT)

    def failed(self, key: str, message: str) -> None:
        """Failed while preparing, building, testing or recording."""
        busy = (Phase.PREPARING, Phase.BUILDING, Phase.TESTING, Phase.RECORDING)
        if self.phase[key] not in busy:
            raise ScheduleError(f"{key} failed while {self.phase[key]}")
        if blocked := self._blocked(key):
            # A build dependency failed its test while this ran: its wheel was dropped
            # under this job, so the failure is the dependency's, not this job's own.
            first = message.splitlines()[0] if message else ""
            self._end(key, Status.SKIPPED, f"needs {blocked}, which did not pass ({first})")
            return
        self._end(key, Status.FAILED, message)

    # --- inside -------------------------------------------------------------------

    def _expect(self, key: str, phase: Phase) -> None:
        if self.phase[key] is not phase:
            raise ScheduleError(f"{key} is {self.phase[key]}, not {phase}")

    def _blocked(self, key: str) -> str:
        """The build dependencies of `key` that ended without passing, or ""."""
        return ", ".join(sorted(n for n in self.nodes[key].needs if n in self._ended_bad))

    def _wheel(self, key: str, requires: Iterable[str]) -> None:
        node = self.nodes[key]
        self._requires[(node.project, node.platform)] = tuple(requires)
        self._with_wheel.add(key)

    def _end(self, key: str, verdict: Status, message: str = "") -> None:
        self.phase[key] = Phase.DONE
        if verdict in (Status.FAILED, Status.SKIPPED):
            self._ended_bad[key] = verdict
            self._with_wheel.discard(key)
        self.endings.append(Ending(key=key, status=verdict, message=message))

    def _test_work(self, key: str) -> TestWork | None:
        """The test of `key` if its closure is complete; None to wait; ends it if the
        closure can never be complete."""
        node = self.nodes[key]
        closure: set[str] = set()
        todo = [node.project]
        run_keys, outside = [], []
        while todo:
            name = todo.pop()
            if name in closure:
                continue
            closure.add(name)
            own = self._on_platform.get((name, node.platform))
            if own is not None:
                if own in self._ended_bad:
                    self._end(key, Status.SKIPPED, f"test: needs {name}, which did not build")
                    return None
                if own not in self._with_wheel:
                    return None
                run_keys.append(own)
            elif (name, node.platform) in self.outside:
                outside.append(name)
            else:
                if name in self.recipes:
                    why = f"which is neither in this run nor built for {node.platform}"
                    fix = f"build it too: ipwhl build {name} --platform {node.platform}"
                else:
                    why = f"which has no recipe for {node.platform}"
                    fix = f"add recipes/{name}.toml"
                self._end(
                    key,
                    Status.FAILED,
                    f"test: needs {name!r} at run time, {why}\n    fix: {fix}",
                )
                return None
            todo.extend(self._requires[(name, node.platform)])
        return TestWork(key=key, run_keys=tuple(sorted(run_keys)), outside=tuple(sorted(outside)))
