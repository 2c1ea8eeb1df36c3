"""`ipwhl plan --changed-since REV`: the build jobs a change needs, per platform.

A job is needed when its recipe or patches changed, its platform file changed, or the
lock pins it builds with changed; and then for every recipe that builds against one of
those (`build.depends`, transitively). Prints a table grouped by platform, or JSON
(`--json`) that `ipwhl ci-matrix` turns into the CI build matrix.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from builder.curation.changes import affected, changed_files, jobs_for, plan_document
from builder.model.farm import load_farm
from builder.options import add_cache_option, cache_path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("plan", help=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--changed-since", required=True, metavar="REV", help="git revision to compare with"
    )
    parser.add_argument(
        "--platform", action="append", default=[], help="only platforms matching this glob"
    )
    parser.add_argument("--json", action="store_true", help="JSON for a CI matrix")
    add_cache_option(parser)


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    farm = load_farm(root)
    files = changed_files(root, args.changed_since)
    cache = cache_path(args)
    change = affected(farm, files, args.changed_since, cache)
    jobs = jobs_for(farm, change, args.platform)
    by_platform: dict[str, list[str]] = {}
    for job in jobs:
        by_platform.setdefault(job.platform.id, []).append(job.recipe.name)
    if args.json:
        document = plan_document(farm, change, jobs, files, args.changed_since)
        print(json.dumps(document, indent=2))
        return 0
    if not jobs:
        print(f"no jobs: nothing that builds changed since {args.changed_since}")
        return 0
    print(f"{len(jobs)} jobs since {args.changed_since} ({len(files)} changed files)")
    print(f"{'platform':<24} {'backend':<13} {'jobs':>4}  projects")
    for pid, names in sorted(by_platform.items()):
        backend = str(farm.platforms[pid].backend)
        print(f"{pid:<24} {backend:<13} {len(names):>4}  {' '.join(sorted(names))}")
    print("\nwhy:")
    for name in sorted(change.recipes):
        print(f"  {name}: {change.reasons[name]}")
    return 0
