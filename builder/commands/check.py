"""`ipwhl check`: the whole-set gates over recipes and the current wheels in the store."""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
from collections import Counter
from pathlib import Path

from builder.curation import catalogue
from builder.curation.check import check
from builder.curation.facts import Report
from builder.curation.view import gather
from builder.errors import IpwhlError
from builder.model.farm import Farm, load_farm
from builder.options import add_store_options, cache_path, store_path
from builder.pipeline import bootstrap, collection
from builder.pipeline.store import Store


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("check", help=__doc__)
    parser.add_argument(
        "--platform", action="append", default=[], help="only platforms matching this glob"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--today", type=datetime.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
        help="judge interpreter lifecycles (builder/data/pythons.toml) as of this day "
        "(default: today)",
    )  # fmt: skip
    add_store_options(parser)


def to_json(report: Report, root: Path) -> str:
    def rel(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    return json.dumps(
        {
            "ok": report.ok,
            "problems": [
                {
                    "code": p.code,
                    "file": rel(p.file),
                    "field": p.field,
                    "message": p.message,
                    "fix": p.fix,
                }
                for p in report.problems
            ],
            "unchecked": list(report.unchecked),
        },
        indent=2,
    )


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    farm = load_farm(root)
    store = Store(root=store_path(args))
    view = gather(farm, store, cache_path(args))
    platforms = [
        p
        for p in view.platforms.values()
        if not args.platform or any(fnmatch.fnmatchcase(p.id, g) for g in args.platform)
    ]
    report = check(view, platforms, today=args.today or datetime.date.today())
    if args.json:
        print(to_json(report, root))
        return 0 if report.ok else 1
    for problem in report.problems:
        path = problem.file.relative_to(root) if problem.file.is_relative_to(root) else problem.file
        print(f"{path}: {problem.field}: {problem.code} {problem.message}")
        print(f"    fix: {problem.fix}")
    for note in report.unchecked:
        print(f"not checked: {note}")
    projects = len(view.recipes)
    built = len({w.platform for w in view.wheels})
    verdict = "FAILED" if report.problems else "ok"
    print(
        f"check {verdict}: {len(report.problems)} problems; {projects} projects, "
        f"{len(platforms)} platforms ({built} with wheels), {len(view.wheels)} wheels"
    )
    _say_backends(farm, store)
    for line in catalogue.coverage(view.recipes).lines():
        print(line)
    return 0 if report.ok else 1


def _say_backends(farm: Farm, store: Store) -> None:
    """How many of the current wheels were built with the set's own backends alone
    (beyond the seed, the frontend), and what the others took from PyPI."""
    try:
        records = collection.current(farm, store).wheels.values()
    except IpwhlError:
        return  # the problems above name it
    builds = [r for r in records if r.inputs.get("kind") == "build"]
    if not builds:
        return
    locks: bootstrap.Locks = {}
    taken = {r.input_hash: bootstrap.from_pypi(farm, r, locks) for r in builds}
    counts = Counter(pin for pins in taken.values() for pin in pins)
    own = sum(1 for pins in taken.values() if not pins)
    rest = ", ".join(f"{pin} ({n})" for pin, n in sorted(counts.items())) or "nothing"
    print(f"built with the set's own backends: {own} of {len(builds)} builds; from PyPI: {rest}")
