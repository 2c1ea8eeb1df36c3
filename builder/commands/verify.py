"""`ipwhl verify SOURCE`: rebuild a published tree from its own sources; compare bytes."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from builder.audit.explain import check_every_byte
from builder.audit.status import summary, write_report
from builder.audit.verify import (
    Variation,
    Verdict,
    compare,
    published_platforms,
    rebuild,
    reconstruct,
)
from builder.model.farm import load_farm
from builder.options import add_source_options
from builder.pipeline.backends import why_not_buildable
from builder.tree.published import check_files, materialize, read_manifest


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help=__doc__,
        description="SOURCE is a tree directory, a CAR file, or a CID read through a "
        "kubo RPC address (--api) or a gateway (--gateway). Exit status 1 if any "
        "wheel differs or fails to rebuild.",
    )
    parser.add_argument("source", help="tree directory, .car file, or CID")
    add_source_options(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("verify"), help="report directory (default: ./verify)"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1),
        help="parallel rebuild jobs (varied on purpose from the farm's default)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipwhl-verify-") as tmp:
        work = Path(tmp)
        print(f"==> read {args.source}", flush=True)
        tree, _ = materialize(args.source, work, api=args.api, gateway=args.gateway)
        manifest = read_manifest(tree)
        print("==> check every file against manifest.json", flush=True)
        check_files(tree, manifest)
        checkout, cache = reconstruct(tree, manifest, work)
        farm = load_farm(checkout)
        print("==> re-derive every index page, .metadata and the manifest", flush=True)
        check_every_byte(tree, manifest, farm)
        buildable = {pid: why_not_buildable(p) for pid, p in farm.platforms.items()}
        variation = Variation(build_root=work / "elsewhere" / "root", jobs=args.jobs)
        print("==> rebuild under variation:", flush=True)
        for key, value in variation.describe().items():
            print(f"    {key}: {value}", flush=True)
        store = work / "store"
        rebuild(
            checkout, cache, store, variation, out / "rebuild.log", published_platforms(manifest)
        )
        if (store / "logs").is_dir():
            shutil.rmtree(out / "logs", ignore_errors=True)
            shutil.copytree(store / "logs", out / "logs")
        rows = compare(tree, manifest, store, buildable, out)
    write_report(rows, out, source=args.source, variation=variation.describe())
    print(f"\n{'project':22} {'platform':22} {'verdict':20} wheel sha256 (published / rebuilt)")
    for row in rows:
        print(f"{row.project:22} {row.platform:22} {row.verdict!s:20} "
              f"{row.published[:12]} / {row.rebuilt[:12] or '-'}")  # fmt: skip
        if row.verdict in (Verdict.DIFFERS, Verdict.TOOLCHAIN_DIFFERS, Verdict.FAILED):
            for line in row.detail.splitlines()[:8]:
                print(f"    {line}")
    facts = summary(rows)
    counts = Counter(row.verdict for row in rows)
    print(f"\n{facts['reproduced']} of {facts['checked here']} pairs rebuilt here reproduced; "
          + ", ".join(f"{counts[v]} {v}" for v in Verdict if counts[v]))  # fmt: skip
    print(f"report: {out / 'index.html'} and {out / 'report.json'}")
    return 1 if counts[Verdict.DIFFERS] or counts[Verdict.FAILED] else 0
