"""Seeding a store from a published tree: records round-trip byte for byte; bad ones stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.errors import TamperedError, UnpackError
from builder.pipeline.seed import published_records, seed
from builder.pipeline.store import Store
from builder.tree.published import _car_url, open_published
from tests.unit.test_assemble import P311, P312, make_synthetic

GW, IPNS = "https://gw.example", "/ipns/ipwhl.example"
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def test_a_seeded_store_holds_the_publishers_records_byte_for_byte(tmp_path: Path) -> None:
    synthetic = make_synthetic(tmp_path / "a")
    tree = synthetic.assemble(tmp_path / "out").tree
    published = open_published(str(tree), tmp_path / "work", api="", gateway=None)
    store = Store(root=tmp_path / "seeded")
    seeded = seed(published, store, tmp_path / "cache", lambda pid: True)
    assert (seeded.added, seeded.present, seeded.conflicts, seeded.sdists) == (4, 0, (), 2)
    mine = {p.name: p.read_bytes() for p in (synthetic.store.root / "records").iterdir()}
    theirs = {p.name: p.read_bytes() for p in (store.root / "records").iterdir()}
    assert theirs == mine
    again = seed(published, store, tmp_path / "cache", lambda pid: True)
    assert (again.added, again.present) == (0, 4)


def test_a_platform_filter_keeps_the_pure_wheels_builder(tmp_path: Path) -> None:
    synthetic = make_synthetic(tmp_path / "a")
    tree = synthetic.assemble(tmp_path / "out").tree
    published = open_published(str(tree), tmp_path / "work", api="", gateway=None)
    store = Store(root=tmp_path / "seeded")
    seed(published, store, tmp_path / "cache", lambda pid: pid == P311)
    # demo-pure on P311 reuses the wheel P312 built: both records, and demo-ext on P311.
    assert sorted((r.project, r.platform) for r in store.records()) == [
        ("demo-ext", P311), ("demo-pure", P311), ("demo-pure", P312),
    ]  # fmt: skip


def test_a_record_without_its_test_list_is_refused(tmp_path: Path) -> None:
    synthetic = make_synthetic(tmp_path / "a")
    tree = synthetic.assemble(tmp_path / "out").tree
    manifest = json.loads((tree / "manifest.json").read_text())
    del manifest["projects"]["demo-ext"]["platforms"][P312]["tests"]
    with pytest.raises(TamperedError, match=r"demo-ext on linux-x86_64-cp312 lacks 'tests'"):
        published_records(manifest, "manifest.json")


@pytest.mark.parametrize(
    ("source", "gateway", "expected"),
    [
        (CID, None, ("http://api/api/v0/dag/export?arg=" + CID, "POST", CID)),
        (CID, "http://gw", (f"http://gw/ipfs/{CID}?format=car", "GET", CID)),
        (f"/ipfs/{CID}", "http://gw/", (f"http://gw/ipfs/{CID}?format=car", "GET", CID)),
        (IPNS, "http://gw", (f"http://gw{IPNS}?format=car", "GET", None)),
        (f"{GW}/ipfs/{CID}/", None, (f"{GW}/ipfs/{CID}?format=car", "GET", CID)),
        (f"{GW}/ipns/k51abc", None, (f"{GW}/ipns/k51abc?format=car", "GET", None)),
    ],
)  # fmt: skip
def test_sources_name_a_trustless_car_request(
    source: str, gateway: str | None, expected: tuple[str, str, str | None]
) -> None:
    url, method, root = _car_url(source, api="http://api", gateway=gateway)
    assert (url, method, None if root is None else str(root)) == expected


@pytest.mark.parametrize(
    ("source", "fix"),
    [("/ipns/ipwhl.example", "--gateway"), ("https://gw.example/tree", "/ipfs/<cid>")],
)
def test_a_source_that_cannot_be_read_says_how_to_name_it(source: str, fix: str) -> None:
    with pytest.raises(UnpackError) as caught:
        _car_url(source, api="http://api", gateway=None)
    assert fix in caught.value.fix
