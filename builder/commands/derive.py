"""`ipwhl derive SOURCE [DIR]`: an editable farm from a published tree, its store seeded.

Everything a farm needs is in the tree: recipes and patches under `_sources/<project>/`,
platforms, build locks and native libraries under `_sources/_farm/`, and every build
record in `manifest.json`. Right after `derive`, `ipwhl build` in DIR builds nothing and
`ipwhl assemble` gives the upstream root CID; from there a change costs what it changes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from builder.errors import IpwhlError
from builder.model.policy import POLICY
from builder.options import add_cache_option, add_source_options, cache_path
from builder.pipeline.seed import seed
from builder.pipeline.store import Store
from builder.tomlwrite import toml_string
from builder.tree.layout import FARM_DIR, SOURCES_DIR
from builder.tree.published import Published, open_published
from builder.tree.upstream import UPSTREAM


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
    add_source_options(parser)
    add_cache_option(parser)


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
        if kind in ("platforms", "locks", "libraries", POLICY):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(farm / relative, target / relative)
    if (tree / "_status").is_dir():
        # An auditor's report published with the tree: `assemble --status status` keeps it.
        shutil.copytree(tree / "_status", target / "status")
    root = toml_string(published.root) if published.root else '""'
    recipes = "".join(
        f"{toml_string(name)} = {toml_string(entry['recipe_sha256'])}\n"
        for name, entry in sorted(manifest["projects"].items())
    )
    (target / UPSTREAM).write_text(
        "# The published tree this farm was derived from (`ipwhl derive`). Once the\n"
        "# recipes differ from these, the assembled manifest.json names the upstream and\n"
        "# what was added, removed and changed.\n"
        f"root = {root}\nsource = {toml_string(source)}\n\n[recipes]\n{recipes}"
    )


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir).absolute()
    if target.exists():
        raise IpwhlError(
            f"{target} already exists",
            fix="name a new directory; derive never writes over a farm",
        )
    cache = cache_path(args)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place: a failure leaves nothing behind.
    part = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="ipwhl-derive-") as work:
            published = open_published(args.source, Path(work), api=args.api, gateway=args.gateway)
            write_farm(published, part, source=args.source)
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
