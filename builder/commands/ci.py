"""CI glue: every step of .github/workflows is one of these commands (or a nox session).

`ci-config` prints the cibuildwheel configuration of one job; `ci-matrix` turns a plan
into the build matrix (entries by platform group and estimated cost, with their
runners); `ci-build` is one matrix job, seeded from the last published tree;
`ci-summary` writes the assembled CID and a status table for the job summary;
`ci-publish` runs kubo on the runner, publishes the CAR and pins it through a pinning
service. Each runs the same way on a laptop, so no logic lives only in YAML.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from builder.ci import find_kubo, kubo_daemon, pin_remotely, status_table
from builder.commands.seed import seed_from
from builder.curation.changes import affected, changed_files, jobs_for, plan_document
from builder.errors import IpwhlError
from builder.ipfs.gateway import DEFAULT_API, multiaddr_to_url
from builder.ipfs.publish import publish
from builder.matrix import matrix, planned_jobs
from builder.model.farm import load_farm
from builder.model.lock import read_lock
from builder.options import cache_path
from builder.paths import DEFAULT_BUILD_ROOT, default_cache, store_dir
from builder.pipeline import system
from builder.pipeline.backends import backend_for, cibuildwheel
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.inputs import locked_pins, source_date_epoch
from builder.pipeline.plan import Job
from builder.pipeline.run import build_set, exit_code, settings
from builder.pipeline.sdistfacts import sdist_facts
from builder.pipeline.store import read_times
from builder.report import Reporter
from builder.tree.assemble import find_car
from builder.tree.diff import diff_manifests, render_markdown
from builder.tree.manifest import MANIFEST, load_manifest
from builder.tree.published import open_published


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser(
        "ci-config",
        help="print the cibuildwheel configuration of one recipe on one platform",
    )
    config.add_argument("recipe")
    config.add_argument("platform")
    config.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="also write cibuildwheel.toml and constraints.txt there "
        "(default: <cache>/ci/<platform>/<recipe>)",
    )  # fmt: skip
    config.add_argument("--find-links", type=Path, default=None, metavar="DIR")
    config.add_argument("--cache", type=Path, default=None, help="sdist download cache")

    mat = subparsers.add_parser(
        "ci-matrix", help="the GitHub Actions build matrix for a plan, as JSON"
    )
    mat.add_argument(
        "--plan", type=Path, default=None, metavar="FILE",
        help="output of `ipwhl plan --json` (default: every platform)",
    )  # fmt: skip
    mat.add_argument(
        "--changed-since", default="", metavar="REV",
        help="run `ipwhl plan --changed-since REV --json` for the plan; an empty or "
        "all-zero REV (a new branch) means every platform",
    )  # fmt: skip
    mat.add_argument(
        "--times", type=Path, default=None, metavar="DIR",
        help="recorded job times (a store's times/ directory) for the cost estimates",
    )  # fmt: skip
    mat.add_argument("--github-output", action="store_true",
                     help="append matrix=... and empty=... to $GITHUB_OUTPUT")  # fmt: skip

    build = subparsers.add_parser("ci-build", help="one matrix job: build one platform group")
    build.add_argument("group", help="<os>-<arch>, e.g. macos-arm64")
    build.add_argument("projects", nargs="*")
    build.add_argument(
        "--platforms", default="", metavar="IDS",
        help="only these platforms of the group, space-separated (a matrix entry's)",
    )  # fmt: skip
    build.add_argument(
        "--from", dest="seed", default="", metavar="SOURCE",
        help="seed the store from the last published tree first (empty: do not)",
    )  # fmt: skip
    build.add_argument("--gateway", default=None, help="gateway to read a CID or IPNS name")
    build.add_argument("--store", type=Path, default=None)

    summary = subparsers.add_parser(
        "ci-summary", help="the assembled CID and a status table, for $GITHUB_STEP_SUMMARY"
    )
    summary.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="what `ipwhl assemble --out` wrote (default: <root>/public)",
    )  # fmt: skip
    summary.add_argument(
        "--published", default="", metavar="SOURCE",
        help="the last published tree: add `ipwhl diff` against it to the summary",
    )  # fmt: skip

    publish = subparsers.add_parser(
        "ci-publish",
        help="start kubo, publish the CAR, pin it through a pinning service ($PIN_SERVICE_*)",
    )
    publish.add_argument("car", nargs="?", type=Path, default=None)
    publish.add_argument("--kubo", type=Path, default=None, help="the ipfs binary")


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    command = {
        "ci-config": _config,
        "ci-matrix": _matrix,
        "ci-build": _build,
        "ci-summary": _summary,
        "ci-publish": _publish,
    }[args.command]
    return command(root, args)


def _config(root: Path, args: argparse.Namespace) -> int:
    farm = load_farm(root)
    recipe = farm.recipes.get(args.recipe)
    platform = farm.platforms.get(args.platform)
    if recipe is None or platform is None:
        raise IpwhlError(
            f"no recipe {args.recipe!r} or no platform {args.platform!r}",
            fix="name a file of recipes/ and one of platforms/, without .toml",
        )
    cache = cache_path(args)
    facts = sdist_facts(fetch_sdist(recipe, cache), recipe.sha256, cache)
    job = Job(recipe=recipe, platform=platform)
    lock = read_lock(farm.lock_path(recipe.name, platform.interpreter))
    out = (args.out or cache / "ci" / platform.id / recipe.name).absolute()
    out.mkdir(parents=True, exist_ok=True)
    constraints = out / "constraints.txt"
    constraints.write_text(
        cibuildwheel.constraints_text(
            locked_pins(job, facts, lock), cibuildwheel.cibuildwheel_pins(platform.python_version)
        )
    )
    config = cibuildwheel.make_config(
        recipe,
        platform,
        constraints=constraints,
        source_date_epoch=source_date_epoch(job, facts),
        find_links=args.find_links.absolute() if args.find_links else None,
    )
    text = cibuildwheel.render(config)
    (out / "cibuildwheel.toml").write_text(text)
    sys.stdout.write(text)
    return 0


def _matrix(root: Path, args: argparse.Namespace) -> int:
    farm = load_farm(root)
    plan: Any = json.loads(args.plan.read_text()) if args.plan is not None else None
    if args.changed_since.strip("0"):
        plan = _run_plan(root, args.changed_since)
    if plan is not None:
        jobs = [(project, pid) for project, pid in planned_jobs(plan) if pid]
        unknown = sorted({pid for _, pid in jobs} - set(farm.platforms))
        unknown += sorted({name for name, _ in jobs if name} - set(farm.recipes))
        if unknown:
            raise IpwhlError(f"the plan names unknown platforms or recipes: {', '.join(unknown)}",
                             fix="make the plan from this checkout")  # fmt: skip
    else:
        jobs = [("", pid) for pid in farm.platforms]
    times = read_times(args.times) if args.times is not None else {}
    entries = matrix(farm, jobs, times)
    document = {
        "include": [
            {
                "name": f"{e.group} {e.part}".strip(),
                "group": e.group,
                "runner": e.runner,
                "qemu": e.qemu,
                "backend": e.backend,
                "platforms": " ".join(e.platforms),
                "projects": " ".join(e.projects),
                "estimate": e.estimate,
            }
            for e in entries
        ]
    }
    text = json.dumps(document, separators=(",", ":"))
    print(text)
    output = os.environ.get("GITHUB_OUTPUT")
    if args.github_output and output:
        with Path(output).open("a") as f:
            f.write(f"matrix={text}\nempty={'true' if not entries else 'false'}\n")
    return 0


def _run_plan(root: Path, rev: str) -> dict[str, Any]:
    """What `ipwhl plan --changed-since REV --json` prints."""
    farm = load_farm(root)
    files = changed_files(root, rev)
    change = affected(farm, files, rev, default_cache())
    return plan_document(farm, change, jobs_for(farm, change, []), files, rev)


def _build(root: Path, args: argparse.Namespace) -> int:
    """`ipwhl build` restricted to one group; native Linux groups get their apt packages."""
    farm = load_farm(root)
    platforms = [p for p in farm.platforms.values() if fnmatch.fnmatch(p.id, f"{args.group}-*")]
    outside = sorted(set(args.platforms.split()) - {p.id for p in platforms})
    if outside:
        raise IpwhlError(f"not platforms of group {args.group!r}: {', '.join(outside)}",
                         fix="pass a matrix entry's group and platforms together")  # fmt: skip
    if not platforms:
        raise IpwhlError(f"no platform in group {args.group!r}", fix="see `ipwhl ci-matrix`")
    if any(backend_for(p).host_packages for p in platforms):
        system.install(farm.host_packages(platforms))
    store, cache = store_dir(root, args.store), default_cache()
    globs = args.platforms.split() or [f"{args.group}-*"]
    if args.seed:
        # The records of this entry's platforms, and of the platform that built each
        # pure wheel they reuse (seed() adds those), so a reuse is not a rebuild.
        api = multiaddr_to_url(DEFAULT_API)
        seed_from(args.seed, store, cache, globs, api=api, gateway=args.gateway)
    run_settings = settings(
        store=store, cache=cache, build_root=DEFAULT_BUILD_ROOT, jobs=os.cpu_count() or 1
    )
    outcomes = build_set(farm, args.projects, globs, run_settings, Reporter())
    return exit_code(outcomes)


def _summary(root: Path, args: argparse.Namespace) -> int:
    out = (args.out or root / "public").absolute()
    cars = sorted(out.glob("*.car"))
    manifest_path = out / "tree" / MANIFEST
    if len(cars) != 1 or not manifest_path.is_file():
        raise IpwhlError(
            f"{out} holds {len(cars)} CAR files and "
            f"{'a' if manifest_path.is_file() else 'no'} tree/{MANIFEST}",
            fix="run `ipwhl assemble --out DIR` first",
        )
    cid = cars[0].name.removesuffix(".car")
    manifest = load_manifest(manifest_path.read_bytes(), where=str(manifest_path))
    text = (
        f"## IPWHL: `{cid}`\n\n"
        f"```\npip install --index-url http://127.0.0.1:8080/ipfs/{cid}/ PROJECT\n```\n\n"
        + status_table(manifest)
    )
    if args.published:
        with tempfile.TemporaryDirectory(prefix="ipwhl-summary-") as work:
            api = multiaddr_to_url(DEFAULT_API)
            before = open_published(args.published, Path(work), api=api, gateway=None)
        changes = diff_manifests(before.manifest, manifest)
        text += "\n" + render_markdown(changes, old=before.root or args.published, new=cid)
    (out / "status.md").write_text(text)
    (out / "cid.txt").write_text(cid + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as f:
            f.write(text)
    print(text, end="")
    return 0


def _publish(root: Path, args: argparse.Namespace) -> int:
    """kubo on the runner: a throwaway repo, the daemon, publish, a remote pin."""
    endpoint = os.environ.get("PIN_SERVICE_ENDPOINT", "")
    key = os.environ.get("PIN_SERVICE_KEY", "")
    if not endpoint or not key:
        raise IpwhlError(
            "PIN_SERVICE_ENDPOINT and PIN_SERVICE_KEY are not set",
            fix="set them from the repository's secrets (an IPFS Pinning Service API)",
        )
    ipfs = find_kubo(args.kubo)
    car = args.car if args.car else find_car(root)
    with kubo_daemon(ipfs) as (api, env):
        done = publish(car, api=api)
        print(f"published: {done.cid} ({done.blocks} blocks, pinned on the runner)")
        pin_remotely(ipfs, env, str(done.cid), endpoint=endpoint, key=key)
        print(f"pinned remotely: {done.cid}")
    return 0
