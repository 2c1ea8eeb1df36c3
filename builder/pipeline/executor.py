"""Run planned jobs on worker processes, in the order `schedule` decides.

The schedule decides what may start; this module prepares jobs in the parent (fetch,
inputs, the store's answer), hands builds and tests to up to `jobs` workers, writes
the records of jobs that passed and reports every job's one ending.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import IpwhlError, ScheduleError, SdistError, SystemPackagesMissing
from builder.metadata import Metadata
from builder.model.farm import Farm
from builder.model.library import closure
from builder.model.lock import Lock, read_lock
from builder.model.platform import ToolchainName
from builder.pipeline import collection, system
from builder.pipeline import job as jobs_
from builder.pipeline import tasks as tasks_
from builder.pipeline.backends import backend_for
from builder.pipeline.build import network_isolation_works
from builder.pipeline.estimates import job_seconds, longest_chains, reference_times
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.inputs import Inputs, build_inputs, reuse_inputs
from builder.pipeline.plan import Job, build_graph, runtime_requirements
from builder.pipeline.sandbox import NONE
from builder.pipeline.schedule import BuildWork, Node, Schedule, Status, TestWork, priority
from builder.pipeline.sdistfacts import check_identity, sdist_facts
from builder.pipeline.store import Record, Store


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
class _Run:
    """The parent's bookkeeping for one run; never shared with workers."""

    farm: Farm
    store: Store
    settings: tasks_.Settings
    by_key: dict[str, Job]
    sdists: dict[str, Path]
    fetch_errors: dict[str, IpwhlError]
    isolate: bool
    wheels: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (name, sha)
    inputs: dict[str, Inputs] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    staged: dict[str, str] = field(default_factory=dict)  # key -> sha it staged
    outside: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    tests: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> what ran
    locks: dict[Path, Lock | IpwhlError] = field(default_factory=dict)

    def lock_for(self, job: Job) -> Lock:
        path = self.farm.lock_path(job.recipe.name, job.platform.interpreter)
        if path not in self.locks:
            try:
                self.locks[path] = read_lock(path)
            except IpwhlError as e:
                self.locks[path] = e
        found = self.locks[path]
        if isinstance(found, IpwhlError):
            raise found
        return found

    def requires(self, job: Job, sha: str) -> list[str]:
        meta = Metadata.parse(self.store.wheel_metadata(sha))
        return runtime_requirements(meta.requires_dist, job.platform)


def _log_path(store: Store, job: Job) -> Path:
    return store.root / "logs" / job.platform.id / f"{job.recipe.name}.log"


def execute(
    farm: Farm,
    jobs: list[Job],
    settings: tasks_.Settings,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    store = Store(root=settings.store, run=settings.run)
    store.clean_tmp()
    by_key = {job.key: job for job in jobs}
    sdists, fetch_errors = _fetch_all(jobs, settings)
    run = _Run(
        farm=farm,
        store=store,
        settings=settings,
        by_key=by_key,
        sdists=sdists,
        fetch_errors=fetch_errors,
        # The sandbox has no network; without one, `unshare -n` where it works.
        isolate=settings.sandbox != NONE or network_isolation_works(),
    )
    outside_requires = _note_outside(farm, jobs, run)
    graph = build_graph(jobs)
    measured, (_, reference) = store.times(), reference_times()
    chains = longest_chains(
        {key: frozenset(needs) for key, needs in graph.items()},
        {
            job.key: job_seconds(job.recipe.name, job.platform.id, measured, reference)
            for job in jobs
        } if settings.longest_first else {},
    )  # fmt: skip
    schedule = Schedule(
        nodes={
            job.key: Node(
                key=job.key,
                project=job.recipe.name,
                platform=job.platform.id,
                needs=frozenset(graph[job.key]),
                reuses=job.reuses is not None,
                priority=priority(chains[job.key]),
            )
            for job in jobs
        },
        outside=outside_requires,
        recipes=frozenset(farm.recipes),
    )
    done: dict[str, Outcome] = {}
    reported = 0

    def report() -> None:
        nonlocal reported
        for ending in schedule.endings[reported:]:
            job = by_key[ending.key]
            if ending.status in (Status.FAILED, Status.SKIPPED):
                _drop_staged(run, ending.key)
            name, sha = run.wheels.get(ending.key, ("", ""))
            ok = ending.status not in (Status.FAILED, Status.SKIPPED)
            outcome = Outcome(
                job=job,
                status=ending.status,
                seconds=run.seconds.get(ending.key, 0.0),
                wheel=name if ok else "",
                sha256=sha if ok else "",
                log=_log_path(store, job) if ending.status is not Status.SKIPPED else None,
                message=ending.message,
            )
            done[ending.key] = outcome
            if ending.status is Status.BUILT and outcome.seconds:
                store.put_time(job.recipe.name, job.platform.id, outcome.seconds)
            on_outcome(outcome)
        reported = len(schedule.endings)

    context = multiprocessing.get_context("forkserver")
    running: dict[cf.Future[tasks_.Built | tasks_.Tested | tasks_.Failed], str] = {}
    with cf.ProcessPoolExecutor(
        max_workers=settings.jobs, mp_context=context,
        initializer=jobs_.end_with, initargs=(os.getpid(),),
    ) as pool:  # fmt: skip
        while not schedule.finished:
            before = len(schedule.endings)
            moved = 0
            for key in schedule.to_prepare():
                _prepare(by_key[key], run, schedule)
                moved += 1
            for key in schedule.to_record():
                _record(by_key[key], run, schedule)
                moved += 1
            for work in schedule.take(settings.jobs - len(running)):
                future: cf.Future[tasks_.Built | tasks_.Tested | tasks_.Failed]
                if isinstance(work, TestWork):
                    future = pool.submit(jobs_.run_test, _test_task(work, run))
                else:
                    task = _build_task(work, run, schedule.nodes[work.key].needs)
                    future = pool.submit(jobs_.run_build, task)
                running[future] = work.key
                moved += 1
            moved += len(schedule.endings) - before
            report()
            if not running:
                if not moved and not schedule.finished:
                    raise ScheduleError(f"the run cannot move on: {schedule.phase}")
                continue
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                _take_result(by_key[key], future.result(), run, schedule)
            report()
    store.end_run()
    return [done[job.key] for job in jobs]


def _take_result(
    job: Job, result: tasks_.Built | tasks_.Tested | tasks_.Failed, run: _Run, schedule: Schedule
) -> None:
    key = job.key
    run.seconds[key] = run.seconds.get(key, 0.0) + result.seconds
    if isinstance(result, tasks_.Failed):
        schedule.failed(key, f"{result.stage}: {result.message}\n    fix: {result.fix}")
    elif isinstance(result, tasks_.Built):
        run.wheels[key] = (result.wheel, result.wheel_sha256)
        run.staged[key] = result.wheel_sha256
        try:
            requires = run.requires(job, result.wheel_sha256)
        except IpwhlError as e:
            schedule.failed(key, f"build: {e}")
            return
        schedule.built(key, requires)
    else:
        run.tests[key] = result.tests
        schedule.tested(key)


def _drop_staged(run: _Run, key: str) -> None:
    """A job that will never be stored takes its staged wheel with it, unless another
    live job of the run staged the same bytes."""
    sha = run.staged.pop(key, None)
    if sha is not None and sha not in run.staged.values():
        run.store.discard(sha)


def _note_outside(farm: Farm, jobs: list[Job], run: _Run) -> dict[tuple[str, str], list[str]]:
    """The set's current wheels that this run does not build: a run of some projects
    still tests them against the rest of the set."""
    planned = {(job.recipe.name, job.platform.id) for job in jobs}
    platforms = {job.platform.id: job.platform for job in jobs}
    requires: dict[tuple[str, str], list[str]] = {}
    for (project, platform_id), record in sorted(
        collection.current(farm, run.store).wheels.items()
    ):
        if platform_id not in platforms or (project, platform_id) in planned:
            continue
        run.outside[(project, platform_id)] = (record.wheel, record.wheel_sha256)
        meta = Metadata.parse(run.store.wheel_metadata(record.wheel_sha256))
        requires[(project, platform_id)] = runtime_requirements(
            meta.requires_dist, platforms[platform_id]
        )
    return requires


def _fetch_all(
    jobs: list[Job], settings: tasks_.Settings
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
    return sdists, errors


def _builder_of(job: Job) -> str:
    return f"{job.recipe.name}@{job.reuses}" if job.reuses else job.key


def _prepare(job: Job, run: _Run, schedule: Schedule) -> None:
    """Compute a ready job's inputs and ask the store: cached, a build, or a test."""
    key = job.key
    try:
        backend = backend_for(job.platform)
        if job.reuses:
            name, sha = run.wheels[_builder_of(job)]
            inputs = reuse_inputs(
                job, pure_wheel_sha256=sha, interpreter=backend.interpreter(job.platform)
            )
        else:
            if job.recipe.name in run.fetch_errors:
                raise run.fetch_errors[job.recipe.name]
            host = backend.host_packages and job.platform.toolchain is ToolchainName.HOST
            if host and (absent := system.missing(job.recipe.system_packages)):
                raise SystemPackagesMissing(
                    f"{job.recipe.path}: build.system-packages: not installed: {', '.join(absent)}",
                    fix=f"run `ipwhl system-packages --install` (or apt-get install "
                    f"{' '.join(absent)})",
                )
            needs = schedule.nodes[key].needs
            depends = {run.by_key[k].recipe.name: run.wheels[k][1] for k in needs}
            try:
                facts = sdist_facts(
                    run.sdists[job.recipe.name], job.recipe.sha256, run.settings.cache
                )
            except SdistError as e:
                raise SdistError(f"{job.recipe.path}: source: {e.message}", fix=e.fix) from e
            check_identity(job.recipe, facts)
            inputs = build_inputs(
                job,
                backend=backend,
                sdist=facts,
                sdist_sha256=job.recipe.sha256,
                lock=run.lock_for(job),
                depends=depends,
                build_root=run.settings.build_root,
                isolate_network=run.isolate,
                libraries=run.farm.libraries,
                sandbox=run.settings.sandbox,
            )
        run.inputs[key] = inputs
        record = run.store.get_record(inputs.hash)
        if record is not None:
            run.wheels[key] = (record.wheel, record.wheel_sha256)
            schedule.cached(key, run.requires(job, record.wheel_sha256))
        elif job.reuses:
            run.wheels[key] = (name, sha)
            schedule.needs_test(key, run.requires(job, sha))
        else:
            schedule.needs_build(key)
    except IpwhlError as e:
        schedule.failed(key, f"prepare: {e}")


def _build_task(work: BuildWork, run: _Run, schedule_needs: frozenset[str]) -> tasks_.BuildTask:
    job = run.by_key[work.key]
    inputs = run.inputs[work.key]
    return tasks_.BuildTask(
        job=job,
        sdist=run.sdists[job.recipe.name],
        pins=inputs.pins,
        depends_wheels=tuple(
            sorted(
                run.wheels[k] for k in schedule_needs if run.by_key[k].recipe.name in inputs.uses
            )
        ),
        source_date_epoch=inputs.source_date_epoch,
        isolate_network=run.isolate,
        settings=run.settings,
        libraries=tuple(
            run.farm.libraries[n] for n in closure(run.farm.libraries, job.recipe.libraries)
        ),
    )


def _test_task(work: TestWork, run: _Run) -> tasks_.TestTask:
    job = run.by_key[work.key]
    name, sha = run.wheels[work.key]
    closure = [run.wheels[k] for k in work.run_keys if k != work.key]
    closure += [run.outside[(project, job.platform.id)] for project in work.outside]
    return tasks_.TestTask(
        job=job,
        wheel=name,
        wheel_sha256=sha,
        closure=tuple(sorted(closure)),
        isolate_network=run.isolate,
        settings=run.settings,
    )


def _record(job: Job, run: _Run, schedule: Schedule) -> None:
    """Store a job that passed: its wheel into blobs/, then its record."""
    key = job.key
    name, sha = run.wheels[key]
    inputs = run.inputs[key]
    builder = run.inputs[_builder_of(job)]
    try:
        if not job.reuses:
            run.store.promote(sha)
            run.staged.pop(key, None)
            # The sdist joins the store with the first wheel built from it: the tree
            # publishes what every wheel was built from.
            if not run.store.has_blob(job.recipe.sha256):
                run.store.put_file(run.sdists[job.recipe.name])
        record = Record(
            project=job.recipe.name,
            version=str(job.recipe.version),
            platform=job.platform.id,
            input_hash=inputs.hash,
            inputs=inputs.values,
            wheel=name,
            wheel_sha256=sha,
            wheel_size=run.store.blob(sha).stat().st_size,
            built_on=job.reuses or job.platform.id,
            built_by=builder.hash,
            network_isolated=bool(builder.values.get("network-isolated", False)),
            tests=run.tests[key],
        )
        run.store.put_record(record)
    except IpwhlError as e:
        schedule.failed(key, f"store: {e}")
        return
    schedule.passed(key)
