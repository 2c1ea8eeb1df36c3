"""`ipwhl derive SOURCE [DIR]`: an editable farm from a published tree, its store seeded.

Everything a farm needs is in the tree: recipes and patches under `_sources/<project>/`,
platforms, build locks, native libraries and system roots under `_sources/_farm/`, and
every build record in `manifest.json`. Right after `derive`, `ipwhl build` in DIR builds nothing and
`ipwhl assemble` gives the upstream root CID; from there a change costs what it changes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from builder.atomic import atomic_path, sweep, temporary_prefix, write_atomic
from builder.audit.explain import check_every_byte
from builder.curation.follow import Action, merge
from builder.errors import IpwhlError
from builder.model.farm import load_farm
from builder.model.policy import POLICY
from builder.options import add_source_options, add_store_options, cache_path, store_path
from builder.pipeline.seed import seed
from builder.pipeline.store import Store
from builder.tree.layout import FARM_DIR, SOURCES_DIR
from builder.tree.published import Published, open_published
from builder.tree.upstream import (
    UPSTREAM,
    dumps,
    from_manifest,
    load_upstream,
    local_farm_files,
    local_projects,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "derive",
        help=__doc__.splitlines()[0] if __doc__ else None,
        description="SOURCE is a tree directory, a CAR file, a CID (through --api or "
        "--gateway), /ipns/NAME (through --gateway) or a gateway URL; every block is "
        "checked against its CID and every file against manifest.json. DIR (default: "
        "./ipwhl-derived) must not exist; it gets recipes/, platforms/, locks/, "
        f"libraries/, the set's {POLICY} if it has one, {UPSTREAM} and a store seeded "
        "with the published wheels.",
    )
    parser.add_argument("source", help="tree directory, .car file, CID, /ipns/NAME or URL")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("ipwhl-derived"))
    parser.add_argument(
        "--update", action="store_true",
        help="SOURCE is a newer upstream: move the derived farm at --root onto it, "
        "keeping your additions and overrides; conflicts change nothing",
    )  # fmt: skip
    parser.add_argument(
        "--ours", action="append", default=[], metavar="NAME",
        help="in a conflict over NAME (a project or farm file), keep yours",
    )  # fmt: skip
    parser.add_argument(
        "--theirs", action="append", default=[], metavar="NAME",
        help="in a conflict over NAME, take upstream's",
    )  # fmt: skip
    add_source_options(parser)
    add_store_options(parser)


def write_farm(published: Published, target: Path, *, source: str) -> None:
    """The farm files of a published tree, laid out as a checkout has them."""
    tree, manifest = published.tree, published.manifest
    (target / "recipes").mkdir(parents=True)
    for project, entry in sorted(manifest["projects"].items()):
        base = tree / SOURCES_DIR / project
        shutil.copyfile(base / f"{project}.toml", target / "recipes" / f"{project}.toml")
        for name in sorted(entry.get("patches", {})):
            patches = target / "recipes" / "patches" / project
            patches.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base / "patches" / name, patches / name)
    farm = tree / SOURCES_DIR / FARM_DIR
    for relative in sorted(manifest.get("farm", {})):
        kind = relative.split("/", 1)[0]
        if kind in ("platforms", "locks", "libraries", "roots", POLICY):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(farm / relative, target / relative)
    if (tree / "_status").is_dir():
        # An auditor's report published with the tree: `assemble --status status` keeps it.
        shutil.copytree(tree / "_status", target / "status")
    upstream = from_manifest(manifest, root=published.root, source=source)
    (target / UPSTREAM).write_text(dumps(upstream))


def run(args: argparse.Namespace) -> int:
    if args.update:
        return update(args)
    target = Path(args.dir).absolute()
    if target.exists():
        raise IpwhlError(
            f"{target} already exists",
            fix="name a new directory; derive never writes over a farm",
        )
    cache = cache_path(args)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place: a failure leaves nothing behind.
    sweep(target)  # what a killed derive left beside it
    part = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), dir=target.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="ipwhl-derive-") as work:
            published = open_published(args.source, Path(work), api=args.api, gateway=args.gateway)
            write_farm(published, part, source=args.source)
            # The identity promise: every byte of the tree follows from what derive wrote.
            check_every_byte(published.tree, published.manifest, load_farm(part))
            seeded = seed(published, Store(root=part / "store"), cache, lambda _: True)
        part.replace(target)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    projects = len(published.manifest["projects"])
    print(f"derived {target} from {published.root or args.source}: {projects} recipes, "
          f"{seeded.added} build records seeded")  # fmt: skip
    status = " --status status" if (target / "status").is_dir() else ""
    print(f"next: cd {target} && ipwhl build && ipwhl assemble{status}")
    return 0


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _take_project(root: Path, tree: Path, name: str, present: bool) -> None:
    """Upstream's recipe and patches for `name` (or neither, if upstream dropped it)."""
    patches = root / "recipes" / "patches" / name
    shutil.rmtree(patches, ignore_errors=True)
    if not present:
        (root / "recipes" / f"{name}.toml").unlink(missing_ok=True)
        return
    base = tree / SOURCES_DIR / name
    if (base / "patches").is_dir():
        for path in sorted((base / "patches").iterdir()):
            _copy(path, patches / path.name)
    _copy(base / f"{name}.toml", root / "recipes" / f"{name}.toml")


def update(args: argparse.Namespace) -> int:
    """`derive --update SOURCE`: the three-way move onto a newer upstream."""
    root = Path(args.root).absolute()
    base = load_upstream(root)
    if base is None:
        raise IpwhlError(
            f"{root} has no {UPSTREAM}: it is not a derived farm",
            fix="run `ipwhl derive SOURCE DIR` first, or pass --root DIR",
        )
    farm = load_farm(root)
    with tempfile.TemporaryDirectory(prefix="ipwhl-derive-") as work:
        published = open_published(args.source, Path(work), api=args.api, gateway=args.gateway)
        new = from_manifest(published.manifest, root=published.root, source=args.source)
        projects = merge(base.projects, local_projects(farm), new.projects,
                         ours=args.ours, take=args.theirs)  # fmt: skip
        files = merge(base.farm, local_farm_files(root), new.farm,
                      ours=args.ours, take=args.theirs)  # fmt: skip
        versions = {"base": base.versions, "theirs": new.versions,
                    "yours": {n: str(r.version) for n, r in farm.recipes.items()}}  # fmt: skip
        conflicts = [*projects.conflicts, *files.conflicts]
        if conflicts:
            print(f"{len(conflicts)} conflict(s) updating onto {new.root or args.source}:")
            for conflict in conflicts:
                print(f"  {conflict.describe(versions)}")
            raise IpwhlError(
                f"{len(conflicts)} project(s) or file(s) changed both here and upstream; "
                "nothing was changed",
                fix="for each, rerun with --ours NAME (keep yours) or --theirs NAME (take "
                "upstream's); `ipwhl diff` of the two upstream roots shows their side",
            )
        tree = published.tree
        for name, theirs in sorted(projects.changes.items()):
            _take_project(root, tree, name, theirs is not None)
        for relative, theirs in sorted(files.changes.items()):
            if theirs is None:
                (root / relative).unlink(missing_ok=True)
            else:
                _copy(tree / SOURCES_DIR / FARM_DIR / relative, root / relative)
        seeded = seed(published, Store(root=store_path(args)), cache_path(args), lambda _: True)
    write_atomic(root / UPSTREAM, dumps(new))
    print(f"updated {root} from {base.root} to {new.root or args.source}; "
          f"{seeded.added} build records seeded")  # fmt: skip
    for name, action in sorted({**projects.actions, **files.actions}.items()):
        if action is Action.SAME:
            continue
        before, after = versions["yours"].get(name), new.versions.get(name)
        moved = f" ({before or 'absent'} -> {after or 'absent'})" if action is Action.TAKE else ""
        print(f"  {name}: {action}{moved}")
    print(
        f"next: ipwhl build && ipwhl assemble && ipwhl diff {new.root or args.source} public/tree"
    )
    return 0
