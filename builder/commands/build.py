"""`ipwhl build`: build recipes for every platform this machine can build."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from builder.commands.seed import seed_from
from builder.model.farm import load_farm
from builder.options import add_source_options, add_store_options, cache_path, store_path
from builder.paths import DEFAULT_BUILD_ROOT
from builder.pipeline.bootstrap import BackendsFrom
from builder.pipeline.run import build_set, exit_code, settings
from builder.report import Reporter


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
    parser.add_argument(
        "--from",
        dest="seed",
        metavar="SOURCE",
        default=None,
        help="first seed the store from this published tree (directory, CAR, CID, "
        "/ipns/NAME or gateway URL): only jobs it has no record for are built",
    )
    parser.add_argument(
        "--no-sandbox", action="store_true",
        help="build and test without bubblewrap where it cannot run (the records say so)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-build-dirs", action="store_true",
        help="keep each job's directory under the build root after its wheel passed "
        "(removed by default; a failed job's is always kept)",
    )  # fmt: skip
    parser.add_argument(
        "--backends-from", choices=[str(b) for b in BackendsFrom], default=str(BackendsFrom.SET),
        help="where build environments take the set's build backends from: the set's own "
        "wheels (default), or PyPI's throughout, to compare the two (`nox -s bootstrap`); "
        "records of PyPI-built wheels are never the set's current ones",
    )  # fmt: skip
    add_source_options(parser)
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    if args.seed is not None:
        seed_from(
            args.seed, store_path(args), cache_path(args), args.platform,
            api=args.api, gateway=args.gateway,
        )  # fmt: skip
    reporter = Reporter()
    with reporter.stage("load recipes and platforms"):
        farm = load_farm(Path(args.root).absolute())
    run_settings = settings(
        store=store_path(args), cache=cache_path(args), build_root=args.build_root,
        jobs=args.jobs, sandbox=not args.no_sandbox, keep=args.keep_build_dirs,
        backends_from=BackendsFrom(args.backends_from),
    )  # fmt: skip
    return exit_code(build_set(farm, args.projects, args.platform, run_settings, reporter))
