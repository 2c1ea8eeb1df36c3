"""CI glue: every step of .github/workflows is one of these commands (or a nox session).

`ci-config` prints the cibuildwheel configuration of one job; `ci-matrix` turns a plan
into the build matrix (one entry per platform group, with its runner); `ci-build` is
one matrix job; `ci-summary` writes the assembled CID and a status table for the job
summary; `ci-publish` runs kubo on the runner, publishes the CAR and pins it through a
pinning service. Each runs the same way on a laptop, so no logic lives only in YAML.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from builder.commands.build import default_cache
from builder.errors import IpwhlError
from builder.model.farm import Farm, load_farm
from builder.model.lock import FRONTEND, parse_requirements, read_lock, sdist_build_requires
from builder.model.platform import Platform
from builder.pipeline import system
from builder.pipeline.backends import backend_for, cibuildwheel
from builder.pipeline.fetch import fetch_sdist
from builder.pipeline.inputs import source_date_epoch
from builder.pipeline.plan import Job
from builder.tree.manifest import MANIFEST, load_manifest


@dataclass(frozen=True, kw_only=True)
class MatrixEntry:
    group: str  # <os>-<arch>: the platform id without its interpreter
    runner: str
    qemu: str  # docker/setup-qemu-action platform, "" when the runner is native
    backend: str
    platforms: tuple[str, ...]


def group_of(platform_id: str) -> str:
    return platform_id.rsplit("-", 1)[0]


def _runners() -> dict[str, dict[str, str]]:
    return tomllib.loads(resources.files("builder").joinpath("data/ci-runners.toml").read_text())


def matrix(farm: Farm, platform_ids: Iterable[str]) -> list[MatrixEntry]:
    """One entry per platform group that has work, in id order."""
    runners = _runners()
    groups: dict[str, list[Platform]] = {}
    for pid in sorted(set(platform_ids)):
        groups.setdefault(group_of(pid), []).append(farm.platforms[pid])
    entries = []
    for group, platforms in sorted(groups.items()):
        if group not in runners:
            raise IpwhlError(
                f"no CI runner for platform group {group!r}",
                fix="add it to builder/data/ci-runners.toml",
            )
        backends = sorted({p.backend for p in platforms})
        entries.append(
            MatrixEntry(
                group=group,
                runner=runners[group]["runner"],
                qemu=runners[group].get("qemu", ""),
                backend=",".join(backends),
                platforms=tuple(p.id for p in platforms),
            )
        )
    return entries


def planned_platforms(plan: Any) -> list[str]:
    """Platform ids named by `ipwhl plan --json` output: a list of jobs or {"jobs": [...]}."""
    jobs = plan.get("jobs", []) if isinstance(plan, dict) else plan
    if not isinstance(jobs, list):
        raise IpwhlError(
            "the plan is not a list of jobs", fix="pass the output of `ipwhl plan --json`"
        )
    found = []
    for job in jobs:
        if isinstance(job, dict) and isinstance(job.get("platform"), str):
            found.append(job["platform"])
    return found


def job_pins(farm: Farm, job: Job, sdist: Path) -> list[Any]:
    """The locked build requirements of a job, as `builder.inputs.build_inputs` picks them."""
    who = str(job.recipe.path)
    requires = sdist_build_requires(sdist) + list(job.recipe.requires) + [FRONTEND]
    env = job.platform.marker_environment()
    wanted = [
        r
        for r in parse_requirements(requires, who=who)
        if r.marker is None or r.marker.evaluate(env)
    ]
    return read_lock(farm.locks / f"{job.platform.interpreter}.txt").closure(wanted, who=who)


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
    mat.add_argument("--github-output", action="store_true",
                     help="append matrix=... and empty=... to $GITHUB_OUTPUT")  # fmt: skip

    build = subparsers.add_parser("ci-build", help="one matrix job: build one platform group")
    build.add_argument("group", help="<os>-<arch>, e.g. macos-arm64")
    build.add_argument("projects", nargs="*")
    build.add_argument("--store", type=Path, default=None)

    summary = subparsers.add_parser(
        "ci-summary", help="the assembled CID and a status table, for $GITHUB_STEP_SUMMARY"
    )
    summary.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="what `ipwhl assemble --out` wrote (default: <root>/public)",
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
    cache = (args.cache or default_cache()).absolute()
    sdist = fetch_sdist(recipe, cache)
    job = Job(recipe=recipe, platform=platform)
    out = (args.out or cache / "ci" / platform.id / recipe.name).absolute()
    out.mkdir(parents=True, exist_ok=True)
    constraints = out / "constraints.txt"
    constraints.write_text(
        cibuildwheel.constraints_text(
            job_pins(farm, job, sdist), cibuildwheel.cibuildwheel_pins(platform.python_version)
        )
    )
    config = cibuildwheel.make_config(
        recipe,
        platform,
        constraints=constraints,
        source_date_epoch=source_date_epoch(job, sdist),
        find_links=args.find_links.absolute() if args.find_links else None,
    )
    text = cibuildwheel.render(config)
    (out / "cibuildwheel.toml").write_text(text)
    sys.stdout.write(text)
    return 0


def _matrix(root: Path, args: argparse.Namespace) -> int:
    farm = load_farm(root)
    plan_text = args.plan.read_text() if args.plan is not None else None
    if args.changed_since.strip("0"):
        plan_text = _run_plan(root, args.changed_since)
    if plan_text is not None:
        ids = [p for p in planned_platforms(json.loads(plan_text)) if p]
        unknown = sorted(set(ids) - set(farm.platforms))
        if unknown:
            raise IpwhlError(f"the plan names unknown platforms: {', '.join(unknown)}",
                             fix="make the plan from this checkout")  # fmt: skip
    else:
        ids = list(farm.platforms)
    entries = matrix(farm, ids)
    document = {
        "include": [
            {
                "group": e.group,
                "runner": e.runner,
                "qemu": e.qemu,
                "backend": e.backend,
                "platforms": " ".join(e.platforms),
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


def _run_plan(root: Path, rev: str) -> str:
    """`ipwhl plan`, through its command line: the plan's JSON is its interface."""
    argv = [sys.executable, "-m", "builder", "--root", str(root), "plan"]
    result = subprocess.run(
        [*argv, "--changed-since", rev, "--json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise IpwhlError(
            f"`ipwhl plan --changed-since {rev} --json` failed:\n{result.stderr.strip()}",
            fix="fetch the history the plan compares with (actions/checkout fetch-depth: 0)",
        )
    return result.stdout


def _build(root: Path, args: argparse.Namespace) -> int:
    """`ipwhl build` restricted to one group; native Linux groups get their apt packages."""
    from builder import cli

    farm = load_farm(root)
    platforms = [p for p in farm.platforms.values() if fnmatch.fnmatch(p.id, f"{args.group}-*")]
    if not platforms:
        raise IpwhlError(f"no platform in group {args.group!r}", fix="see `ipwhl ci-matrix`")
    if any(backend_for(p).host_packages for p in platforms):
        system.install(sorted({pkg for r in farm.recipes.values() for pkg in r.system_packages}))
    argv = ["--root", str(root), "build", "--platform", f"{args.group}-*", *args.projects]
    if args.store is not None:
        argv += ["--store", str(args.store)]
    return cli.main(argv)


def status_table(manifest: dict[str, Any]) -> str:
    """A Markdown project x platform table: the wheel's sha256 prefix, or why it is missing."""
    platforms = sorted(manifest.get("platforms", []))
    projects = manifest.get("projects", {})
    missing = manifest.get("missing", {})
    lines = [
        "| project | version | " + " | ".join(platforms) + " |",
        "|---|---|" + "---|" * len(platforms),
    ]
    for name in sorted(set(projects) | set(missing)):
        entry = projects.get(name, {})
        cells = []
        for pid in platforms:
            wheel = entry.get("platforms", {}).get(pid)
            if wheel is not None:
                cells.append(f"`{wheel['sha256'][:10]}`")
            elif pid in missing.get(name, {}):
                cells.append("missing")
            else:
                cells.append("")
        lines.append(f"| {name} | {entry.get('version', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    (out / "status.md").write_text(text)
    (out / "cid.txt").write_text(cid + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as f:
            f.write(text)
    print(text, end="")
    return 0


def _kubo(explicit: Path | None) -> Path:
    # Where tools/kubo.sh (nox -s kubo) builds it; keep in step with its version pin.
    cache = Path(os.environ.get("IPWHL_CACHE", Path.home() / ".cache" / "ipwhl"))
    candidates = [explicit] if explicit else sorted((cache / "kubo").glob("v*/ipfs"))
    found = [c for c in candidates if c is not None and c.is_file()]
    if not found:
        raise IpwhlError("no kubo binary", fix="run `nox -s kubo` (it builds kubo once)")
    return found[-1]


def _publish(root: Path, args: argparse.Namespace) -> int:
    """kubo on the runner: a throwaway repo, the daemon, `ipwhl publish`, a remote pin."""
    from builder import cli

    endpoint = os.environ.get("PIN_SERVICE_ENDPOINT", "")
    key = os.environ.get("PIN_SERVICE_KEY", "")
    if not endpoint or not key:
        raise IpwhlError(
            "PIN_SERVICE_ENDPOINT and PIN_SERVICE_KEY are not set",
            fix="set them from the repository's secrets (an IPFS Pinning Service API)",
        )
    ipfs = _kubo(args.kubo)
    with tempfile.TemporaryDirectory(prefix="ipwhl-kubo-") as repo:
        env = {**os.environ, "IPFS_PATH": repo, "IPFS_TELEMETRY": "off"}
        subprocess.run([str(ipfs), "init", "--profile", "server"], env=env, check=True)
        daemon = subprocess.Popen([str(ipfs), "daemon"], env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not (Path(repo) / "api").exists():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise IpwhlError("kubo's daemon did not start", fix="run `ipfs daemon` by hand")
                time.sleep(0.5)
            os.environ["IPFS_PATH"] = repo  # `ipwhl publish` finds the API through it
            argv = ["--root", str(root), "publish"] + ([str(args.car)] if args.car else [])
            if (status := cli.main(argv)) != 0:
                return status
            cid = (root / "public" / "cid.txt").read_text().strip()
            service = [str(ipfs), "pin", "remote"]
            subprocess.run([*service, "service", "add", "ipwhl", endpoint, key], env=env,
                           check=True, capture_output=True)  # fmt: skip
            # Keep the key out of logs: only the CID and the service name are printed.
            subprocess.run([*service, "add", "--service=ipwhl", f"--name=ipwhl-{cid}", cid],
                           env=env, check=True)  # fmt: skip
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    return 0
