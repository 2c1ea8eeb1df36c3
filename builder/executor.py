"""Run planned jobs in parallel, in build-dependency order, and collect outcomes.

The order comes from `plan`; this module only schedules. Up to `jobs` workers run at
once; a failed job marks what needs its wheel as skipped and nothing else.
"""

from __future__ import annotations

import concurrent.futures as cf
import graphlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from builder import cibuildwheel, collection, system
from builder import job as jobs_
from builder.build import network_isolation_works
from builder.errors import IpwhlError
from builder.farm import Farm
from builder.fetch import fetch_sdist
from builder.inputs import Inputs, build_inputs, reuse_inputs
from builder.interpreters import Interpreter, find_interpreter
from builder.lock import Lock, read_lock
from builder.plan import Job, build_graph, runtime_requirements, test_closure
from builder.platform import Backend
from builder.store import Record, Store


class Status(StrEnum):
    BUILT = "built"
    REUSED = "reused"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    job: Job
    status: Status
    seconds: float = 0.0
    wheel: str = ""
    sha256: str = ""
    log: Path | None = None
    message: str = ""


@dataclass(kw_only=True)
class _State:
    """Per-run bookkeeping of the parent; never shared with workers."""

    done: dict[str, Outcome] = field(default_factory=dict)
    wheels: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (name, sha)
    inputs: dict[str, Inputs] = field(default_factory=dict)
    built_seconds: dict[str, float] = field(default_factory=dict)
    # platform id -> project -> runtime requirement names, from METADATA of built wheels
    requires: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    waiting_tests: dict[str, Job] = field(default_factory=dict)
    # Current wheels of recipes this run does not build: a run of some projects still
    # tests them against the rest of the set. (project, platform id) -> (name, sha)
    outside: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    recipe_names: frozenset[str] = frozenset()


def _log_path(store: Store, job: Job) -> Path:
    return store.root / "logs" / job.platform.id / f"{job.recipe.name}.log"


def execute(
    farm: Farm,
    jobs: list[Job],
    settings: jobs_.Settings,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    store = Store(root=settings.store)
    store.clean_tmp()
    state = _State(recipe_names=frozenset(farm.recipes))
    by_key = {job.key: job for job in jobs}
    isolate = network_isolation_works()
    sdists, fetch_errors = _fetch_all(jobs, settings)
    locks: dict[str, Lock | IpwhlError] = {}

    def finish(outcome: Outcome) -> None:
        state.done[outcome.job.key] = outcome
        on_outcome(outcome)

    def lock_for(interpreter: str) -> Lock:
        if interpreter not in locks:
            try:
                locks[interpreter] = read_lock(farm.locks / f"{interpreter}.txt")
            except IpwhlError as e:
                locks[interpreter] = e
        found = locks[interpreter]
        if isinstance(found, IpwhlError):
            raise found
        return found

    def note_wheel(job: Job, name: str, sha: str) -> None:
        state.wheels[job.key] = (name, sha)
        meta = jobs_.wheel_metadata(store.blob(sha))
        state.requires.setdefault(job.platform.id, {})[job.recipe.name] = runtime_requirements(
            meta["requires_dist"], job.platform
        )

    _note_outside(farm, jobs, store, state)
    graph = build_graph(jobs)
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    context = multiprocessing.get_context("forkserver")
    running: dict[cf.Future[object], tuple[str, str]] = {}
    queued_builds: list[tuple[str, jobs_.BuildTask]] = []
    queued_tests: list[tuple[str, jobs_.TestTask]] = []
    with cf.ProcessPoolExecutor(max_workers=settings.jobs, mp_context=context) as pool:
        while sorter.is_active() or running or state.waiting_tests:
            for key in sorter.get_ready():
                job = by_key[key]
                task = _start(
                    job,
                    state=state,
                    store=store,
                    settings=settings,
                    sdists=sdists,
                    fetch_errors=fetch_errors,
                    lock_for=lock_for,
                    isolate=isolate,
                    graph_needs=graph[key],
                    by_key=by_key,
                    finish=finish,
                    note_wheel=note_wheel,
                )
                if isinstance(task, jobs_.BuildTask):
                    queued_builds.append((key, task))
                elif task == "test":
                    state.waiting_tests[key] = job
                if key in state.done or key in state.wheels:
                    sorter.done(key)
            for key, job in list(state.waiting_tests.items()):
                test = _test_task(
                    job,
                    state=state,
                    store=store,
                    settings=settings,
                    by_key=by_key,
                    isolate=isolate,
                    finish=finish,
                )
                if test is None:
                    continue
                del state.waiting_tests[key]
                if isinstance(test, jobs_.TestTask):
                    queued_tests.append((key, test))
            # Hand workers one task at a time, tests first: a finished job is reported
            # as soon as it is done, not after every build in the queue.
            queued_builds.sort(key=lambda item: _priority(by_key[item[0]]))
            while len(running) < settings.jobs and (queued_tests or queued_builds):
                if queued_tests:
                    key, test_task = queued_tests.pop(0)
                    running[pool.submit(jobs_.run_test, test_task)] = ("test", key)
                else:
                    key, build_task = queued_builds.pop(0)
                    running[pool.submit(jobs_.run_build, build_task)] = ("build", key)
            if not running:
                if state.waiting_tests and not sorter.is_active():
                    raise RuntimeError(f"tests waiting forever: {sorted(state.waiting_tests)}")
                continue
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                kind, key = running.pop(future)
                job = by_key[key]
                result = future.result()
                if isinstance(result, jobs_.Failed):
                    finish(
                        Outcome(
                            job=job,
                            status=Status.FAILED,
                            seconds=result.seconds,
                            log=_log_path(store, job),
                            message=f"{result.stage}: {result.message}\n    fix: {result.fix}",
                        )
                    )
                    if kind == "build":
                        sorter.done(key)
                elif isinstance(result, jobs_.Built):
                    state.built_seconds[key] = result.seconds
                    note_wheel(job, result.wheel, result.wheel_sha256)
                    state.waiting_tests[key] = job
                    sorter.done(key)
                elif isinstance(result, jobs_.Tested):
                    _record(job, result, state=state, store=store, finish=finish)
    return [state.done[job.key] for job in jobs]


def _note_outside(farm: Farm, jobs: list[Job], store: Store, state: _State) -> None:
    """Seed the test closure with the set's current wheels that this run does not build."""
    planned = {(job.recipe.name, job.platform.id) for job in jobs}
    platforms = {job.platform.id: job.platform for job in jobs}
    others = collection.current(farm, store).wheels
    for (project, platform_id), record in sorted(others.items()):
        if platform_id not in platforms or (project, platform_id) in planned:
            continue
        state.outside[(project, platform_id)] = (record.wheel, record.wheel_sha256)
        meta = jobs_.wheel_metadata(store.blob(record.wheel_sha256))
        state.requires.setdefault(platform_id, {})[project] = runtime_requirements(
            meta["requires_dist"], platforms[platform_id]
        )


def _interpreter(job: Job) -> Interpreter:
    """The interpreter a job builds with; cibuildwheel's lives in its image or runner."""
    if job.platform.backend is Backend.CIBUILDWHEEL:
        return cibuildwheel.stand_in_interpreter(job.platform)
    interpreter = find_interpreter(job.platform.python_version)
    assert interpreter is not None  # only buildable platforms are planned
    return interpreter


def _priority(job: Job) -> tuple[int, str]:
    """Pure builds first: every other platform's reuse of them waits on them."""
    return (0 if job.recipe.pure else 1, job.key)


def _fetch_all(
    jobs: list[Job], settings: jobs_.Settings
) -> tuple[dict[str, Path], dict[str, IpwhlError]]:
    """Download every needed sdist once, in threads: downloads wait on the network."""
    recipes = {job.recipe.name: job.recipe for job in jobs if not job.reuses}
    sdists: dict[str, Path] = {}
    errors: dict[str, IpwhlError] = {}
    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pool.submit(fetch_sdist, r, settings.cache): n for n, r in recipes.items()}
        for future in cf.as_completed(futures):
            name = futures[future]
            try:
                sdists[name] = future.result()
            except IpwhlError as e:
                errors[name] = e
    store = Store(root=settings.store)
    for name, path in sdists.items():
        if not store.has_blob(recipes[name].sha256):
            store.put_file(path)
    return sdists, errors


def _start(
    job: Job,
    *,
    state: _State,
    store: Store,
    settings: jobs_.Settings,
    sdists: dict[str, Path],
    fetch_errors: dict[str, IpwhlError],
    lock_for: Callable[[str], Lock],
    isolate: bool,
    graph_needs: set[str],
    by_key: dict[str, Job],
    finish: Callable[[Outcome], None],
    note_wheel: Callable[[Job, str, str], None],
) -> jobs_.BuildTask | str | None:
    """Decide what a ready job needs: nothing (cached), a build, or only a test."""
    blocked = [k for k in sorted(graph_needs) if k not in state.wheels]
    if blocked:
        finish(
            Outcome(
                job=job,
                status=Status.SKIPPED,
                message=f"needs {', '.join(blocked)}, which did not build",
            )
        )
        return None
    interpreter = _interpreter(job)
    try:
        if job.reuses:
            pure_key = f"{job.recipe.name}@{job.reuses}"
            inputs = reuse_inputs(
                job, pure_wheel_sha256=state.wheels[pure_key][1], interpreter=interpreter
            )
        else:
            if job.recipe.name in fetch_errors:
                raise fetch_errors[job.recipe.name]
            if absent := system.missing(job.recipe.system_packages):
                raise IpwhlError(
                    f"{job.recipe.path}: build.system-packages: not installed: {', '.join(absent)}",
                    fix=f"run `ipwhl system-packages --install` (or apt-get install "
                    f"{' '.join(absent)})",
                )
            depends = {by_key[k].recipe.name: state.wheels[k][1] for k in graph_needs}
            inputs = build_inputs(
                job,
                sdist=sdists[job.recipe.name],
                sdist_sha256=job.recipe.sha256,
                lock=lock_for(job.platform.interpreter),
                interpreter=interpreter,
                depends=depends,
                build_root=settings.build_root,
                isolate_network=isolate,
            )
    except IpwhlError as e:
        finish(Outcome(job=job, status=Status.FAILED, message=f"prepare: {e}"))
        return None
    state.inputs[job.key] = inputs
    record = store.get_record(inputs.hash)
    if record is not None:
        note_wheel(job, record.wheel, record.wheel_sha256)
        finish(
            Outcome(
                job=job,
                status=Status.CACHED,
                wheel=record.wheel,
                sha256=record.wheel_sha256,
                log=_log_path(store, job),
            )
        )
        return None
    if job.reuses:
        pure_key = f"{job.recipe.name}@{job.reuses}"
        note_wheel(job, *state.wheels[pure_key])
        return "test"
    return jobs_.BuildTask(
        job=job,
        sdist=sdists[job.recipe.name],
        pins=inputs.pins,
        depends_wheels=tuple(_named_blob(store, state.wheels[k], settings) for k in graph_needs),
        interpreter=interpreter,
        source_date_epoch=inputs.source_date_epoch,
        isolate_network=isolate,
        settings=settings,
    )


def _named_blob(store: Store, wheel: tuple[str, str], settings: jobs_.Settings) -> Path:
    """Installers need a wheel's file name; give the blob one via a link."""
    name, sha = wheel
    link = settings.build_root / "_wheels" / sha / name
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(store.blob(sha))
    return link


def _test_task(
    job: Job,
    *,
    state: _State,
    store: Store,
    settings: jobs_.Settings,
    by_key: dict[str, Job],
    isolate: bool,
    finish: Callable[[Outcome], None],
) -> jobs_.TestTask | str | None:
    """The job's test once every wheel of its runtime closure exists; else None (wait)."""
    requires = state.requires.get(job.platform.id, {})
    closure, unknown = test_closure(job.recipe.name, requires)
    on_platform = {j.recipe.name: k for k, j in by_key.items() if j.platform == job.platform}
    for name in sorted(unknown):
        key = on_platform.get(name)
        if key is None:
            if name in state.recipe_names:
                why = f"which is neither in this run nor built for {job.platform.id}"
                fix = f"build it too: ipwhl build {name} --platform {job.platform.id}"
            else:
                why = f"which has no recipe for {job.platform.id}"
                fix = f"add recipes/{name}.toml"
            finish(
                Outcome(
                    job=job,
                    status=Status.FAILED,
                    log=_log_path(store, job),
                    message=f"test: needs {name!r} at run time, {why}\n    fix: {fix}",
                )
            )
            return "failed"
        if key in state.done and key not in state.wheels:
            finish(
                Outcome(
                    job=job,
                    status=Status.SKIPPED,
                    message=f"test: needs {name}, which did not build",
                )
            )
            return "failed"
        if key not in state.wheels:
            return None
    links = tuple(
        sorted(
            state.wheels[on_platform[n]]
            if n in on_platform
            else state.outside[(n, job.platform.id)]
            for n in closure
        )
    )
    name, sha = state.wheels[job.key]
    interpreter = _interpreter(job)
    return jobs_.TestTask(
        job=job,
        wheel=name,
        wheel_sha256=sha,
        links=links,
        interpreter=interpreter,
        isolate_network=isolate,
        settings=settings,
    )


def _record(
    job: Job,
    tested: jobs_.Tested,
    *,
    state: _State,
    store: Store,
    finish: Callable[[Outcome], None],
) -> None:
    name, sha = state.wheels[job.key]
    inputs = state.inputs[job.key]
    record = Record(
        project=job.recipe.name,
        version=str(job.recipe.version),
        platform=job.platform.id,
        input_hash=inputs.hash,
        inputs=inputs.values,
        wheel=name,
        wheel_sha256=sha,
        wheel_size=store.blob(sha).stat().st_size,
        built_on=job.reuses or job.platform.id,
        network_isolated=bool(inputs.values.get("network-isolated", False)),
        tests=tested.tests,
    )
    store.put_record(record)
    seconds = state.built_seconds.get(job.key, 0.0) + tested.seconds
    finish(
        Outcome(
            job=job,
            status=Status.REUSED if job.reuses else Status.BUILT,
            seconds=seconds,
            wheel=name,
            sha256=sha,
            log=_log_path(store, job),
        )
    )
