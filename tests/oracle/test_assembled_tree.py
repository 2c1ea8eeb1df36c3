"""Assembled trees against the real kubo: same root CID, and our CAR is a DAG kubo takes.

Two trees: the small synthetic farm of the unit tests (recipes, patches, sdists, pure
and platform wheels), and a generated index of 6,000 projects, whose root and platform
directories are HAMT shards under both profiles, as a real collection's will be.
"""

from __future__ import annotations

import filecmp
import hashlib
from pathlib import Path

import pytest

from builder.ipfs.dagpb import DataType, decode_dagpb, decode_unixfs
from builder.ipfs.multiformats import Cid
from builder.ipfs.unixfs import Importer, get_profile
from builder.pipeline.store import Record
from builder.tree.layout import plan_tree
from builder.tree.model import FileSource, Inputs, TreePlan, Wheel
from builder.tree.write import tree_root, write_tree
from tests.kubo import KuboRepo, running_daemon
from tests.unit.test_assemble import P312, make_synthetic, wheel_bytes

pytestmark = pytest.mark.kubo

PROFILES = ["unixfs-v1-2025", "unixfs-v0-2015"]
PROJECTS = 6000


def large_tree(directory: Path, base: Path) -> TreePlan:
    """An index of PROJECTS projects on one platform, laid out by the assembler's own steps.

    Every project's wheel is the same small file under its own name: IPFS and the
    assembler see names and bytes, and the pages are distinct per project anyway.
    """
    filename, data = wheel_bytes("demo", "1.0", "py3-none-any")
    blob = base / filename
    blob.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    wheels = {}
    for i in range(PROJECTS):
        project = f"project-{i:05d}"
        record = Record(
            project=project, version="1.0", platform=P312, input_hash=f"{i:064x}", inputs={},
            wheel=f"project_{i:05d}-1.0-py3-none-any.whl", wheel_sha256=sha,
            wheel_size=len(data), built_on=P312, network_isolated=True, tests=(),
        )  # fmt: skip
        wheels[(project, P312)] = Wheel(
            record=record, blob=FileSource(path=blob, sha256=sha),
            metadata=f"Name: {project}\nVersion: 1.0\n".encode(), requires_python=">=3.9",
        )  # fmt: skip
    plan = plan_tree(
        Inputs(platforms=(P312,), wheels=wheels, sources={}, missing={}), profile="any"
    )
    write_tree(plan, directory)
    return plan


@pytest.mark.parametrize("name", PROFILES)
def test_synthetic_farm_cid_equals_kubo(
    name: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    synth = make_synthetic(tmp_path)
    result = synth.assemble(tmp_path / "out", profile=name)
    assert str(result.root) == kubo_repos[name].add_only_hash(result.tree)


@pytest.mark.parametrize("name", PROFILES)
def test_large_index_cid_equals_kubo(
    name: str, kubo_repos: dict[str, KuboRepo], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    plan = large_tree(tree, tmp_path)
    blocks: dict[Cid, bytes] = {}

    class Keep:
        def put(self, cid: Cid, block: bytes) -> None:
            blocks[cid] = block

    ours = tree_root(tree, plan, Importer(profile=get_profile(name), sink=Keep())).cid
    assert str(ours) == kubo_repos[name].add_only_hash(tree)
    # The case this is for: the root (and the platform's root) is a HAMT shard.
    data = decode_dagpb(blocks[ours]).data
    assert data is not None and decode_unixfs(data).type is DataType.HAMT_SHARD


def _same_tree(ours: Path, theirs: Path) -> None:
    mine = sorted(p.relative_to(ours) for p in ours.rglob("*"))
    got = sorted(p.relative_to(theirs) for p in theirs.rglob("*"))
    assert mine == got
    for rel in mine:
        if (ours / rel).is_file():
            assert filecmp.cmp(ours / rel, theirs / rel, shallow=False), rel


@pytest.mark.parametrize("name", PROFILES)
def test_car_imports_pins_and_gets_back_the_tree(name: str, kubo: Path, tmp_path: Path) -> None:
    synth = make_synthetic(tmp_path)
    result = synth.assemble(tmp_path / "out", profile=name)
    assert result.car is not None
    with running_daemon(kubo, tmp_path / "node") as node:
        out = node.repo.run("dag", "import", "--stats", str(result.car))
        assert f"Pinned root\t{result.root}\tsuccess" in out
        assert str(result.root) in node.repo.run("pin", "ls", "--type=recursive")
        node.repo.run("get", "-o", str(tmp_path / "got"), str(result.root))
    _same_tree(result.tree, tmp_path / "got")
