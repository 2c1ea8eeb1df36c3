"""`ipwhl build`: build recipes for every platform this machine can build."""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
from pathlib import Path

from builder.model.farm import load_farm
from builder.pipeline.backends import why_not_buildable
from builder.pipeline.executor import execute
from builder.pipeline.plan import plan_jobs
from builder.pipeline.schedule import Status
from builder.pipeline.tasks import Settings
from builder.report import Reporter

# Fixed on purpose, outside any checkout: builds in two checkouts must see one path.
DEFAULT_BUILD_ROOT = Path("/tmp/ipwhl-build")  # noqa: S108


def default_cache() -> Path:
    return Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="the local store (default: <root>/store, or $IPWHL_STORE)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="download cache for sdists (default: ~/.cache/ipwhl or $IPWHL_CACHE)",
    )


def store_path(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return Path(args.store).absolute()
    if "IPWHL_STORE" in os.environ:
        return Path(os.environ["IPWHL_STORE"]).absolute()
    return Path(args.root).absolute() / "store"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("build", help=__doc__)
    parser.add_argument("projects", nargs="*", help="only these recipes (default: all)")
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        help="only platforms matching this glob (repeatable)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel jobs (default: the core count)",
    )
    parser.add_argument(
        "--build-root",
        type=Path,
        default=DEFAULT_BUILD_ROOT,
        help="fixed directory builds run in (an input of every build)",
    )
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    reporter = Reporter()
    root = Path(args.root).absolute()
    with reporter.stage("load recipes and platforms"):
        farm = load_farm(root)
        recipes = {n: r for n, r in farm.recipes.items() if not args.projects or n in args.projects}
        unknown = sorted(set(args.projects) - set(farm.recipes))
        if unknown:
            reporter.console.print(f"[red]no recipe for: {', '.join(unknown)}[/red]")
            return 2
        platforms = [
            p
            for p in farm.platforms.values()
            if not args.platform or any(fnmatch.fnmatch(p.id, g) for g in args.platform)
        ]
        unbuildable = {p.id: why for p in platforms if (why := why_not_buildable(p))}
        buildable = [p for p in platforms if p.id not in unbuildable]
        if farm.pure_platform.id in unbuildable or why_not_buildable(farm.pure_platform):
            # Pure wheels are built once, on their one platform, and reused elsewhere.
            recipes = {n: r for n, r in recipes.items() if not r.pure}
            unbuildable["pure recipes"] = f"built on {farm.pure_platform.id}"
    with reporter.stage("plan"):
        every = [p for p in farm.platforms.values() if not why_not_buildable(p)]
        jobs = plan_jobs(recipes, buildable, farm.pure_platform, every_platform=every)
        reporter.console.print(
            f"{len(jobs)} jobs: {len(recipes)} recipes x "
            f"{len(buildable)} platforms, {args.jobs} at a time"
        )
    settings = Settings(
        store=store_path(args),
        cache=(args.cache or default_cache()).absolute(),
        build_root=Path(args.build_root).absolute(),
        uv=shutil.which("uv") or "uv",
        jobs=args.jobs,
    )
    with reporter.stage("fetch, build, repair, normalize, test, store"), reporter.jobs(len(jobs)):
        outcomes = execute(farm, jobs, settings, on_outcome=reporter.outcome)
    reporter.table(outcomes, unbuildable, root)
    return 1 if any(o.status in (Status.FAILED, Status.SKIPPED) for o in outcomes) else 0
