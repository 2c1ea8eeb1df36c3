"""CARv1: header encoding, write/read round trips, corruption, and DAG block order."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import CarError
from builder.ipfs.car import (
    BlockStore,
    CarReader,
    dag_blocks,
    decode_header,
    encode_header,
    read_car,
    write_car,
    write_dag_car,
)
from builder.ipfs.dagpb import links_of
from builder.ipfs.multiformats import DAG_PB, RAW, Cid, varint
from builder.ipfs.unixfs import Importer, get_profile


def raw(data: bytes) -> tuple[Cid, bytes]:
    return Cid.of(1, RAW, data), data


def test_header_bytes_are_canonical_dag_cbor() -> None:
    root = Cid.of(0, DAG_PB, b"x")
    header = encode_header([root])
    # {"roots": [tag 42(h'00' + cid)], "version": 1}, keys in length-first order.
    assert header == (b"\xa2\x65roots\x81\xd8\x2a\x58\x23\x00" + root.binary + b"\x67version\x01")
    assert decode_header(header) == [root]
    assert decode_header(encode_header([])) == []


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 3))
def test_write_read_round_trip(datas: list[bytes], nroots: int) -> None:
    blocks = [raw(d) for d in datas]
    roots = [cid for cid, _ in blocks[:nroots]]
    out = io.BytesIO()
    count = write_car(out, roots, blocks)
    unique = list(dict(blocks).items())
    assert count == len(unique)
    reader = CarReader.open(io.BytesIO(out.getvalue()))
    assert reader.roots == roots
    assert list(reader) == unique


@given(st.lists(st.binary(max_size=100), min_size=1, max_size=10))
def test_same_blocks_same_bytes(datas: list[bytes]) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    blocks = [raw(d) for d in datas]
    write_car(first, [blocks[0][0]], blocks)
    write_car(second, [blocks[0][0]], list(blocks))
    assert first.getvalue() == second.getvalue()


def _car(blocks: list[tuple[Cid, bytes]]) -> bytes:
    out = io.BytesIO()
    write_car(out, [blocks[0][0]], blocks)
    return out.getvalue()


def test_corrupt_block_is_refused() -> None:
    good = _car([raw(b"hello")])
    bad = good[:-1] + b"X"
    with pytest.raises(CarError, match="does not match its CID"):
        list(CarReader.open(io.BytesIO(bad)))


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_truncated_car_is_refused(cut: int) -> None:
    good = _car([raw(b"hello"), raw(b"world")])
    with pytest.raises(CarError, match=r"truncated|corrupt"):
        reader = CarReader.open(io.BytesIO(good[:-cut]))
        list(reader)


def test_other_versions_are_refused() -> None:
    header = encode_header([]).replace(b"version\x01", b"version\x02")
    with pytest.raises(CarError, match="CARv1"):
        CarReader.open(io.BytesIO(varint(len(header)) + header))
    with pytest.raises(CarError, match="empty"):
        CarReader.open(io.BytesIO(b""))


def _tree_store() -> tuple[Cid, BlockStore]:
    store = BlockStore()
    importer = Importer(profile=get_profile("unixfs-v0-2015"), sink=store)
    same = b"shared content" * 1000
    tree = {
        "a/one.whl": same,
        "b/two.whl": same,
        "b/big": bytes(range(256)) * 3000,
        "c": None,
    }
    return importer.add_tree(tree).cid, store


def test_dag_blocks_root_first_depth_first_each_once() -> None:
    root, store = _tree_store()
    with store:
        order = [cid for cid, _ in dag_blocks(root, store)]
        assert order[0] == root
        assert len(order) == len(set(order)) == len(store)
        # Each block comes after some parent that links to it (a shared block has several).
        first_parent: dict[Cid, int] = {}
        for i, cid in enumerate(order):
            for child in links_of(cid, store.get(cid)):
                first_parent.setdefault(child, i)
        assert all(first_parent[cid] < i for i, cid in enumerate(order) if i)


def test_write_dag_car_round_trip(tmp_path: Path) -> None:
    root, store = _tree_store()
    with store:
        out = tmp_path / "sub" / "tree.car"
        count = write_dag_car(out, root, store)
        roots, blocks = read_car(out)
        assert roots == [root] and len(blocks) == count == len(store)
        assert all(store.get(cid) == block for cid, block in blocks.items())
        again = tmp_path / "again.car"
        write_dag_car(again, root, store)
        assert again.read_bytes() == out.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["tree.car"]  # no temp file left


def test_missing_block_says_why() -> None:
    with BlockStore() as store, pytest.raises(CarError, match="not in the store") as e:
        list(dag_blocks(Cid.of(1, RAW, b"absent"), store))
    assert "cached file CIDs" in e.value.fix


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_block_store_keeps_first_copy_only(datas: list[bytes]) -> None:
    with BlockStore() as store:
        for d in datas + datas:
            store.put(*raw(d))
        assert len(store) == len(set(datas))
        for d in datas:
            cid, _ = raw(d)
            assert cid in store and store.get(cid) == d
